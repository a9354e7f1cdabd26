package e2e

import (
	"context"
	"fmt"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
)

// A cluster filled to its quota raises NOSPACE and refuses writes; the
// operator compacts, defragments each member and disarms, and writes are
// accepted again with none acknowledged lost (issue #17, "Space").
var _ = Describe("Disk space", Label("space"), func() {
	It("recovers a cluster filled to its quota by compact, defrag and disarm, losing no acknowledged write", func() {
		ns := newNamespace()
		cluster := createClusterSpec(ns, "full", etcdv1alpha1.EtcdClusterSpec{Size: 3, Version: etcdVersion,
			Options: &etcdv1alpha1.EtcdOptions{QuotaBackendBytes: ptr.To(resource.MustParse("32Mi"))}})
		w := startWriter(cluster, "/space/writer", 50*time.Millisecond)
		cli := etcdClient(cluster, values(memberEndpoints(cluster))...)

		By("overwriting one key with 512 KiB values until etcd refuses with NOSPACE")
		value := strings.Repeat("x", 512<<10)
		// The put answered NOSPACE may have been applied all the same (etcd
		// applies it, then answers NOSPACE): its value is as good as the
		// last acknowledged one.
		var lastFill, refused string
		for i := 0; ; i++ {
			Expect(i).To(BeNumerically("<", 1000), "1000 puts of 512 KiB did not fill a 32 MiB quota")
			v := fmt.Sprintf("%06d%s", i, value)
			putCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
			_, err := cli.Put(putCtx, "/space/fill", v)
			cancel()
			if err != nil {
				Expect(err.Error()).To(ContainSubstring("database space exceeded"))
				refused = v
				break
			}
			lastFill = v
		}
		full := time.Now()

		By("waiting for the operator to compact, defragment every member and disarm")
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(cluster), cluster)).To(Succeed())
			m := cluster.Status.Maintenance
			g.Expect(m).NotTo(BeNil())
			g.Expect(m.LastDefrag).NotTo(BeNil())
			g.Expect(m.LastDefrag.Reason).To(Equal(etcdv1alpha1.DefragReasonNoSpace))
			g.Expect(m.LastDefrag.Result).To(Equal(etcdv1alpha1.DefragSucceeded), m.LastDefrag.Message)
			g.Expect(m.LastDefrag.Members).To(HaveLen(3))
			g.Expect(meta.IsStatusConditionTrue(cluster.Status.Conditions, etcdv1alpha1.ConditionAlarm)).To(BeFalse())
		}, 5*time.Minute, time.Second).Should(Succeed())
		Eventually(func() error {
			putCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			_, err := cli.Put(putCtx, "/space/after", "accepted")
			return err
		}, 2*time.Minute, time.Second).Should(Succeed())
		recovered := time.Since(full)

		run := cluster.Status.Maintenance.LastDefrag
		for _, mem := range run.Members {
			GinkgoWriter.Printf("defrag %s: %d ms, %d to %d bytes\n", mem.Name, mem.DurationMillis, mem.DBSizeBeforeBytes, mem.DBSizeAfterBytes)
		}
		GinkgoWriter.Printf("NOSPACE to writes accepted: %s; %d bytes reclaimed over %d members; compacted to revision %d\n",
			recovered.Round(time.Millisecond), run.ReclaimedBytes, len(run.Members), cluster.Status.Maintenance.LastCompaction.Revision)
		Expect(run.ReclaimedBytes).To(BeNumerically(">", 3*16<<20), "each member should give back most of a full 32 MiB quota")

		By("checking that no acknowledged write was lost")
		w.stopAndVerify()
		got, err := cli.Get(ctx, "/space/fill")
		Expect(err).NotTo(HaveOccurred())
		Expect(got.Kvs).To(HaveLen(1))
		Expect(string(got.Kvs[0].Value)).To(Or(Equal(lastFill), Equal(refused)), "the last acknowledged fill write was lost")
	})
})
