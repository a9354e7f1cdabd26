package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
	"github.com/quorum-operator/quorum/internal/pki"
	"github.com/quorum-operator/quorum/internal/resources"
)

// etcdVersion is the version the suite's clusters run; its image must be on
// the node.
var etcdVersion = envOr("E2E_ETCD_VERSION", "3.6.16")

// newNamespace gives a spec its own namespace, deleted after it. It
// enforces the Pod Security Standard "restricted": every pod the operator
// creates (members, restores, backup Jobs) must meet it or is refused.
func newNamespace() string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "e2e-", Labels: map[string]string{
		"pod-security.kubernetes.io/enforce":         "restricted",
		"pod-security.kubernetes.io/enforce-version": "latest",
	}}}
	Expect(k8sClient.Create(ctx, ns)).To(Succeed())
	DeferCleanup(func() {
		Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, ns))).To(Succeed())
	})
	return ns.Name
}

// createCluster applies an EtcdCluster of the given size and waits until it
// reports Available with every member ready.
func createCluster(namespace, name string, size int32) *etcdv1alpha1.EtcdCluster {
	return createClusterSpec(namespace, name, etcdv1alpha1.EtcdClusterSpec{Size: size, Version: etcdVersion})
}

// oneNode is the placement of the e2e clusters: the local Kubernetes has
// one node, where the default memberSpread Required would leave every
// member but one Pending.
func oneNode() *etcdv1alpha1.PodTemplate {
	return &etcdv1alpha1.PodTemplate{MemberSpread: etcdv1alpha1.MemberSpreadNone}
}

// createClusterSpec is createCluster for a spec of the caller's, on one
// node unless the spec places its members itself.
func createClusterSpec(namespace, name string, spec etcdv1alpha1.EtcdClusterSpec) *etcdv1alpha1.EtcdCluster {
	GinkgoHelper()
	if spec.PodTemplate == nil {
		spec.PodTemplate = oneNode()
	}
	c := &etcdv1alpha1.EtcdCluster{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}, Spec: spec}
	Expect(k8sClient.Create(ctx, c)).To(Succeed())
	waitAvailable(c, int(spec.Size))
	return c
}

func waitAvailable(c *etcdv1alpha1.EtcdCluster, ready int) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(c), c)).To(Succeed())
		g.Expect(meta.IsStatusConditionTrue(c.Status.Conditions, etcdv1alpha1.ConditionAvailable)).To(BeTrue(), "conditions: %+v", c.Status.Conditions)
		g.Expect(c.Status.ReadyMembers).To(BeEquivalentTo(ready))
	}, 5*time.Minute, 2*time.Second).Should(Succeed())
}

// memberEndpoints are the client URLs of the cluster's running member pods,
// by pod IP.
func memberEndpoints(c *etcdv1alpha1.EtcdCluster) map[string]string {
	GinkgoHelper()
	out, err := listMemberEndpoints(ctx, c)
	Expect(err).NotTo(HaveOccurred())
	return out
}

// listMemberEndpoints is memberEndpoints for goroutines, where a failed
// assertion cannot be reported.
func listMemberEndpoints(ctx context.Context, c *etcdv1alpha1.EtcdCluster) (map[string]string, error) {
	var pods corev1.PodList
	if err := k8sClient.List(ctx, &pods, client.InNamespace(c.Namespace), client.MatchingLabels(resources.SelectorLabels(c))); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, p := range pods.Items {
		if p.Status.PodIP != "" && p.DeletionTimestamp == nil {
			out[p.Name] = fmt.Sprintf("%s://%s:%d", resources.Scheme(c), p.Status.PodIP, resources.ClientPort)
		}
	}
	return out, nil
}

// etcdClient is a client to the given members of c, closed after the spec.
func etcdClient(c *etcdv1alpha1.EtcdCluster, endpoints ...string) *clientv3.Client {
	GinkgoHelper()
	cli, err := newEtcdClient(ctx, c, endpoints)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(cli.Close)
	return cli
}

// newEtcdClient is a client the caller closes.
func newEtcdClient(ctx context.Context, c *etcdv1alpha1.EtcdCluster, endpoints []string) (*clientv3.Client, error) {
	tlsConfig, err := clientTLS(ctx, c)
	if err != nil {
		return nil, err
	}
	return clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, TLS: tlsConfig, Logger: zap.NewNop()})
}

// clientTLS is how a user's workload reaches a TLS cluster: with the client
// certificate the operator issued for users (the <cluster>-client-tls
// Secret), dialling by pod IP with the client Service's name. Like a
// workload that re-reads its mounted Secret, it reads the Secret on every
// handshake, so it follows renewals and CA rotations. Nil for a cluster
// without TLS.
func clientTLS(ctx context.Context, c *etcdv1alpha1.EtcdCluster) (*tls.Config, error) {
	if c.Spec.TLS == nil {
		return nil, nil
	}
	key := client.ObjectKey{Namespace: c.Namespace, Name: resources.ClientSecretName(c)}
	load := func() (certPEM, keyPEM, caPEM []byte, err error) {
		var s corev1.Secret
		if err := k8sClient.Get(ctx, key, &s); err != nil {
			return nil, nil, nil, err
		}
		return s.Data[corev1.TLSCertKey], s.Data[corev1.TLSPrivateKeyKey], s.Data[resources.TLSCAKey], nil
	}
	if _, _, _, err := load(); err != nil {
		return nil, err
	}
	return pki.ReloadingClientConfig(load, resources.ClientServiceHost(c)), nil
}

func values(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}
