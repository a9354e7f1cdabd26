package controller

import (
	"context"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/client"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
	"github.com/quorum-operator/quorum/internal/etcd"
	"github.com/quorum-operator/quorum/internal/resources"
)

// etcdPool holds the clients of every cluster between passes; it is made
// on first use from EtcdClients.
func (r *EtcdClusterReconciler) etcdPool() *etcd.Pool {
	r.poolOnce.Do(func() { r.pool = etcd.NewPool(r.EtcdClients) })
	return r.pool
}

// clusterKey names a cluster's client in the pool.
func clusterKey(c *etcdv1alpha1.EtcdCluster) string {
	return client.ObjectKeyFromObject(c).String()
}

// openEtcd is the cluster's etcd client, through its member pods' IPs: the
// one of the last pass, kept in the pool, so a pass opens no connection.
func (r *EtcdClusterReconciler) openEtcd(ctx context.Context, obs *observedCluster) (etcd.Client, error) {
	var urls []string
	for _, pod := range obs.pods {
		if url, ok := podEndpoint(obs, pod.Name); ok {
			urls = append(urls, url)
		}
	}
	if len(urls) == 0 {
		return nil, fmt.Errorf("no member pod has an IP yet")
	}
	if c := obs.cluster; c.Spec.TLS != nil && obs.clientTLS == nil {
		if obs.tlsErr != nil {
			return nil, obs.tlsErr
		}
		return nil, fmt.Errorf("the operator's client certificate (Secret %s) is not there yet", resources.OperatorClientSecretName(c))
	}
	return r.etcdPool().Client(ctx, clusterKey(obs.cluster), urls, obs.clientTLS, obs.clientTLSKey)
}

// podEndpoint is the client URL of a member's pod, by pod IP.
func podEndpoint(obs *observedCluster, name string) (string, bool) {
	for _, pod := range obs.pods {
		if pod.Name == name && pod.Status.PodIP != "" && pod.DeletionTimestamp == nil {
			return fmt.Sprintf("%s://%s:%d", resources.Scheme(obs.cluster), pod.Status.PodIP, resources.ClientPort), true
		}
	}
	return "", false
}
