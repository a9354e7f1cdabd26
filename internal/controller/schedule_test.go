package controller

import (
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/robfig/cron/v3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
)

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func TestLatestDueCollapsesMissedSlotsIntoOne(t *testing.T) {
	hourly, err := cron.ParseStandard("0 * * * *")
	if err != nil {
		t.Fatal(err)
	}
	if due := latestDue(hourly, t0, t0.Add(30*time.Minute)); !due.IsZero() {
		t.Errorf("nothing is due half an hour after a slot, got %s", due)
	}
	if due := latestDue(hourly, t0, t0.Add(3*time.Hour+time.Minute)); !due.Equal(t0.Add(3 * time.Hour)) {
		t.Errorf("after three missed hours only the latest is due, got %s", due)
	}
}

// backupAt is a finished backup created ago before t0.
func backupAt(name string, ago time.Duration, phase etcdv1alpha1.BackupPhase) etcdv1alpha1.EtcdBackup {
	return etcdv1alpha1.EtcdBackup{
		ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(t0.Add(-ago))},
		Status:     etcdv1alpha1.EtcdBackupStatus{Phase: phase},
	}
}

func names(bs []etcdv1alpha1.EtcdBackup) []string {
	var out []string
	for _, b := range bs {
		out = append(out, b.Name)
	}
	return out
}

