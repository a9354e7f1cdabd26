package e2e

import (
	"context"
	"os/exec"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
	"github.com/quorum-operator/quorum/internal/resources"
)

// Members down, with and without their data (issue #15, items 2, 3, 5).
var _ = Describe("Two of three members hung", Label("faults"), func() {
	It("lose quorum with nothing removed or forced, and recover with their data when they resume", func() {
		ns := newNamespace()
		cluster := createCluster(ns, "hung", 3)
		idsBefore := memberIDs(cluster)
		load := recordLoad(cluster)

		By("freezing the etcd processes of two members (SIGSTOP): down, with their data")
		resume1 := stopEtcd(ns, "hung-1")
		resume2 := stopEtcd(ns, "hung-2")
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(cluster), cluster)).To(Succeed())
			g.Expect(cluster.Status.Phase).To(Equal(etcdv1alpha1.PhaseQuorumLost))
		}, 2*time.Minute, time.Second).Should(Succeed())
		expectUntouched(cluster, 3, 20*time.Second)

		By("resuming them")
		resume1()
		resume2()
		waitAvailable(cluster, 3)
		Expect(memberIDs(cluster)).To(Equal(idsBefore), "the membership changed")
		load.verify()
	})
})

var _ = Describe("Every member of an emptyDir cluster losing its data", Label("faults"), func() {
	It("is left alone, and status says plainly that the data is gone and restoring is the user's decision", func() {
		ns := newNamespace()
		cluster := createClusterSpec(ns, "gone", etcdv1alpha1.EtcdClusterSpec{Size: 3, Version: etcdVersion,
			Storage: &etcdv1alpha1.StorageSpec{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
		putKeys(cluster, "/gone", 10)

		By("deleting every member pod at once: their emptyDirs go with them")
		for _, name := range []string{"gone-0", "gone-1", "gone-2"} {
			Expect(k8sClient.Delete(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}},
				client.GracePeriodSeconds(0))).To(Succeed())
		}

		By("waiting for status to say the data is lost and a restore is the user's to start")
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(cluster), cluster)).To(Succeed())
			g.Expect(cluster.Status.Phase).To(Equal(etcdv1alpha1.PhaseQuorumLost))
			available := meta.FindStatusCondition(cluster.Status.Conditions, etcdv1alpha1.ConditionAvailable)
			g.Expect(available).NotTo(BeNil())
			g.Expect(available.Message).To(And(ContainSubstring("3 of 3 voting members lost their data"), ContainSubstring("restore")),
				"the Available condition")
		}, 3*time.Minute, 2*time.Second).Should(Succeed())

		By("checking the operator starts no empty cluster in its place")
		expectUntouched(cluster, 3, 30*time.Second)
		Consistently(func(g Gomega) {
			for _, ep := range memberEndpoints(cluster) {
				cli, err := newEtcdClient(ctx, cluster, []string{ep})
				g.Expect(err).NotTo(HaveOccurred())
				callCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
				_, err = cli.MemberList(callCtx)
				cancel()
				cli.Close()
				g.Expect(err).To(HaveOccurred(), "a member serves: an empty cluster was started over the lost one")
			}
		}, 15*time.Second, 3*time.Second).Should(Succeed())
	})
})

var _ = Describe("A member that dies while the operator is down", Label("faults"), Serial, func() {
	It("is replaced once the operator is back, and the others keep serving meanwhile", func() {
		ns := newNamespace()
		cluster := createClusterSpec(ns, "orphan", etcdv1alpha1.EtcdClusterSpec{Size: 3, Version: etcdVersion,
			Storage: &etcdv1alpha1.StorageSpec{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
		idsBefore := memberIDs(cluster)
		load := recordLoad(cluster)

		By("stopping the operator, then deleting a member pod with its emptyDir")
		stopSuiteOperator()
		Expect(k8sClient.Delete(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "orphan-1"}})).To(Succeed())
		Eventually(func(g Gomega) {
			var p corev1.Pod
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "orphan-1"}, &p)).To(Succeed())
			_, refused := resources.GuardRefused(&p)
			g.Expect(refused).To(BeTrue(), "the new pod did not stop at the member guard")
		}, 2*time.Minute, time.Second).Should(Succeed())

		By("starting the operator again")
		startSuiteOperator()
		waitReplaced(cluster, idsBefore, "orphan-1", 3)
		waitAvailable(cluster, 3)
		load.verify()
	})
})

// expectUntouched checks for a while that the operator changes nothing a
// person would need to recover: replicas, pods, claims.
func expectUntouched(c *etcdv1alpha1.EtcdCluster, replicas int32, d time.Duration) {
	GinkgoHelper()
	var sts appsv1.StatefulSet
	Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: resources.StatefulSetName(c)}, &sts)).To(Succeed())
	uids := map[string]string{}
	for name := range memberEndpoints(c) {
		uids[name] = podUID(c.Namespace, name)
	}
	claims := claimNames(c)
	Consistently(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(&sts), &sts)).To(Succeed())
		g.Expect(*sts.Spec.Replicas).To(Equal(replicas))
		for name, uid := range uids {
			var p corev1.Pod
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: name}, &p)).To(Succeed())
			g.Expect(string(p.UID)).To(Equal(uid), "pod %s was replaced", name)
		}
		g.Expect(claimNames(c)).To(Equal(claims))
	}, d, 2*time.Second).Should(Succeed())
}

// startSuiteOperator scales the suite's operator back after
// stopSuiteOperator, before the spec ends.
func startSuiteOperator() {
	GinkgoHelper()
	deployment := "deployment/" + operatorDeployment
	out, err := exec.Command(kubectl, "-n", operatorNamespace, "scale", deployment, "--replicas=1").CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "kubectl scale: %s", out)
	out, err = exec.Command(kubectl, "-n", operatorNamespace, "rollout", "status", deployment, "--timeout=180s").CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "kubectl rollout status: %s", out)
}
