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

// Faults injected into real members while clients write and read, the
// history checked for linearizability and lost writes (issue #15, item 1).
var _ = Describe("Members killed under load", Label("faults"), func() {
	It("keep every acknowledged write, linearizably, when a follower and then the leader are SIGKILLed", func() {
		ns := newNamespace()
		cluster := createCluster(ns, "kill", 3)
		idsBefore := memberIDs(cluster)

		load := recordLoad(cluster)

		for _, role := range []string{"follower", "leader"} {
			By("killing the etcd process of the " + role + " with SIGKILL")
			pod := memberWithRole(cluster, role == "leader")
			restarts := containerRestarts(ns, pod)
			killEtcd(ns, pod)
			By("waiting for " + pod + " to come back with its data, as the same member")
			Eventually(func() int32 { return containerRestarts(ns, pod) }, 2*time.Minute, time.Second).Should(BeNumerically(">", restarts))
			waitMemberHealthy(cluster, pod)
			waitAvailable(cluster, 3)
			Expect(memberIDs(cluster)).To(Equal(idsBefore), "a member was removed or replaced after a kill")
		}

		By("checking the history: linearizable, and every acknowledged write read back")
		load.verify()
	})
})

// memberWithRole is the pod name of the current leader, or of a follower.
func memberWithRole(c *etcdv1alpha1.EtcdCluster, leader bool) string {
	GinkgoHelper()
	var found string
	Eventually(func(g Gomega) {
		eps := memberEndpoints(c)
		cli, err := newEtcdClient(ctx, c, values(eps))
		g.Expect(err).NotTo(HaveOccurred())
		defer cli.Close()
		for name, ep := range eps {
			callCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
			st, err := cli.Status(callCtx, ep)
			cancel()
			g.Expect(err).NotTo(HaveOccurred())
			if (st.Leader == st.Header.MemberId) == leader {
				found = name
				return
			}
		}
		g.Expect(found).NotTo(BeEmpty(), "no member is the %s", map[bool]string{true: "leader", false: "follower"}[leader])
	}, time.Minute, time.Second).Should(Succeed())
	return found
}

// waitMemberHealthy waits until the member answers its status call itself,
// with a leader and no error: back in the cluster, not only running.
func waitMemberHealthy(c *etcdv1alpha1.EtcdCluster, pod string) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		ep, ok := memberEndpoints(c)[pod]
		g.Expect(ok).To(BeTrue(), "%s has no IP", pod)
		cli, err := newEtcdClient(ctx, c, []string{ep})
		g.Expect(err).NotTo(HaveOccurred())
		defer cli.Close()
		callCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		st, err := cli.Status(callCtx, ep)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(st.Errors).To(BeEmpty())
		g.Expect(st.Leader).NotTo(BeZero(), "%s has no leader", pod)
	}, 2*time.Minute, time.Second).Should(Succeed())
}

// containerRestarts is the restart count of a member pod's etcd container.
func containerRestarts(namespace, pod string) int32 {
	GinkgoHelper()
	var p corev1.Pod
	Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: namespace, Name: pod}, &p)).To(Succeed())
	for _, s := range p.Status.ContainerStatuses {
		if s.Name == "etcd" {
			return s.RestartCount
		}
	}
	return 0
}
