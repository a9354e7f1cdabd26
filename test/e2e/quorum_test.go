package e2e

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
	"github.com/quorum-operator/quorum/internal/resources"
)

var _ = Describe("A cluster that loses quorum", Label("quorum"), Serial, func() {
	It("is reported clearly, nothing is done to it, and it recovers when its members return", func() {
		ns := newNamespace()
		cluster := createCluster(ns, "quorum", 3)
		w := startWriter(cluster, "/quorum", 50*time.Millisecond)
		idsBefore := memberIDs(cluster)
		survivor := podUID(ns, "quorum-0")

		By("keeping two members down: the node is cordoned, then their pods are deleted")
		setUnschedulable(true)
		DeferCleanup(setUnschedulable, false)
		for _, name := range []string{"quorum-1", "quorum-2"} {
			Expect(k8sClient.Delete(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}})).To(Succeed())
		}

		By("waiting for status to say QuorumLost, with the members it last knew")
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(cluster), cluster)).To(Succeed())
			g.Expect(cluster.Status.Phase).To(Equal(etcdv1alpha1.PhaseQuorumLost))
			available := meta.FindStatusCondition(cluster.Status.Conditions, etcdv1alpha1.ConditionAvailable)
			g.Expect(available).NotTo(BeNil())
			g.Expect(available.Status).To(BeEquivalentTo("False"))
			g.Expect(available.Reason).To(Equal(etcdv1alpha1.ReasonQuorumLost))
			// The survivor answers, and once it has no leader it says so.
			g.Expect(available.Message).To(MatchRegexp(`[01] of 3 voting members healthy \(1 answering\)`))
			g.Expect(cluster.Status.Members).To(HaveLen(3))
			g.Expect(cluster.Status.Members).To(ContainElement(And(
				HaveField("Name", "quorum-0"), HaveField("Healthy", false),
				HaveField("Errors", ContainElement(ContainSubstring("no leader"))))))
		}, 2*time.Minute, time.Second).Should(Succeed())
		Eventually(func(g Gomega) {
			var events eventsv1.EventList
			g.Expect(k8sClient.List(ctx, &events, client.InNamespace(ns))).To(Succeed())
			g.Expect(events.Items).To(ContainElement(And(
				HaveField("Reason", "QuorumLost"), HaveField("Type", corev1.EventTypeWarning),
				HaveField("Regarding.Name", cluster.Name))))
		}, time.Minute, time.Second).Should(Succeed())

		By("checking that the operator changes nothing while quorum is lost")
		Consistently(func(g Gomega) {
			var sts appsv1.StatefulSet
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: resources.StatefulSetName(cluster)}, &sts)).To(Succeed())
			g.Expect(*sts.Spec.Replicas).To(BeEquivalentTo(3))
			g.Expect(podUID(ns, "quorum-0")).To(Equal(survivor), "the surviving member's pod was replaced")
			g.Expect(claimNames(cluster)).To(HaveLen(3))
		}, 15*time.Second, time.Second).Should(Succeed())

		By("letting the members come back on their data")
		setUnschedulable(false)
		waitMembers(cluster, 3)
		Expect(memberIDs(cluster)).To(Equal(idsBefore), "the membership changed")
		w.stopAndVerify()
	})
})

// setUnschedulable cordons or uncordons every node of the cluster.
func setUnschedulable(on bool) {
	GinkgoHelper()
	var nodes corev1.NodeList
	Expect(k8sClient.List(ctx, &nodes)).To(Succeed())
	for i := range nodes.Items {
		n := &nodes.Items[i]
		before := n.DeepCopy()
		n.Spec.Unschedulable = on
		Expect(k8sClient.Patch(ctx, n, client.MergeFrom(before))).To(Succeed())
	}
}

func podUID(namespace, name string) string {
	GinkgoHelper()
	var pod corev1.Pod
	Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &pod)).To(Succeed())
	return string(pod.UID)
}
