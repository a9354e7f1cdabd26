package controller

import (
	"fmt"
	"slices"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
	"github.com/quorum-operator/quorum/internal/etcd"
)

// memberEndpoint is where startMember's fake answers for the member.
func memberEndpoint(c *etcdv1alpha1.EtcdCluster, ordinal int) string {
	return fmt.Sprintf("http://10.0.%d.%d:2379", len(c.Namespace)%200, ordinal+1)
}

// fillFake sets every fake member's database size, the part in use, the
// revision and the alarms.
func fillFake(c *etcdv1alpha1.EtcdCluster, size, inUse, revision int64, alarms ...etcd.Alarm) {
	fake := fakeEtcdOf(c)
	fake.Lock()
	defer fake.Unlock()
	for _, s := range fake.Statuses {
		s.DBSize, s.DBSizeInUse, s.Revision, s.Alarms = size, inUse, revision, slices.Clone(alarms)
	}
}

// callsSince are the fake's calls after the first mark ones.
func callsSince(c *etcdv1alpha1.EtcdCluster, mark int) func() []string {
	return func() []string { return fakeCalls(c)()[mark:] }
}

// inOrder checks that the calls hold want's elements in that order.
func inOrder(calls, want []string) bool {
	i := 0
	for _, c := range calls {
		if i < len(want) && c == want[i] {
			i++
		}
	}
	return i == len(want)
}

var _ = Describe("Disk space", func() {
	const mi = 1 << 20
	// startMember makes main-1 (ID 101) the leader.

	It("defragments members over the fragmentation threshold one at a time, the leader last after moving leadership", func() {
		c := createTestCluster(newTestNamespace("defrag-"), "main", etcdv1alpha1.EtcdClusterSpec{Size: 3, Version: "3.6.16",
			Maintenance: &etcdv1alpha1.MaintenanceSpec{Defrag: &etcdv1alpha1.DefragPolicy{
				FragmentationThresholdPercent: ptr.To[int32](50), MinDBSize: ptr.To(resource.MustParse("1Mi"))}}})
		bringToSteadyState(c)
		mark := len(fakeCalls(c)())
		fillFake(c, 100*mi, 20*mi, 10)
		poke(c)

		want := []string{"defrag " + memberEndpoint(c, 2), "defrag " + memberEndpoint(c, 0), "move-leader 100", "defrag " + memberEndpoint(c, 1)}
		Eventually(func() bool { return inOrder(callsSince(c, mark)(), want) }, timeout).Should(BeTrue(), func() string { return fmt.Sprint(callsSince(c, mark)()) })
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(c), c)).To(Succeed())
			run := c.Status.Maintenance.LastDefrag
			g.Expect(run).NotTo(BeNil())
			g.Expect(run.Reason).To(Equal(etcdv1alpha1.DefragReasonThreshold))
			g.Expect(run.Result).To(Equal(etcdv1alpha1.DefragSucceeded))
			g.Expect(run.Members).To(ConsistOf(And(HaveField("Name", "main-1"),
				HaveField("DBSizeBeforeBytes", int64(100*mi)), HaveField("DBSizeAfterBytes", int64(20*mi)))))
			g.Expect(run.ReclaimedBytes).To(BeEquivalentTo(80 * mi))
		}, timeout).Should(Succeed())
		expectEvent(c, "Defragmented", "Defragmented main-1 (Threshold)")
	})

	It("defragments every member once when the schedule comes due, the leader last", func() {
		c := createTestCluster(newTestNamespace("defrag-schedule-"), "main", etcdv1alpha1.EtcdClusterSpec{Size: 3, Version: "3.6.16",
			Maintenance: &etcdv1alpha1.MaintenanceSpec{Defrag: &etcdv1alpha1.DefragPolicy{Schedule: "@every 5s"}}})
		bringToSteadyState(c)
		fillFake(c, 30*mi, 29*mi, 10)
		mark := len(fakeCalls(c)())
		created := c.CreationTimestamp.Time

		By("looking every second (a steady cluster is looked at every 30 s) until the first schedule time after creation has run")
		want := []string{"defrag " + memberEndpoint(c, 2), "defrag " + memberEndpoint(c, 0), "move-leader 100", "defrag " + memberEndpoint(c, 1)}
		Eventually(func() bool {
			if inOrder(callsSince(c, mark)(), want) {
				return true
			}
			poke(c)
			return false
		}, timeout, time.Second).Should(BeTrue())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(c), c)).To(Succeed())
			m := c.Status.Maintenance
			g.Expect(m).NotTo(BeNil())
			g.Expect(m.LastScheduleTime).NotTo(BeNil())
			g.Expect(m.LastScheduleTime.Time).To(BeTemporally(">", created))
			g.Expect(m.LastDefrag).NotTo(BeNil())
			g.Expect(m.LastDefrag.Reason).To(Equal(etcdv1alpha1.DefragReasonSchedule))
			g.Expect(m.LastDefrag.Result).To(Equal(etcdv1alpha1.DefragSucceeded))
			g.Expect(m.LastDefrag.Members).To(HaveLen(3))
		}, timeout).Should(Succeed())
	})

	It("recovers from NOSPACE: compacts, defragments every member, then disarms", func() {
		c := createTestCluster(newTestNamespace("nospace-"), "main", etcdv1alpha1.EtcdClusterSpec{Size: 3, Version: "3.6.16"})
		bringToSteadyState(c)
		mark := len(fakeCalls(c)())
		fake := fakeEtcdOf(c)
		fake.Lock()
		fake.InUseAfterCompact = 10 * mi
		fake.Unlock()
		// Over the default quota of the 1Gi claim (256Mi), nearly all in use
		// until the history is compacted.
		fillFake(c, 400*mi, 390*mi, 50, etcd.Alarm{MemberID: 100, Type: etcd.AlarmNoSpace})
		poke(c)

		want := []string{"compact 50", "defrag " + memberEndpoint(c, 2), "defrag " + memberEndpoint(c, 0), "move-leader 100",
			"defrag " + memberEndpoint(c, 1), "disarm NOSPACE 100"}
		Eventually(func() bool { return inOrder(callsSince(c, mark)(), want) }, timeout).Should(BeTrue(), func() string { return fmt.Sprint(callsSince(c, mark)()) })
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(c), c)).To(Succeed())
			g.Expect(c.Status.Maintenance.LastCompaction).To(HaveField("Revision", int64(50)))
			run := c.Status.Maintenance.LastDefrag
			g.Expect(run.Reason).To(Equal(etcdv1alpha1.DefragReasonNoSpace))
			g.Expect(run.Result).To(Equal(etcdv1alpha1.DefragSucceeded))
			g.Expect(run.Members).To(HaveLen(3))
			g.Expect(meta.IsStatusConditionTrue(c.Status.Conditions, etcdv1alpha1.ConditionAlarm)).To(BeFalse())
		}, timeout).Should(Succeed())
		expectEvent(c, "Compacted", "Compacted the history to revision 50 (NoSpace)")
		expectEvent(c, "AlarmDisarmed", "NOSPACE")
	})
})

func expectEvent(c *etcdv1alpha1.EtcdCluster, reason, note string) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		var list eventsv1.EventList
		g.Expect(k8sClient.List(ctx, &list, client.InNamespace(c.Namespace))).To(Succeed())
		g.Expect(list.Items).To(ContainElement(And(HaveField("Reason", reason), HaveField("Regarding.Name", c.Name),
			HaveField("Note", ContainSubstring(note)))))
	}, timeout).Should(Succeed())
}
