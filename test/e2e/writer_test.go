package e2e

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
	"github.com/quorum-operator/quorum/test/writer"
)

// startWriter puts a key under prefix every interval into the cluster,
// following its member pods, until stopAndVerify (package writer).
func startWriter(c *etcdv1alpha1.EtcdCluster, prefix string, interval time.Duration) *e2eWriter {
	GinkgoHelper()
	endpoints := func(ctx context.Context) ([]string, error) {
		eps, err := listMemberEndpoints(ctx, c)
		return values(eps), err
	}
	tlsConfig, err := clientTLS(ctx, c)
	Expect(err).NotTo(HaveOccurred())
	w, err := writer.Start(ctx, endpoints, tlsConfig, prefix, interval)
	Expect(err).NotTo(HaveOccurred())
	return &e2eWriter{w}
}

type e2eWriter struct{ *writer.Writer }

// stopAndVerify stops writing and checks that every acknowledged key is
// there; it returns what the writer saw.
func (w *e2eWriter) stopAndVerify() writer.Stats {
	GinkgoHelper()
	stats, missing, err := w.StopAndVerify(ctx)
	Expect(err).NotTo(HaveOccurred())
	Expect(stats.Acked).To(BeNumerically(">", 0), "the writer got no write acknowledged")
	Expect(missing).To(BeEmpty(), "acknowledged writes lost")
	GinkgoWriter.Printf("writer: %d writes acknowledged, %d failed, longest gap between acknowledged writes %s\n",
		stats.Acked, stats.Failed, stats.LongestGap.Round(time.Millisecond))
	return stats
}
