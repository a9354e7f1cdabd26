package e2e

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	It("is kept from rejoining under its old member ID, then replaced by a new member", func() {
		ns := newNamespace()
		cluster := createCluster(ns, "lost", 3)
		waitSealed(cluster)
		w := startWriter(cluster, "/lost", 50*time.Millisecond)
		idsBefore := memberIDs(cluster)

		By("deleting the claim of lost-1, then its pod")
		deleteClaimAndPod(ns, "lost-1")

		By("waiting for lost-1 to be replaced: a new member ID, the others unchanged")
		waitReplaced(cluster, idsBefore, "lost-1", 3)
		waitMembers(cluster, 3)
		w.stopAndVerify()
	})
})

var _ = Describe("An emptyDir member whose pod is deleted", Label("heal"), func() {
	It("lost its data with its pod, and is replaced by a new member", func() {
		ns := newNamespace()
		cluster := createClusterSpec(ns, "ephemeral", etcdv1alpha1.EtcdClusterSpec{
			Size: 3, Version: etcdVersion,
			Storage: &etcdv1alpha1.StorageSpec{EmptyDir: &corev1.EmptyDirVolumeSource{}},
		})
		waitSealed(cluster)
		w := startWriter(cluster, "/ephemeral", 50*time.Millisecond)
		idsBefore := memberIDs(cluster)

		By("deleting the pod of ephemeral-2, and with it its data")
		Expect(k8sClient.Delete(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ephemeral-2"}})).To(Succeed())

		Eventually(func(g Gomega) {
			ids := memberIDs(cluster)
			g.Expect(ids).To(HaveLen(3))
			g.Expect(ids).To(HaveKey("ephemeral-2"))
			g.Expect(ids["ephemeral-2"]).NotTo(Equal(idsBefore["ephemeral-2"]), "ephemeral-2 rejoined under its old member ID")
		}, 4*time.Minute, 2*time.Second).Should(Succeed())
		waitMembers(cluster, 3)
		w.stopAndVerify()
	})
})

// deleteClaimAndPod deletes a member's data claim, then its pod, as a lost
// disk would, and returns the claim as it was.
func deleteClaimAndPod(ns, member string) *corev1.PersistentVolumeClaim {
	GinkgoHelper()
	claim := &corev1.PersistentVolumeClaim{}
	Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: resources.DataVolumeName + "-" + member}, claim)).To(Succeed())
	Expect(k8sClient.Delete(ctx, claim)).To(Succeed())
	Expect(k8sClient.Delete(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: member}})).To(Succeed())
	return claim
}

// waitReplaced waits until etcd lists size members, member under a new ID
// and every other member of idsBefore under its old one.
func waitReplaced(cluster *etcdv1alpha1.EtcdCluster, idsBefore map[string]uint64, member string, size int) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		ids := memberIDs(cluster)
		g.Expect(ids).To(HaveLen(size))
		g.Expect(ids).To(HaveKey(member))
		g.Expect(ids[member]).NotTo(Equal(idsBefore[member]), "%s rejoined under its old member ID", member)
		for name, id := range idsBefore {
			if name != member {
				g.Expect(ids[name]).To(Equal(id), "%s changed its member ID", name)
			}
		}
	}, 4*time.Minute, 2*time.Second).Should(Succeed())
}

// waitSealed waits until the bootstrap settings name no member any more.
func waitSealed(cluster *etcdv1alpha1.EtcdCluster) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		var cm corev1.ConfigMap
		g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: cluster.Namespace, Name: resources.ConfigMapName(cluster)}, &cm)).To(Succeed())
		g.Expect(resources.IsSealed(&cm)).To(BeTrue())
	}, time.Minute, time.Second).Should(Succeed())
}

// memberIDs maps member names to their etcd IDs, as etcd lists them.
func memberIDs(cluster *etcdv1alpha1.EtcdCluster) map[string]uint64 {
	GinkgoHelper()
	cli, err := newEtcdClient(ctx, cluster, values(memberEndpoints(cluster)))
	Expect(err).NotTo(HaveOccurred())
	defer cli.Close()
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
