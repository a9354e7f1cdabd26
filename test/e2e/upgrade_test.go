package e2e

import (
	"sort"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
)

// The releases the upgrade specs start from; the Makefile passes the ones
// whose images it built.
var (
	etcdPreviousMinor = envOr("E2E_ETCD_PREVIOUS_MINOR", "3.5.35")
	etcdPreviousPatch = envOr("E2E_ETCD_PREVIOUS_PATCH", "3.6.15")
)

func current() string       { return etcdVersion }
func previousMinor() string { return etcdPreviousMinor }
func previousPatch() string { return etcdPreviousPatch }

var _ = Describe("Editing spec.version", Label("upgrade"), func() {
	DescribeTable("rolls the members one at a time, the leader last, with every acknowledged write kept",
		func(from, to func() string) {
			ns := newNamespace()
			cluster := createClusterSpec(ns, "upgrade", etcdv1alpha1.EtcdClusterSpec{Size: 3, Version: from()})
			Expect(cluster.Status.CurrentVersion).To(Equal(from()))
			w := startWriter(cluster, "/upgrade", 50*time.Millisecond)
			idsBefore := memberIDs(cluster)

			start := time.Now()
			editSpec(cluster, func(s *etcdv1alpha1.EtcdClusterSpec) { s.Version = to() })
			waitUpgraded(cluster, to())
			took := time.Since(start)

			Expect(memberIDs(cluster)).To(Equal(idsBefore), "the membership changed")
			if minor(to()) < minor(from()) {
				Expect(eventReasons(ns, "")).To(ContainElement("DowngradeEnabled"), "a minor downgrade without etcd's downgrade API")
			}
			restarted, movedFrom := rolloutEvents(ns)
			Expect(restarted).To(HaveLen(3), "each member restarted once")
			Expect(movedFrom).NotTo(BeEmpty(), "leadership was never moved")
			Expect(restarted[2]).To(Equal(movedFrom[len(movedFrom)-1]), "the last member restarted is the one leadership moved off")
			w.stopAndVerify()
			GinkgoWriter.Printf("rollout %s -> %s of 3 members: %s; restart order %v\n", from(), to(), took.Round(100*time.Millisecond), restarted)
		},
		Entry("up from the previous minor release (3.5 to 3.6)", previousMinor, current),
		Entry("up from the previous patch release", previousPatch, current),
		Entry("down a minor release through etcd's downgrade API (3.6 to 3.5)", current, previousMinor),
	)

	It("halts with one member down when a restarted member does not come back, and recovers when reverted", func() {
		ns := newNamespace()
		cluster := createCluster(ns, "halt", 3)
		w := startWriter(cluster, "/halt", 50*time.Millisecond)

		By("pointing the members at an image without etcd in it")
		editSpec(cluster, func(s *etcdv1alpha1.EtcdClusterSpec) { s.Image = "quorum.local/busybox:1" })
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(cluster), cluster)).To(Succeed())
			up := meta.FindStatusCondition(cluster.Status.Conditions, etcdv1alpha1.ConditionUpgrading)
			g.Expect(up).NotTo(BeNil())
			g.Expect(up.Reason).To(Equal(etcdv1alpha1.ReasonRolloutHalted), up.Message)
			progressing := meta.FindStatusCondition(cluster.Status.Conditions, etcdv1alpha1.ConditionProgressing)
			g.Expect(progressing.Status).To(BeEquivalentTo("False"))
			g.Expect(cluster.Status.ReadyMembers).To(BeEquivalentTo(2))
		}, 3*time.Minute, time.Second).Should(Succeed())
		Expect(eventReasons(ns, corev1.EventTypeWarning)).To(ContainElement("RolloutHalted"))

		By("checking that no other member is touched while halted")
		Consistently(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(cluster), cluster)).To(Succeed())
			g.Expect(cluster.Status.ReadyMembers).To(BeEquivalentTo(2))
			g.Expect(cluster.Status.UpdatedMembers).To(BeEquivalentTo(1))
		}, 15*time.Second, time.Second).Should(Succeed())

		By("reverting the spec")
		editSpec(cluster, func(s *etcdv1alpha1.EtcdClusterSpec) { s.Image = "" })
		waitUpgraded(cluster, etcdVersion)
		w.stopAndVerify()
	})
})

func editSpec(c *etcdv1alpha1.EtcdCluster, edit func(*etcdv1alpha1.EtcdClusterSpec)) {
	GinkgoHelper()
	Eventually(func() error {
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(c), c); err != nil {
			return err
		}
		edit(&c.Spec)
		return k8sClient.Update(ctx, c)
	}, 30*time.Second, time.Second).Should(Succeed())
}

// waitUpgraded waits until every member reports version, healthy, on the
// current template, with the rollout over.
func waitUpgraded(c *etcdv1alpha1.EtcdCluster, version string) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(c), c)).To(Succeed())
		g.Expect(c.Status.ObservedGeneration).To(Equal(c.Generation))
		g.Expect(c.Status.Phase).To(Equal(etcdv1alpha1.PhaseRunning))
		g.Expect(meta.IsStatusConditionFalse(c.Status.Conditions, etcdv1alpha1.ConditionUpgrading)).To(BeTrue(), "%+v", c.Status.Conditions)
		g.Expect(c.Status.UpdatedMembers).To(BeEquivalentTo(c.Spec.Size))
		g.Expect(c.Status.CurrentVersion).To(Equal(version))
		for _, m := range c.Status.Members {
			g.Expect(m.Healthy).To(BeTrue(), m.Name)
			g.Expect(m.Version).To(Equal(version), m.Name)
		}
	}, 6*time.Minute, 2*time.Second).Should(Succeed())
}

// rolloutEvents lists, oldest first, the members the operator restarted
// and the members it moved leadership off.
func rolloutEvents(namespace string) (restarted, movedFrom []string) {
	GinkgoHelper()
	var events eventsv1.EventList
	Expect(k8sClient.List(ctx, &events, client.InNamespace(namespace))).To(Succeed())
	sort.Slice(events.Items, func(i, j int) bool { return events.Items[i].EventTime.Before(&events.Items[j].EventTime) })
	for _, e := range events.Items {
		// Notes read "Restarting <member> on ..." and "Moved leadership from <member> to ...".
		switch e.Reason {
		case "MemberRestarted":
			restarted = append(restarted, strings.Fields(e.Note)[1])
		case "LeaderMoved":
			movedFrom = append(movedFrom, strings.Fields(e.Note)[3])
		}
	}
	return restarted, movedFrom
}

// eventReasons lists the reasons of the namespace's events of a type, or
// of every type when eventType is empty.
func eventReasons(namespace, eventType string) []string {
	GinkgoHelper()
	var events eventsv1.EventList
	Expect(k8sClient.List(ctx, &events, client.InNamespace(namespace))).To(Succeed())
	var reasons []string
	for _, e := range events.Items {
		if eventType == "" || e.Type == eventType {
			reasons = append(reasons, e.Reason)
		}
	}
	return reasons
}

// minor is the minor number of a MAJOR.MINOR.PATCH version.
func minor(version string) int {
	GinkgoHelper()
	n, err := strconv.Atoi(strings.Split(version, ".")[1])
	Expect(err).NotTo(HaveOccurred())
	return n
}
