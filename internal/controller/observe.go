package controller

import (
	"context"
	"crypto/tls"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
	"github.com/quorum-operator/quorum/internal/etcd"
	"github.com/quorum-operator/quorum/internal/resources"
)

// etcdCallTimeout bounds each call to etcd, so one stuck member cannot stall
// a reconcile.
const etcdCallTimeout = 3 * time.Second

// observedCluster is everything one reconcile knows about a cluster. It is
// filled once by observe and never does I/O afterwards, so every decision
// and the status are pure functions of it.
type observedCluster struct {
	cluster     *etcdv1alpha1.EtcdCluster
	statefulSet *appsv1.StatefulSet // nil when it does not exist
	pods        []corev1.Pod        // member pods, by ordinal
	claims      []corev1.PersistentVolumeClaim
	// storageClasses are the classes of claims smaller than the spec asks
	// (nil for one that does not exist); empty otherwise.
	storageClasses map[string]*storagev1.StorageClass
	bootstrap      *corev1.ConfigMap // nil when it does not exist

	// observedAt is when the observation began; zero (in unit tests that
	// do not set it) disables the decisions that depend on how long
	// something has lasted.
	observedAt time.Time

	// members is etcd's member list; nil when no member answered.
	members []etcd.Member
	// statuses holds each reachable member's own status, by pod name.
	statuses map[string]*etcd.MemberStatus
	// etcdErr says why the member list could not be read, for status.
	etcdErr error

	// clientTLS is how the operator dials a TLS cluster's members; nil
	// without TLS, or while its client certificate is missing or broken.
	clientTLS *tls.Config
	// clientTLSKey is a hash of the material clientTLS was made from: the
	// pooled client is dialled again when it changes.
	clientTLSKey string
	// certificates are the cluster's certificates, for status.
	certificates []etcdv1alpha1.CertificateStatus
	// tlsMissing names the certificate Secrets that do not exist yet.
	tlsMissing []string
	// tlsErr says why the operator's client certificate cannot be used.
	tlsErr error
	// trustedCA is the CA bundle members trust (the member Secret's
	// ca.crt); its hash is part of the pod template.
	trustedCA []byte
	// servingSigned: while a CA rotation waits to drop the old CA, every
	// member serves a certificate of the signing CA.
	servingSigned bool
	// maintenance is status.maintenance as a compaction or defragmentation
	// of this pass left it; nil when none ran.
	maintenance *etcdv1alpha1.MaintenanceStatus
}

// observe reads the StatefulSet, the member pods and, through the etcd
// client, the member list and each member's status.
func (r *EtcdClusterReconciler) observe(ctx context.Context, cluster *etcdv1alpha1.EtcdCluster) (*observedCluster, error) {
	obs := &observedCluster{cluster: cluster, statuses: map[string]*etcd.MemberStatus{}, observedAt: time.Now()}

	var sts appsv1.StatefulSet
	if found, err := r.getIfExists(ctx, cluster, resources.StatefulSetName(cluster), &sts); err != nil {
		return nil, fmt.Errorf("get statefulset: %w", err)
	} else if found {
		obs.statefulSet = &sts
	}

	var pods corev1.PodList
	if err := r.List(ctx, &pods, client.InNamespace(cluster.Namespace), client.MatchingLabels(resources.SelectorLabels(cluster))); err != nil {
		return nil, fmt.Errorf("list member pods: %w", err)
	}
	// Only the StatefulSet's pods are members, whatever else carries the
	// label.
	for _, p := range pods.Items {
		if o := podOrdinal(p.Name); o >= 0 && p.Name == resources.MemberName(cluster, o) {
			obs.pods = append(obs.pods, p)
		}
	}
	sort.Slice(obs.pods, func(i, j int) bool { return podOrdinal(obs.pods[i].Name) < podOrdinal(obs.pods[j].Name) })

	var cm corev1.ConfigMap
	if found, err := r.getIfExists(ctx, cluster, resources.ConfigMapName(cluster), &cm); err != nil {
		return nil, fmt.Errorf("get bootstrap configmap: %w", err)
	} else if found {
		obs.bootstrap = &cm
	}

	var claims corev1.PersistentVolumeClaimList
	if err := r.List(ctx, &claims, client.InNamespace(cluster.Namespace), client.MatchingLabels(resources.SelectorLabels(cluster))); err != nil {
		return nil, fmt.Errorf("list member claims: %w", err)
	}
	obs.claims = claims.Items
	if err := r.observeStorageClasses(ctx, obs); err != nil {
		return nil, err
	}

	if err := r.observeTLS(ctx, obs); err != nil {
		return nil, err
	}
	r.observeEtcd(ctx, obs)
	if obs.etcdErr != nil && cluster.Spec.TLS != nil {
		// The certificates may be why: read them again next pass.
		r.certSecrets.forget(cluster)
	}
	return obs, nil
}

// getIfExists reads the named object of the cluster's namespace into obj;
// an object that does not exist is not an error.
func (r *EtcdClusterReconciler) getIfExists(ctx context.Context, c *etcdv1alpha1.EtcdCluster, name string, obj client.Object) (bool, error) {
	err := r.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: name}, obj)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

// observeEtcd asks the members themselves, all at once: a member that
// does not answer costs the pass one call timeout, not one per member. An
// unreachable cluster is an observation, not an error: it is reported in
// status.
func (r *EtcdClusterReconciler) observeEtcd(ctx context.Context, obs *observedCluster) {
	c, err := r.openEtcd(ctx, obs)
	if err != nil {
		obs.etcdErr = err
		return
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		listCtx, cancel := context.WithTimeout(ctx, etcdCallTimeout)
		defer cancel()
		obs.members, obs.etcdErr = c.MemberList(listCtx)
	})
	var mu sync.Mutex
	for _, pod := range obs.pods {
		url, ok := podEndpoint(obs, pod.Name)
		if !ok {
			continue
		}
		wg.Go(func() {
			statusCtx, cancel := context.WithTimeout(ctx, etcdCallTimeout)
			defer cancel()
			if s, err := c.Status(statusCtx, url); err == nil {
				mu.Lock()
				obs.statuses[pod.Name] = s
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}

// podOrdinal is the ordinal of a StatefulSet pod name, or -1.
func podOrdinal(name string) int {
	i := strings.LastIndexByte(name, '-')
	if i < 0 {
		return -1
	}
	n, err := strconv.Atoi(name[i+1:])
	if err != nil {
		return -1
	}
	return n
}

// memberName is the name of an etcd member: its own once it has started,
// otherwise the pod name in its peer URL (a learner added but not started).
func memberName(m etcd.Member) string {
	if m.Name != "" {
		return m.Name
	}
	for _, u := range m.PeerURLs {
		host := strings.TrimPrefix(strings.TrimPrefix(u, "http://"), "https://")
		if i := strings.IndexByte(host, '.'); i > 0 {
			return host[:i]
		}
	}
	return m.IDHex()
}
