package v1alpha1_test

import (
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
)

var _ = Describe("EtcdRestore CRD", func() {
	restore := func(ns string, source etcdv1alpha1.BackupSource) *etcdv1alpha1.EtcdRestore {
		return &etcdv1alpha1.EtcdRestore{ObjectMeta: metav1.ObjectMeta{GenerateName: "restore-", Namespace: ns},
			Spec: etcdv1alpha1.EtcdRestoreSpec{ClusterName: "main", Source: source}}
	}
	sha := strings.Repeat("0f", 32)

	It("accepts a backup name, or a location with its SHA-256", func() {
		ns := newNamespace()
		Expect(k8sClient.Create(ctx, restore(ns, etcdv1alpha1.BackupSource{BackupName: "nightly"}))).To(Succeed())
		Expect(k8sClient.Create(ctx, restore(ns, etcdv1alpha1.BackupSource{SHA256: sha,
			PersistentVolumeClaim: &etcdv1alpha1.PVCSnapshot{ClaimName: "backups", Path: "main/1.db"}}))).To(Succeed())
	})

	DescribeTable("refuses a bad request with a clear message",
		func(mutate func(*etcdv1alpha1.EtcdRestore), message string) {
			rs := restore(newNamespace(), etcdv1alpha1.BackupSource{BackupName: "nightly"})
			mutate(rs)
			expectInvalid(k8sClient.Create(ctx, rs), message)
		},
		Entry("no cluster", func(r *etcdv1alpha1.EtcdRestore) { r.Spec.ClusterName = "" }, "spec.clusterName"),
		Entry("no source", func(r *etcdv1alpha1.EtcdRestore) { r.Spec.Source = etcdv1alpha1.BackupSource{} },
			"set exactly one of backupName, s3 and persistentVolumeClaim"),
		Entry("a backup and a location", func(r *etcdv1alpha1.EtcdRestore) {
			r.Spec.Source.PersistentVolumeClaim = &etcdv1alpha1.PVCSnapshot{ClaimName: "backups", Path: "x.db"}
			r.Spec.Source.SHA256 = sha
		}, "set exactly one of backupName, s3 and persistentVolumeClaim"),
		Entry("a location without its SHA-256", func(r *etcdv1alpha1.EtcdRestore) {
			r.Spec.Source = etcdv1alpha1.BackupSource{PersistentVolumeClaim: &etcdv1alpha1.PVCSnapshot{ClaimName: "backups", Path: "x.db"}}
		}, "sha256 is required with a location"),
	)

	It("refuses any change of the spec: a restore is one request", func() {
		rs := restore(newNamespace(), etcdv1alpha1.BackupSource{BackupName: "nightly"})
		Expect(k8sClient.Create(ctx, rs)).To(Succeed())
		rs.Spec.Source.BackupName = "another"
		expectInvalid(k8sClient.Update(ctx, rs), "an EtcdRestore cannot be changed; create a new one")
	})

	It("lets the operator write its status", func() {
		rs := restore(newNamespace(), etcdv1alpha1.BackupSource{BackupName: "nightly"})
		Expect(k8sClient.Create(ctx, rs)).To(Succeed())
		rs.Status = etcdv1alpha1.EtcdRestoreStatus{Phase: etcdv1alpha1.RestoreStopping, FromRevision: 42, PreviousClusterID: "feed"}
		Expect(k8sClient.Status().Update(ctx, rs)).To(Succeed())
	})
})
