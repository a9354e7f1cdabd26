package e2e

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
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
