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

var _ = Describe("The operator killed in the middle of a membership change", Label("disruptive"), func() {
	It("converges when it starts again, mid scale-out and mid scale-in", func() {
		ns := newNamespace()
		cluster := createCluster(ns, "disrupt", 3)
		w := startWriter(cluster, "/disrupt", 50*time.Millisecond)

		By("killing the operator right after etcd lists a learner")
		resize(cluster, 5)
		Eventually(func() bool { return etcdHas(cluster, func(n, learners int) bool { return learners > 0 }) },
			2*time.Minute, 100*time.Millisecond).Should(BeTrue())
		killOperator()
		waitMembers(cluster, 5)

		By("killing the operator right after etcd removed a member")
		resize(cluster, 3)
		Eventually(func() bool { return etcdHas(cluster, func(n, _ int) bool { return n < 5 }) },
			2*time.Minute, 100*time.Millisecond).Should(BeTrue())
		killOperator()
		waitMembers(cluster, 3)

		w.stopAndVerify()
	})
})

// etcdHas reports whether etcd's member list (n members, of which learners
// are learners) satisfies cond.
func etcdHas(c *etcdv1alpha1.EtcdCluster, cond func(n, learners int) bool) bool {
	cli, err := newEtcdClient(values(memberEndpoints(c)))
	if err != nil {
		return false
	}
	defer cli.Close()
	callCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	list, err := cli.MemberList(callCtx)
	if err != nil {
		return false
	}
	learners := 0
	for _, m := range list.Members {
		if m.IsLearner {
			learners++
		}
	}
	return cond(len(list.Members), learners)
}

// killOperator deletes the operator's pods with no grace period, as a node
// failure or an OOM kill would end them.
func killOperator() {
	GinkgoHelper()
	var pods corev1.PodList
	Expect(k8sClient.List(ctx, &pods, client.InNamespace(operatorNamespace),
		client.MatchingLabels{"control-plane": "controller-manager"})).To(Succeed())
	Expect(pods.Items).NotTo(BeEmpty())
	for i := range pods.Items {
		Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, &pods.Items[i],
			client.GracePeriodSeconds(0), client.PropagationPolicy("Background")))).To(Succeed())
	}
	GinkgoWriter.Printf("killed %d operator pod(s)\n", len(pods.Items))
}
