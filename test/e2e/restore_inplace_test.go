package e2e

import (
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
	"github.com/quorum-operator/quorum/internal/resources"
)

// Issue #17: an existing cluster rolled back in place to a backup.
var _ = Describe("An EtcdRestore", Label("restore-inplace"), func() {
	It("rolls a cluster back in place: the backup's keys, a new cluster ID, the same client Service", func() {
		ns := newNamespace()
		cluster := createCluster(ns, "rollback", 3)
		putKeys(cluster, "/before/", 100)
		b := createBackup(ns, "snap", cluster.Name, newS3Destination(ns))
		waitBackupPhase(b, etcdv1alpha1.BackupSucceeded)
		putKeys(cluster, "/after/", 50)
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(cluster), cluster)).To(Succeed())
		oldID := cluster.Status.ClusterID
		Expect(oldID).NotTo(BeEmpty())

		By("reading through the client Service from a workload pod, as clients do")
		// Service IPs are reachable from pods, not from the host.
		workload := startClientPod(ns, resources.Image(cluster))
		viaService := func(prefix string) (int, error) { return countViaService(ns, workload, cluster, prefix) }
		Expect(viaService("/after/")).To(Equal(50))

		rs := &etcdv1alpha1.EtcdRestore{ObjectMeta: metav1.ObjectMeta{Name: "to-snap", Namespace: ns},
			Spec: etcdv1alpha1.EtcdRestoreSpec{ClusterName: cluster.Name, Source: etcdv1alpha1.BackupSource{BackupName: b.Name}}}
		Expect(k8sClient.Create(ctx, rs)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(rs), rs)).To(Succeed())
			g.Expect(rs.Status.Phase).To(Equal(etcdv1alpha1.RestoreSucceeded), "status: %+v", rs.Status)
		}, 10*time.Minute, 2*time.Second).Should(Succeed())
		Expect(rs.Status.FromRevision).To(Equal(b.Status.Revision))
		Expect(rs.Status.PreviousClusterID).To(Equal(oldID))
		Expect(rs.Status.NewClusterID).NotTo(Or(BeEmpty(), Equal(oldID)))

		By("the cluster running on the backup's data under the new cluster ID")
		waitAvailable(cluster, 3)
		Expect(cluster.Status.ClusterID).To(Equal(rs.Status.NewClusterID))
		Expect(cluster.Annotations).NotTo(HaveKey(etcdv1alpha1.AnnotationRestoring))
		Eventually(func(g Gomega) {
			g.Expect(viaService("/before/")).To(Equal(100))
		}, 2*time.Minute, time.Second).Should(Succeed(), "the client Service did not serve the restored data")
		Expect(viaService("/after/")).To(BeZero(), "keys written after the backup survived the restore")
		putKeys(cluster, "/restored/", 10)
		Expect(viaService("/restored/")).To(Equal(10))
	})
})

// countViaService counts the keys under prefix with etcdctl in a workload
// pod, through the cluster's client Service.
func countViaService(ns, pod string, c *etcdv1alpha1.EtcdCluster, prefix string) (int, error) {
	out, err := exec.Command(kubectl, "-n", ns, "exec", pod, "--", "/usr/local/bin/etcdctl",
		"--endpoints="+resources.ClientEndpoint(c), "--dial-timeout=2s", "--command-timeout=5s",
		"get", prefix, "--prefix", "--count-only", "--write-out=fields").CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("etcdctl through the client Service: %w: %s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, `"Count" : `); ok {
			return strconv.Atoi(strings.TrimSpace(v))
		}
	}
	return 0, fmt.Errorf("no count in etcdctl's output: %s", out)
}
