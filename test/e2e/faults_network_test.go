package e2e

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
)

// Network faults inside the members' own network namespaces (issue #15,
// items 6 and 7). The kernel of the machines this suite runs on has no
// netem qdisc ("Specified qdisc kind is unknown"), so delay cannot be
// injected; loss is, with iptables' statistic match.
var _ = Describe("A leader cut off from its peers", Label("faults"), func() {
	It("is replaced as leader, is not removed, and catches up when the partition heals, with a linearizable history", func() {
		ns := newNamespace()
		cluster := createCluster(ns, "part", 3)
		idsBefore := memberIDs(cluster)
		load := recordLoad(cluster)

		isolated := memberWithRole(cluster, true)
		By("dropping every peer packet of the leader " + isolated + " in its network namespace")
		heal := dropPeerTraffic(ns, isolated)

		By("waiting for the two others to elect a new leader")
		others := othersThan(memberEndpoints(cluster), isolated)
		Eventually(func(g Gomega) {
			leader := leaderAsSeenBy(g, cluster, others)
			g.Expect(leader).NotTo(Equal(idsBefore[isolated]), "the isolated member still leads the majority")
			g.Expect(leader).NotTo(BeZero())
		}, time.Minute, time.Second).Should(Succeed())

		By("checking the operator keeps the isolated member and says it is unhealthy")
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(cluster), cluster)).To(Succeed())
			g.Expect(cluster.Status.Members).To(ContainElement(And(HaveField("Name", isolated), HaveField("Healthy", false))))
			g.Expect(meta.IsStatusConditionTrue(cluster.Status.Conditions, etcdv1alpha1.ConditionAvailable)).To(BeTrue())
		}, time.Minute, time.Second).Should(Succeed())
		Consistently(func(g Gomega) {
			g.Expect(memberIDsVia(g, cluster, others)).To(Equal(idsBefore), "the membership changed during the partition")
		}, 20*time.Second, 2*time.Second).Should(Succeed())

		By("healing the partition: the member catches up under its old ID")
		heal()
		waitMemberHealthy(cluster, isolated)
		waitAvailable(cluster, 3)
		Expect(memberIDs(cluster)).To(Equal(idsBefore))
		load.verify()
	})
})

var _ = Describe("Peer traffic losing 10% of its packets", Label("faults"), func() {
	It("causes no member churn while a scale-out promotes its learner once it caught up", func() {
		ns := newNamespace()
		cluster := createCluster(ns, "lossy", 3)
		idsBefore := memberIDs(cluster)
		load := recordLoad(cluster)

		By("dropping 10% of every member's peer packets, both ways")
		for name := range memberEndpoints(cluster) {
			dropPeerTraffic(ns, name, "-m", "statistic", "--mode", "random", "--probability", "0.1")
		}

		By("scaling 3 to 4 on the lossy network")
		start := time.Now()
		resize(cluster, 4)
		waitMembers(cluster, 4)
		GinkgoWriter.Printf("3 to 4 with 10%% peer loss took %s\n", time.Since(start).Round(time.Second))
		ids := memberIDs(cluster)
		for name, id := range idsBefore {
			Expect(ids).To(HaveKeyWithValue(name, id), "a member was removed or replaced on the lossy network")
		}
		load.verify()
	})
})

// othersThan are the endpoints of every member but one.
func othersThan(endpoints map[string]string, but string) []string {
	var out []string
	for name, ep := range endpoints {
		if name != but {
			out = append(out, ep)
		}
	}
	return out
}

// leaderAsSeenBy is the leader ID the given members agree on, or fails.
func leaderAsSeenBy(g Gomega, c *etcdv1alpha1.EtcdCluster, endpoints []string) uint64 {
	cli, err := newEtcdClient(ctx, c, endpoints)
	g.Expect(err).NotTo(HaveOccurred())
	defer cli.Close()
	var leader uint64
	for _, ep := range endpoints {
		callCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
		st, err := cli.Status(callCtx, ep)
		cancel()
		g.Expect(err).NotTo(HaveOccurred())
		if leader != 0 {
			g.Expect(st.Leader).To(Equal(leader), "the members disagree on the leader")
		}
		leader = st.Leader
	}
	return leader
}

// memberIDsVia is memberIDs as the given members list them.
func memberIDsVia(g Gomega, c *etcdv1alpha1.EtcdCluster, endpoints []string) map[string]uint64 {
	cli, err := newEtcdClient(ctx, c, endpoints)
	g.Expect(err).NotTo(HaveOccurred())
	defer cli.Close()
	callCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	list, err := cli.MemberList(callCtx)
	g.Expect(err).NotTo(HaveOccurred())
	out := map[string]uint64{}
	for _, m := range list.Members {
		out[m.Name] = m.ID
	}
	return out
}
