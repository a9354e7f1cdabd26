package e2e

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
	"github.com/quorum-operator/quorum/internal/resources"
)

var _ = Describe("A member pod that is deleted", Label("heal"), func() {
	It("comes back with its data and the same member ID, with no membership change", func() {
		ns := newNamespace()
		cluster := createCluster(ns, "heal", 3)
		w := startWriter(cluster, "/heal", 50*time.Millisecond)

		idsBefore := memberIDs(cluster)
		var pod corev1.Pod
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "heal-1"}, &pod)).To(Succeed())
		uid := pod.UID
		Expect(k8sClient.Delete(ctx, &pod)).To(Succeed())

		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "heal-1"}, &pod)).To(Succeed())
			g.Expect(pod.UID).NotTo(Equal(uid))
		}, 2*time.Minute, time.Second).Should(Succeed())
		waitMembers(cluster, 3)
		Expect(memberIDs(cluster)).To(Equal(idsBefore), "the membership changed")
		w.stopAndVerify()
	})
})

var _ = Describe("A member whose claim is deleted with its pod", Label("heal"), func() {
	It("cannot rejoin under its old member ID: the cluster stays available and reports it degraded", func() {
		ns := newNamespace()
		cluster := createCluster(ns, "lost", 3)
		Eventually(func(g Gomega) {
			var cm corev1.ConfigMap
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: resources.ConfigMapName(cluster)}, &cm)).To(Succeed())
			g.Expect(resources.IsSealed(&cm)).To(BeTrue())
		}, time.Minute, time.Second).Should(Succeed())
		w := startWriter(cluster, "/lost", 50*time.Millisecond)
		idsBefore := memberIDs(cluster)

		By("deleting the claim of lost-1, then its pod")
		claim := &corev1.PersistentVolumeClaim{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "data-lost-1"}, claim)).To(Succeed())
		Expect(k8sClient.Delete(ctx, claim)).To(Succeed())
		var pod corev1.Pod
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "lost-1"}, &pod)).To(Succeed())
		uid := pod.UID
		Expect(k8sClient.Delete(ctx, &pod)).To(Succeed())

		By("seeing the new, empty lost-1 refused at start")
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "lost-1"}, &pod)).To(Succeed())
			g.Expect(pod.UID).NotTo(Equal(uid))
			g.Expect(pod.Status.ContainerStatuses).NotTo(BeEmpty())
			g.Expect(pod.Status.ContainerStatuses[0].RestartCount).To(BeNumerically(">=", 1), "etcd started with empty data")
		}, 3*time.Minute, time.Second).Should(Succeed())

		Consistently(func(g Gomega) {
			g.Expect(memberIDs(cluster)).To(Equal(idsBefore), "the membership changed")
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(cluster), cluster)).To(Succeed())
			g.Expect(meta.IsStatusConditionTrue(cluster.Status.Conditions, etcdv1alpha1.ConditionAvailable)).To(BeTrue())
		}, 15*time.Second, 3*time.Second).Should(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(cluster), cluster)).To(Succeed())
			g.Expect(meta.IsStatusConditionTrue(cluster.Status.Conditions, etcdv1alpha1.ConditionDegraded)).To(BeTrue())
			g.Expect(cluster.Status.ReadyMembers).To(BeEquivalentTo(2))
		}, time.Minute, 2*time.Second).Should(Succeed())
		w.stopAndVerify()
	})
})

// memberIDs maps member names to their etcd IDs, as etcd lists them.
func memberIDs(cluster *etcdv1alpha1.EtcdCluster) map[string]uint64 {
	GinkgoHelper()
	cli := etcdClient(values(memberEndpoints(cluster))...)
	callCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	list, err := cli.MemberList(callCtx)
	Expect(err).NotTo(HaveOccurred())
	out := map[string]uint64{}
	for _, m := range list.Members {
		out[m.Name] = m.ID
	}
	return out
}
