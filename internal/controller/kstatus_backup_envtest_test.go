package controller

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/yaml"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
	"github.com/quorum-operator/quorum/internal/backup"
	"github.com/quorum-operator/quorum/internal/resources"
)

// What kstatus users conclude from the backup kinds as the API server
// serves them (kstatus_compute_test.go covers each status alone). The
// envtest has no Job controller: the specs end the backups' Jobs.
var _ = Describe("kstatus of an EtcdBackup on the API server", func() {
	It("is InProgress from its creation on and while it runs, Current once it succeeded, Failed once it failed", func() {
		ns := newTestNamespace("kstatus-backup-")
		cluster := createTestCluster(ns, "main", etcdv1alpha1.EtcdClusterSpec{Size: 3, Version: "3.6.16"})
		startInitialMembers(cluster)
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(cluster), cluster)).To(Succeed())
			g.Expect(cluster.Status.ReadyMembers).To(BeEquivalentTo(3))
		}, timeout).Should(Succeed())

		// runBackup creates a backup, checks what the create returned and
		// the running backup, and returns its Job.
		runBackup := func(name string) (client.ObjectKey, *batchv1.Job) {
			GinkgoHelper()
			By(name + ": the object the API server returns, before the operator wrote any status, is InProgress")
			created := &unstructured.Unstructured{}
			Expect(yaml.Unmarshal([]byte(`
apiVersion: etcd.quorum.dev/v1alpha1
kind: EtcdBackup
spec:
  clusterName: main
  destination: {s3: {endpoint: s3.example.test, bucket: backups, credentialsSecret: {name: s3}}}`), &created.Object)).To(Succeed())
			created.SetNamespace(ns)
			created.SetName(name)
			Expect(k8sClient.Create(ctx, created)).To(Succeed())
			res, err := status.Compute(created)
			Expect(err).NotTo(HaveOccurred())
			Expect(res.Status).To(Equal(status.InProgressStatus), "a new backup read as done before the operator saw it: %s", res.Message)
			key := client.ObjectKeyFromObject(created)

			By(name + ": running")
			Eventually(func(g Gomega) {
				u := servedKind(g, "EtcdBackup", key)
				phase, _, _ := unstructured.NestedString(u.Object, "status", "phase")
				g.Expect(phase).To(Equal(string(etcdv1alpha1.BackupRunning)))
				g.Expect(compute(g, u)).To(Equal(status.InProgressStatus))
			}, timeout).Should(Succeed())
			b := &etcdv1alpha1.EtcdBackup{}
			Expect(k8sClient.Get(ctx, key, b)).To(Succeed())
			job := &batchv1.Job{}
			Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: resources.BackupJobName(b)}, job)).To(Succeed())
			return key, job
		}

		key, job := runBackup("good")
		By("good: succeeded, Current")
		finishJob(job, backup.Result{Location: "s3://backups/" + ns + "/main/good.db", SizeBytes: 1024, SHA256: "ab", Revision: 7, EtcdVersion: "3.6.16"})
		Eventually(func(g Gomega) {
			u := servedKind(g, "EtcdBackup", key)
			phase, _, _ := unstructured.NestedString(u.Object, "status", "phase")
			g.Expect(phase).To(Equal(string(etcdv1alpha1.BackupSucceeded)))
			g.Expect(compute(g, u)).To(Equal(status.CurrentStatus))
		}, timeout).Should(Succeed())

		key, job = runBackup("bad")
		By("bad: failed, Failed (Stalled): a failed backup waits for a person or a new backup")
		failJob(job)
		Eventually(func(g Gomega) {
			u := servedKind(g, "EtcdBackup", key)
			phase, _, _ := unstructured.NestedString(u.Object, "status", "phase")
			g.Expect(phase).To(Equal(string(etcdv1alpha1.BackupFailed)))
			res, err := status.Compute(u)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(res.Status).To(Equal(status.FailedStatus))
			g.Expect(res.Message).To(ContainSubstring("the backup failed"))
		}, timeout).Should(Succeed())
	})
})

