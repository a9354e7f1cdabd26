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

// A learner that cannot catch up (issue #15, item 8): the members take no
// peer traffic from a newcomer, so the learner a scale-out adds never
// reaches them. It must not be promoted, no second learner may be added
// beside it, and status must say what it waits for. (The bound after
// which status calls it stuck, 5 minutes, is covered by a unit test:
// TestPlanBoundsALearnerThatDoesNotCatchUp.)
var _ = Describe("A learner that cannot reach its peers", Label("faults"), func() {
	It("is not promoted, no second learner joins beside it, status says why, and the scale-out finishes once it can", func() {
		ns := newNamespace()
		cluster := createCluster(ns, "lrn", 3)
		load := recordLoad(cluster)
		eps := memberEndpoints(cluster)

		By("letting the members take peer traffic only from each other")
		var heals []func()
		for name := range eps {
			heals = append(heals, acceptPeersOnly(ns, name, memberIPs(cluster)))
		}

		By("scaling 3 to 5")
		resize(cluster, 5)
		Eventually(func(g Gomega) {
			g.Expect(learners(g, cluster, othersThan(eps, ""))).To(ConsistOf(ContainSubstring("lrn-3")))
			// Status follows etcd by a pass: the pass that added the
			// learner still says "adding lrn-3"; wait for the next.
			expectProgressingNames(g, cluster, "learner lrn-3")
		}, 2*time.Minute, time.Second).Should(Succeed())
		Consistently(func(g Gomega) {
			g.Expect(learners(g, cluster, othersThan(eps, ""))).To(ConsistOf(ContainSubstring("lrn-3")), "the learner was promoted, or a second one added")
			g.Expect(memberIDsVia(g, cluster, othersThan(eps, ""))).To(HaveLen(4))
			expectProgressingNames(g, cluster, "learner lrn-3")
		}, time.Minute, 2*time.Second).Should(Succeed())

		By("letting the newcomers in: the learner catches up and the scale-out finishes")
		for _, heal := range heals {
			heal()
		}
		waitMembers(cluster, 5)
		load.verify()
	})
})

// acceptPeersOnly makes a member drop peer traffic from and to every
// address but the given ones (its current peers).
func acceptPeersOnly(namespace, pod string, peers map[string]string) (heal func()) {
	GinkgoHelper()
	var rules [][]string
	rules = append(rules, []string{"INPUT", "-p", "tcp", "--dport", "2380", "-j", "DROP"},
		[]string{"OUTPUT", "-p", "tcp", "--dport", "2380", "-j", "DROP"})
	for _, ip := range peers {
		rules = append(rules, []string{"INPUT", "-p", "tcp", "--dport", "2380", "-s", ip, "-j", "ACCEPT"},
			[]string{"OUTPUT", "-p", "tcp", "--dport", "2380", "-d", ip, "-j", "ACCEPT"})
	}
	// -I puts each rule first: the ACCEPTs, inserted last, come before the DROPs.
	return insertRules(namespace, pod, rules)
}

// learners are the names (or, before they started, the peer URLs) of the
// members etcd lists as learners, as the given members see them.
func learners(g Gomega, c *etcdv1alpha1.EtcdCluster, endpoints []string) []string {
	cli, err := newEtcdClient(ctx, c, endpoints)
	g.Expect(err).NotTo(HaveOccurred())
	defer cli.Close()
	callCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	list, err := cli.MemberList(callCtx)
	g.Expect(err).NotTo(HaveOccurred())
	var out []string
	for _, m := range list.Members {
		if m.IsLearner {
			name := m.Name
			if name == "" && len(m.PeerURLs) > 0 {
				name = m.PeerURLs[0]
			}
			out = append(out, name)
		}
	}
	return out
}

// expectProgressingNames expects the cluster's Progressing condition, as
// the API server has it now, to say want.
func expectProgressingNames(g Gomega, cluster *etcdv1alpha1.EtcdCluster, want string) {
	g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(cluster), cluster)).To(Succeed())
	progressing := meta.FindStatusCondition(cluster.Status.Conditions, etcdv1alpha1.ConditionProgressing)
	g.Expect(progressing).NotTo(BeNil())
	g.Expect(progressing.Message).To(ContainSubstring(want))
}
