package e2e

import (
	"context"
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
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

		By("keeping a client of the client Service open across the restore")
		var svc corev1.Service
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: resources.ClientServiceName(cluster)}, &svc)).To(Succeed())
		viaService := etcdClient(cluster, fmt.Sprintf("%s://%s:%d", resources.Scheme(cluster), svc.Spec.ClusterIP, resources.ClientPort))
		Expect(countKeys(viaService, "/after/")).To(Equal(50))

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
			g.Expect(countKeysErr(viaService, "/before/")).To(Equal(100))
		}, 2*time.Minute, time.Second).Should(Succeed(), "the client of the Service did not reconnect")
		Expect(countKeys(viaService, "/after/")).To(BeZero(), "keys written after the backup survived the restore")
		putKeys(cluster, "/restored/", 10)
		Expect(countKeys(viaService, "/restored/")).To(Equal(10))
	})
})

func countKeys(cli *clientv3.Client, prefix string) int {
	GinkgoHelper()
	n, err := countKeysErr(cli, prefix)
	Expect(err).NotTo(HaveOccurred())
	return n
}

func countKeysErr(cli *clientv3.Client, prefix string) (int, error) {
	getCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := cli.Get(getCtx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return 0, err
	}
	return int(resp.Count), nil
}