func TestPruneKeepsTheNewestByCountAndAgeButNeverTheLastGoodBackup(t *testing.T) {
	ok, failed := etcdv1alpha1.BackupSucceeded, etcdv1alpha1.BackupFailed
	backups := []etcdv1alpha1.EtcdBackup{ // newest first
		backupAt("b5", time.Hour, failed),
		backupAt("b4", 2*time.Hour, ok),
		backupAt("b3", 3*time.Hour, ok),
		backupAt("b2", 4*time.Hour, ok),
		backupAt("b1", 50*time.Hour, ok),
	}
	cases := []struct {
		name string
		ret  etcdv1alpha1.BackupRetention
		want []string
	}{
		{"no retention prunes nothing", etcdv1alpha1.BackupRetention{}, nil},
		{"by count", etcdv1alpha1.BackupRetention{MaxCount: ptr.To[int32](3)}, []string{"b2", "b1"}},
		{"by age", etcdv1alpha1.BackupRetention{MaxAge: &metav1.Duration{Duration: 24 * time.Hour}}, []string{"b1"}},
		{"a count of one keeps the newest good backup, not the failed one after it", etcdv1alpha1.BackupRetention{MaxCount: ptr.To[int32](1)}, []string{"b3", "b2", "b1"}},
		{"an age below every backup's keeps the newest good one", etcdv1alpha1.BackupRetention{MaxAge: &metav1.Duration{Duration: time.Minute}}, []string{"b5", "b3", "b2", "b1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := names(pruneList(tc.ret, backups, t0))
			if len(got) != len(tc.want) {
				t.Fatalf("pruned %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("pruned %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func TestPruneLeavesRunningBackups(t *testing.T) {
	running := backupAt("running", 100*time.Hour, etcdv1alpha1.BackupRunning)
	got := pruneList(etcdv1alpha1.BackupRetention{MaxAge: &metav1.Duration{Duration: time.Hour}}, []etcdv1alpha1.EtcdBackup{running}, t0)
	if len(got) != 0 {
		t.Fatalf("pruned a running backup: %v", names(got))
	}
}

// The schedule's reconciler is driven by hand here, with its own clock;
// the suite's EtcdBackup reconciler fails each backup at once (its cluster
// does not exist), which finishes it. envtest runs no garbage collector,
// so what is tested is the mechanism: no backup carries an owner
// reference that a collector would follow from the schedule.
var _ = Describe("EtcdBackupSchedule reconciler", func() {
	It("leaves its backups when the schedule is deleted, and prunes them by label", func() {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "schedule-"}}
		Expect(k8sClient.Create(ctx, ns)).To(Succeed())
		DeferCleanup(func() { Expect(k8sClient.Delete(ctx, ns)).To(Succeed()) })
		s := &etcdv1alpha1.EtcdBackupSchedule{
			ObjectMeta: metav1.ObjectMeta{Name: "hourly", Namespace: ns.Name},
			Spec: etcdv1alpha1.EtcdBackupScheduleSpec{
				Schedule: "@every 1h",
				BackupTemplate: etcdv1alpha1.EtcdBackupSpec{ClusterName: "absent", Destination: etcdv1alpha1.BackupDestination{
					S3: &etcdv1alpha1.S3Location{Endpoint: "s3.example.test", Bucket: "backups",
						CredentialsSecret: etcdv1alpha1.SecretReference{Name: "s3"}}}},
			},
		}
		Expect(k8sClient.Create(ctx, s)).To(Succeed())
		now := s.CreationTimestamp.Time
		r := &EtcdBackupScheduleReconciler{Client: k8sClient,
			Recorder: events.NewFakeRecorder(100), Now: func() time.Time { return now }}
		// reconcileSchedule runs one pass, as the controller would retry
		// it: a conflict with the backup controller's concurrent status
		// write is tried again.
		reconcileSchedule := func() {
			GinkgoHelper()
			Eventually(func() error {
				_, err := r.Reconcile(ctx, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(s)})
				return err
			}, timeout, 100*time.Millisecond).Should(Succeed())
		}
		// takeBackup moves the clock to the next slot and waits until the
		// backup created for it has ended.
		takeBackup := func() {
			GinkgoHelper()
			now = now.Add(time.Hour)
			reconcileSchedule()
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s), s)).To(Succeed())
			Expect(s.Status.Active).NotTo(BeEmpty())
			Eventually(func(g Gomega) {
				var b etcdv1alpha1.EtcdBackup
				g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns.Name, Name: s.Status.Active}, &b)).To(Succeed())
				g.Expect(finished(&b)).To(BeTrue())
			}, timeout).Should(Succeed())
		}
		backups := func() []etcdv1alpha1.EtcdBackup {
			GinkgoHelper()
			var list etcdv1alpha1.EtcdBackupList
			Expect(k8sClient.List(ctx, &list, client.InNamespace(ns.Name), client.MatchingLabels{LabelSchedule: s.Name})).To(Succeed())
			return list.Items
		}

		By("taking two backups: labelled, with the snapshot finalizer, owned by nothing")
		takeBackup()
		takeBackup()
		Expect(backups()).To(HaveLen(2))
		for _, b := range backups() {
			Expect(b.OwnerReferences).To(BeEmpty(), "backup %s is owned: deleting the schedule would delete it and its snapshot", b.Name)
			Expect(b.Finalizers).To(ContainElement(SnapshotFinalizer))
		}

		By("disowning a backup an earlier version created with an owner reference")
		legacy := &etcdv1alpha1.EtcdBackup{
			ObjectMeta: metav1.ObjectMeta{Name: "hourly-legacy", Namespace: ns.Name,
				Labels: map[string]string{LabelSchedule: s.Name}, Finalizers: []string{SnapshotFinalizer}},
			Spec: s.Spec.BackupTemplate,
		}
		Expect(controllerutil.SetControllerReference(s, legacy, k8sClient.Scheme())).To(Succeed())
		Expect(k8sClient.Create(ctx, legacy)).To(Succeed())
		reconcileSchedule()
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(legacy), legacy)).To(Succeed())
		Expect(legacy.OwnerReferences).To(BeEmpty())

		By("pruning by label: retention of two leaves two of the three")
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(legacy), legacy)).To(Succeed())
			g.Expect(finished(legacy)).To(BeTrue())
		}, timeout).Should(Succeed())
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s), s)).To(Succeed())
		s.Spec.Retention.MaxCount = ptr.To[int32](2)
		Expect(k8sClient.Update(ctx, s)).To(Succeed())
		reconcileSchedule()
		Eventually(func() []etcdv1alpha1.EtcdBackup { return backups() }, timeout).Should(HaveLen(2))

		By("deleting the schedule: its backups stay, and nothing ties them to it but the label")
		kept := backups()
		Expect(k8sClient.Delete(ctx, s)).To(Succeed())
		reconcileSchedule()
		Consistently(func(g Gomega) {
			for _, b := range kept {
				g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(&b), &b)).To(Succeed())
				g.Expect(b.DeletionTimestamp).To(BeNil())
				g.Expect(b.OwnerReferences).To(BeEmpty())
			}
		}, 2*time.Second).Should(Succeed())
	})
})
