package e2e

import (
	"context"
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
	"github.com/quorum-operator/quorum/internal/resources"
)

var _ = Describe("Scaling an EtcdCluster", Label("scale"), func() {
	It("goes 3 to 5 to 3 to 1 to 3 with every acknowledged write kept", func() {
		ns := newNamespace()
		cluster := createCluster(ns, "scale", 3)
		w := startWriter(cluster, "/scale", 50*time.Millisecond)

		for _, size := range []int32{5, 3, 1, 3} {
			By(fmt.Sprintf("scaling to %d", size))
			resize(cluster, size)
			waitMembers(cluster, int(size))
		}
		w.stopAndVerify()
	})
})

func resize(c *etcdv1alpha1.EtcdCluster, size int32) {
	GinkgoHelper()
	Eventually(func() error {
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(c), c); err != nil {
			return err
		}
		c.Spec.Size = size
		return k8sClient.Update(ctx, c)
	}, 30*time.Second, time.Second).Should(Succeed())
}

// waitMembers waits until etcd itself lists exactly size voting members,
// all healthy, the status says Running, and only their pods and claims
// remain.
func waitMembers(c *etcdv1alpha1.EtcdCluster, size int) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(c), c)).To(Succeed())
		g.Expect(c.Status.Phase).To(Equal(etcdv1alpha1.PhaseRunning), "status: %+v", c.Status.Conditions)
		g.Expect(c.Status.ReadyMembers).To(BeEquivalentTo(size))

		cli, err := newEtcdClient(ctx, c, values(memberEndpoints(c)))
		g.Expect(err).NotTo(HaveOccurred())
		defer cli.Close()
		callCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		list, err := cli.MemberList(callCtx)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(list.Members).To(HaveLen(size))
		for _, m := range list.Members {
			g.Expect(m.IsLearner).To(BeFalse(), "%s is still a learner", m.Name)
		}

		var pods corev1.PodList
		g.Expect(k8sClient.List(ctx, &pods, client.InNamespace(c.Namespace), client.MatchingLabels(resources.SelectorLabels(c)))).To(Succeed())
		g.Expect(pods.Items).To(HaveLen(size))
		var claims corev1.PersistentVolumeClaimList
		g.Expect(k8sClient.List(ctx, &claims, client.InNamespace(c.Namespace), client.MatchingLabels(resources.SelectorLabels(c)))).To(Succeed())
		if c.Spec.Storage != nil && c.Spec.Storage.EmptyDir != nil {
			g.Expect(claims.Items).To(BeEmpty())
		} else {
			g.Expect(claims.Items).To(HaveLen(size))
		}
	}, 5*time.Minute, 2*time.Second).Should(Succeed())
}