var _ = Describe("kstatus of an EtcdBackupSchedule on the API server", func() {
	It("is InProgress from its creation on, Current once scheduled or suspended, Failed while its schedule is invalid", func() {
		// A cluster without members: the schedule's backups wait for
		// it, so one stays active.
		ns := newTestNamespace("kstatus-schedule-")
		createTestCluster(ns, "main", etcdv1alpha1.EtcdClusterSpec{Size: 3, Version: "3.6.16"})

		By("creating: the object the API server returns, before the operator wrote any status, is InProgress")
		created := &unstructured.Unstructured{}
		Expect(yaml.Unmarshal([]byte(`
apiVersion: etcd.quorum.dev/v1alpha1
kind: EtcdBackupSchedule
metadata: {name: hourly}
spec:
  schedule: "@every 1h"
  backupTemplate:
    clusterName: main
    destination: {s3: {endpoint: s3.example.test, bucket: backups, credentialsSecret: {name: s3}}}`), &created.Object)).To(Succeed())
		created.SetNamespace(ns)
		Expect(k8sClient.Create(ctx, created)).To(Succeed())
		res, err := status.Compute(created)
		Expect(err).NotTo(HaveOccurred())
		Expect(res.Status).To(Equal(status.InProgressStatus), "a new schedule read as done before the operator saw it: %s", res.Message)
		key := client.ObjectKeyFromObject(created)

		// The suite's manager runs no schedule reconciler: this one runs
		// when told, on a clock the spec moves.
		now := created.GetCreationTimestamp().Time
		r := &EtcdBackupScheduleReconciler{Client: k8sClient, Recorder: events.NewFakeRecorder(100), Now: func() time.Time { return now }}
		reconcileSchedule := func() {
			GinkgoHelper()
			Eventually(func() error {
				_, err := r.Reconcile(ctx, reconcile.Request{NamespacedName: key})
				return err
			}, timeout, 100*time.Millisecond).Should(Succeed())
		}

		By("scheduled, waiting for its first time: Current")
		reconcileSchedule()
		Expect(compute(Default, servedKind(Default, "EtcdBackupSchedule", key))).To(Equal(status.CurrentStatus))

		By("with a backup in flight: still Current, the schedule itself has nothing left to do")
		now = now.Add(time.Hour)
		reconcileSchedule()
		u := servedKind(Default, "EtcdBackupSchedule", key)
		active, _, _ := unstructured.NestedString(u.Object, "status", "active")
		Expect(active).NotTo(BeEmpty())
		Expect(compute(Default, u)).To(Equal(status.CurrentStatus))

		patch := func(p string) *unstructured.Unstructured {
			GinkgoHelper()
			changed := &unstructured.Unstructured{}
			changed.SetGroupVersionKind(etcdv1alpha1.GroupVersion.WithKind("EtcdBackupSchedule"))
			changed.SetNamespace(key.Namespace)
			changed.SetName(key.Name)
			Expect(k8sClient.Patch(ctx, changed, client.RawPatch(client.Merge.Type(), []byte(p)))).To(Succeed())
			return changed
		}

		By("an invalid schedule: InProgress until the operator looked, then Failed (Stalled) until the spec is fixed")
		changed := patch(`{"spec":{"schedule":"every hour"}}`)
		res, err = status.Compute(changed)
		Expect(err).NotTo(HaveOccurred())
		Expect(res.Status).To(Equal(status.InProgressStatus), "a changed schedule read as done before the operator saw the change: %s", res.Message)
		reconcileSchedule()
		res, err = status.Compute(servedKind(Default, "EtcdBackupSchedule", key))
		Expect(err).NotTo(HaveOccurred())
		Expect(res.Status).To(Equal(status.FailedStatus), res.Message)
		Expect(res.Message).To(ContainSubstring("every hour"))

		By("fixed and suspended: InProgress until the operator looked, then Current")
		changed = patch(`{"spec":{"schedule":"@every 1h","suspend":true}}`)
		res, err = status.Compute(changed)
		Expect(err).NotTo(HaveOccurred())
		Expect(res.Status).To(Equal(status.InProgressStatus), res.Message)
		reconcileSchedule()
		u = servedKind(Default, "EtcdBackupSchedule", key)
		Expect(compute(Default, u)).To(Equal(status.CurrentStatus))
		Expect(conditionMessage(u, etcdv1alpha1.ConditionReady)).To(ContainSubstring("spec.suspend"))
	})
})

// servedKind is the object of that kind as the API server serves it,
// untyped as kstatus users read it.
func servedKind(g Gomega, kind string, key client.ObjectKey) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(etcdv1alpha1.GroupVersion.WithKind(kind))
	g.Expect(k8sClient.Get(ctx, key, u)).To(Succeed())
	return u
}

// failJob stands in for the Job controller: the Job ran out of retries.
func failJob(job *batchv1.Job) {
	GinkgoHelper()
	Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(job), job)).To(Succeed())
	now := metav1.Now()
	job.Status.StartTime, job.Status.Failed = &now, 1
	for _, t := range []batchv1.JobConditionType{batchv1.JobFailureTarget, batchv1.JobFailed} {
		job.Status.Conditions = append(job.Status.Conditions, batchv1.JobCondition{
			Type: t, Status: corev1.ConditionTrue, Reason: batchv1.JobReasonBackoffLimitExceeded,
			LastTransitionTime: now, LastProbeTime: now})
	}
	Expect(k8sClient.Status().Update(ctx, job)).To(Succeed())
}
