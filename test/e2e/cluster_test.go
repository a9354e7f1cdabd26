package e2e

import (
	"context"
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	clientv3 "go.etcd.io/etcd/client/v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
	"github.com/quorum-operator/quorum/internal/resources"
)

var _ = Describe("An EtcdCluster", Label("basic"), func() {
	It("runs 3 healthy voting members that serve every write from every member, is removed whole, and keeps its data unless told not to", func() {
		ns := newNamespace()
		cluster := createCluster(ns, "basic", 3)

		By("checking the members through the etcd client")
		endpoints := memberEndpoints(cluster)
		Expect(endpoints).To(HaveLen(3))
		cli := etcdClient(cluster, values(endpoints)...)
		callCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		list, err := cli.MemberList(callCtx)
		Expect(err).NotTo(HaveOccurred())
		Expect(list.Members).To(HaveLen(3))
		leaders := map[uint64]bool{}
		for name, url := range endpoints {
			Expect(list.Members).To(ContainElement(HaveField("Name", name)))
			st, err := cli.Status(callCtx, url)
			Expect(err).NotTo(HaveOccurred(), "status of %s", name)
			Expect(st.IsLearner).To(BeFalse(), "%s is a learner", name)
			Expect(st.Errors).To(BeEmpty())
			Expect(st.Header.ClusterId).To(Equal(list.Header.ClusterId))
			leaders[st.Leader] = true
		}
		Expect(leaders).To(HaveLen(1), "members disagree on the leader")
		Expect(cluster.Status.Members).To(HaveLen(3))
		Expect(cluster.Status.CurrentVersion).To(Equal(etcdVersion))

		By("writing once and reading the key from every member")
		_, err = cli.Put(callCtx, "/e2e/hello", "world")
		Expect(err).NotTo(HaveOccurred())
		for name, url := range endpoints {
			member := etcdClient(cluster, url)
			Eventually(func(g Gomega) {
				// Serializable: answered by this member from its own copy.
				resp, err := member.Get(ctx, "/e2e/hello", clientv3.WithSerializable())
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(resp.Kvs).To(HaveLen(1), "member %s", name)
				g.Expect(string(resp.Kvs[0].Value)).To(Equal("world"))
			}, 30*time.Second, 200*time.Millisecond).Should(Succeed())
		}

		By("deleting the EtcdCluster: with the default deletionPolicy Retain its claims stay")
		deleteAndWaitGone(cluster)
		Expect(claimNames(cluster)).To(ConsistOf("data-basic-0", "data-basic-1", "data-basic-2"))

		By("creating it again with the same name and size: it starts on the kept data")
		cluster = createCluster(ns, "basic", 3)
		again := etcdClient(cluster, values(memberEndpoints(cluster))...)
		getCtx, cancelGet := context.WithTimeout(ctx, 10*time.Second)
		defer cancelGet()
		resp, err := again.Get(getCtx, "/e2e/hello")
		Expect(err).NotTo(HaveOccurred())
		Expect(resp.Kvs).To(HaveLen(1), "the retained data is not there")
		Expect(fmt.Sprintf("%x", resp.Header.ClusterId)).To(Equal(cluster.Status.ClusterID))

		By("deleting it with deletionPolicy Delete: the claims go too")
		Eventually(func() error {
			if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(cluster), cluster); err != nil {
				return err
			}
			cluster.Spec.DeletionPolicy = etcdv1alpha1.DeletionPolicyDelete
			return k8sClient.Update(ctx, cluster)
		}, 30*time.Second, time.Second).Should(Succeed())
		deleteAndWaitGone(cluster)
		Eventually(func() []string { return claimNames(cluster) }, 3*time.Minute, 2*time.Second).Should(BeEmpty())
	})
})

// deleteAndWaitGone deletes the cluster and waits until it, everything it
// owns and its pods are gone.
func deleteAndWaitGone(cluster *etcdv1alpha1.EtcdCluster) {
	GinkgoHelper()
	Expect(k8sClient.Delete(ctx, cluster)).To(Succeed())
	key := func(name string) client.ObjectKey { return client.ObjectKey{Namespace: cluster.Namespace, Name: name} }
	gone := func(obj client.Object, name string) func() bool {
		return func() bool { return apierrors.IsNotFound(k8sClient.Get(ctx, key(name), obj)) }
	}
	Eventually(gone(&etcdv1alpha1.EtcdCluster{}, cluster.Name), 2*time.Minute, time.Second).Should(BeTrue(), "the finalizer was not removed")
	Eventually(gone(&appsv1.StatefulSet{}, resources.StatefulSetName(cluster)), 2*time.Minute, time.Second).Should(BeTrue())
	Eventually(gone(&corev1.Service{}, resources.PeerServiceName(cluster)), time.Minute, time.Second).Should(BeTrue())
	Eventually(gone(&corev1.Service{}, resources.ClientServiceName(cluster)), time.Minute, time.Second).Should(BeTrue())
	Eventually(gone(&corev1.ConfigMap{}, resources.ConfigMapName(cluster)), time.Minute, time.Second).Should(BeTrue())
	Eventually(gone(&policyv1.PodDisruptionBudget{}, resources.PodDisruptionBudgetName(cluster)), time.Minute, time.Second).Should(BeTrue())
	Eventually(func(g Gomega) {
		var pods corev1.PodList
		g.Expect(k8sClient.List(ctx, &pods, client.InNamespace(cluster.Namespace), client.MatchingLabels(resources.SelectorLabels(cluster)))).To(Succeed())
		g.Expect(pods.Items).To(BeEmpty())
	}, 3*time.Minute, 2*time.Second).Should(Succeed())
}

// claimNames lists the cluster's claims that are not being deleted.
func claimNames(cluster *etcdv1alpha1.EtcdCluster) []string {
	GinkgoHelper()
	var pvcs corev1.PersistentVolumeClaimList
	Expect(k8sClient.List(ctx, &pvcs, client.InNamespace(cluster.Namespace), client.MatchingLabels(resources.SelectorLabels(cluster)))).To(Succeed())
	var names []string
	for _, p := range pvcs.Items {
		if p.DeletionTimestamp == nil {
			names = append(names, p.Name)
		}
	}
	return names
}
