package controller

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
	"github.com/quorum-operator/quorum/internal/backup"
	"github.com/quorum-operator/quorum/internal/resources"
)

var _ = Describe("EtcdBackup reconciler", func() {
	It("holds a backup deleted mid-upload until its Job ends, then deletes the snapshot it wrote", func() {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "backup-"}}
		Expect(k8sClient.Create(ctx, ns)).To(Succeed())
		DeferCleanup(func() { Expect(k8sClient.Delete(ctx, ns)).To(Succeed()) })
		cluster := &etcdv1alpha1.EtcdCluster{
			ObjectMeta: metav1.ObjectMeta{Name: "main", Namespace: ns.Name},
			Spec:       etcdv1alpha1.EtcdClusterSpec{Size: 3, Version: "3.6.16"},
		}
		Expect(k8sClient.Create(ctx, cluster)).To(Succeed())
		DeferCleanup(func() { Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, cluster))).To(Succeed()) })
		startInitialMembers(cluster)
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(cluster), cluster)).To(Succeed())
			g.Expect(cluster.Status.ReadyMembers).To(BeEquivalentTo(3))
		}, timeout).Should(Succeed())

		b := &etcdv1alpha1.EtcdBackup{
			ObjectMeta: metav1.ObjectMeta{Name: "nightly", Namespace: ns.Name, Finalizers: []string{SnapshotFinalizer}},
			Spec: etcdv1alpha1.EtcdBackupSpec{ClusterName: cluster.Name, Destination: etcdv1alpha1.BackupDestination{
				S3: &etcdv1alpha1.S3Location{Endpoint: "s3.example.test", Bucket: "backups",
					CredentialsSecret: etcdv1alpha1.SecretReference{Name: "s3"}},
			}}}
		Expect(k8sClient.Create(ctx, b)).To(Succeed())
		var upload batchv1.Job
		Eventually(func() error {
			return k8sClient.Get(ctx, client.ObjectKey{Namespace: ns.Name, Name: resources.BackupJobName(b)}, &upload)
		}, timeout).Should(Succeed())

		By("deleting the backup while its Job runs")
		Expect(k8sClient.Delete(ctx, b)).To(Succeed())
		deleteJobKey := client.ObjectKey{Namespace: ns.Name, Name: resources.SnapshotDeleteJobName(b)}
		Consistently(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(b), b)).To(Succeed())
			g.Expect(b.Finalizers).To(ContainElement(SnapshotFinalizer))
			g.Expect(k8sClient.Get(ctx, deleteJobKey, &batchv1.Job{})).To(Satisfy(apierrors.IsNotFound))
		}, 3*time.Second).Should(Succeed())

		By("the upload ending: its snapshot is recorded and deleted")
		location := "s3://backups/" + ns.Name + "/main/nightly.db"
		finishJob(&upload, backup.Result{Location: location, SizeBytes: 1024, SHA256: "ab", Revision: 7, EtcdVersion: "3.6.16"})
		var deleteJob batchv1.Job
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(b), b)).To(Succeed())
			g.Expect(b.Status.Phase).To(Equal(etcdv1alpha1.BackupSucceeded))
			g.Expect(b.Status.Location).To(Equal(location))
			g.Expect(k8sClient.Get(ctx, deleteJobKey, &deleteJob)).To(Succeed())
		}, timeout).Should(Succeed())
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(b), b)).To(Succeed())
		Expect(b.Finalizers).To(ContainElement(SnapshotFinalizer), "the backup stays until its snapshot is deleted")

		finishJob(&deleteJob, backup.Result{})
		Eventually(func() error { return k8sClient.Get(ctx, client.ObjectKeyFromObject(b), b) }, timeout).Should(Satisfy(apierrors.IsNotFound))
	})

	It("lets a backup go in a namespace being deleted, leaving its snapshot, so the namespace's deletion completes", func() {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "backup-"}}
		Expect(k8sClient.Create(ctx, ns)).To(Succeed())
		// Its cluster does not exist; status says it succeeded, as if it
		// had, so its finalizer has a snapshot to delete.
		b := &etcdv1alpha1.EtcdBackup{
			ObjectMeta: metav1.ObjectMeta{Name: "hourly-1", Namespace: ns.Name, Finalizers: []string{SnapshotFinalizer}},
			Spec: etcdv1alpha1.EtcdBackupSpec{ClusterName: "absent", Destination: etcdv1alpha1.BackupDestination{
				S3: &etcdv1alpha1.S3Location{Endpoint: "s3.example.test", Bucket: "backups",
					CredentialsSecret: etcdv1alpha1.SecretReference{Name: "s3"}},
			}}}
		Expect(k8sClient.Create(ctx, b)).To(Succeed())
		markSucceeded(b, "s3://backups/"+ns.Name+"/absent/hourly-1.db")

		By("deleting the namespace, then the backup, as the namespace controller would")
		Expect(k8sClient.Delete(ctx, ns)).To(Succeed())
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(ns), ns)).To(Succeed())
		Expect(ns.DeletionTimestamp).NotTo(BeNil())
		Expect(k8sClient.Delete(ctx, b)).To(Succeed())

		Eventually(func() error { return k8sClient.Get(ctx, client.ObjectKeyFromObject(b), b) }, timeout).
			Should(Satisfy(apierrors.IsNotFound), "the finalizer holds the backup, and with it the namespace")
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns.Name, Name: resources.SnapshotDeleteJobName(b)}, &batchv1.Job{})).
			To(Satisfy(apierrors.IsNotFound))
	})
})

// markSucceeded records b as a succeeded backup at location. The
// reconciler may fail it first (its cluster is missing); the status is
// written until it says Succeeded, which is final.
func markSucceeded(b *etcdv1alpha1.EtcdBackup, location string) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(b), b)).To(Succeed())
		if b.Status.Phase != etcdv1alpha1.BackupSucceeded {
			b.Status = etcdv1alpha1.EtcdBackupStatus{Phase: etcdv1alpha1.BackupSucceeded, Location: location, SizeBytes: 1024, Revision: 7}
			g.Expect(k8sClient.Status().Update(ctx, b)).To(Succeed())
		}
		g.Consistently(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(b), b)).To(Succeed())
			g.Expect(b.Status.Phase).To(Equal(etcdv1alpha1.BackupSucceeded))
		}, time.Second).Should(Succeed())
	}, timeout).Should(Succeed())
}

// finishJob stands in for the kubelet and the Job controller: a pod of the
// Job ends with result as its termination message, and the Job completes.
func finishJob(job *batchv1.Job, result backup.Result) {
	GinkgoHelper()
	endPod(job, result, 0)
	completeJob(job)
}
