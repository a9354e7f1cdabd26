package controller

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/robfig/cron/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
)

// series is the value of the metric's series for the object, as the
// manager's /metrics would serve it, and whether there is one.
func series(g Gomega, metric, namespace, name string) (float64, bool) {
	families, err := ctrlmetrics.Registry.Gather()
	g.Expect(err).NotTo(HaveOccurred())
	for _, f := range families {
		if f.GetName() != metric {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["namespace"] == namespace && labels["name"] == name {
				if m.Gauge != nil {
					return m.Gauge.GetValue(), true
				}
				return m.Counter.GetValue(), true
			}
		}
	}
	return 0, false
}

// seriesValue is the value of a series that must exist.
func seriesValue(g Gomega, metric, namespace, name string) float64 {
	v, ok := series(g, metric, namespace, name)
	g.Expect(ok).To(BeTrue(), "no series %s{namespace=%q,name=%q}", metric, namespace, name)
	return v
}

func absent(g Gomega, metric, namespace, name string) {
	v, ok := series(g, metric, namespace, name)
	g.Expect(ok).To(BeFalse(), "%s{namespace=%q,name=%q} is still there with %v", metric, namespace, name, v)
}

// poke makes the cluster reconciler look at a steady cluster now rather
// than at its next 30-second poll.
func poke(c *etcdv1alpha1.EtcdCluster) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		var cur etcdv1alpha1.EtcdCluster
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(c), &cur)).To(Succeed())
		if cur.Annotations == nil {
			cur.Annotations = map[string]string{}
		}
		cur.Annotations["test.quorum.dev/poke"] = time.Now().Format(time.RFC3339Nano)
		g.Expect(k8sClient.Update(ctx, &cur)).To(Succeed())
	}, timeout).Should(Succeed())
}

var clusterMetricNames = []string{
	"quorum_cluster_desired_members", "quorum_cluster_voting_members", "quorum_cluster_healthy_members",
	"quorum_cluster_learner_present", "quorum_cluster_has_quorum", "quorum_cluster_available", "quorum_cluster_phase",
	"quorum_cluster_leader_changes_total", "quorum_cluster_rollout_pending_members", "quorum_cluster_rollout_halted",
	"quorum_cluster_alarm_active", "quorum_cluster_certificate_expiry_timestamp_seconds", "quorum_cluster_last_backup_timestamp_seconds",
}

var scheduleMetricNames = []string{
	"quorum_backup_last_success_timestamp_seconds", "quorum_backup_last_duration_seconds", "quorum_backup_last_size_bytes",
	"quorum_backup_failures_total", "quorum_backup_schedule_suspended", "quorum_backup_schedule_next_run_timestamp_seconds",
}

func s3Destination() etcdv1alpha1.BackupDestination {
	return etcdv1alpha1.BackupDestination{S3: &etcdv1alpha1.S3Location{Endpoint: "s3.example.test", Bucket: "backups",
		CredentialsSecret: etcdv1alpha1.SecretReference{Name: "s3"}}}
}

// succeedBackup records the backup as succeeded, as the backup controller
// does when its Job ends (no Job runs in envtest).
func succeedBackup(b *etcdv1alpha1.EtcdBackup, started time.Time, took time.Duration, size int64) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(b), b)).To(Succeed())
		b.Status.Phase = etcdv1alpha1.BackupSucceeded
		b.Status.StartTime = &metav1.Time{Time: started}
		b.Status.CompletionTime = &metav1.Time{Time: started.Add(took)}
		b.Status.SizeBytes = size
		g.Expect(k8sClient.Status().Update(ctx, b)).To(Succeed())
	}, timeout).Should(Succeed())
}

var _ = Describe("Operator metrics", func() {
	It("exports a cluster's series from the status the reconciler writes, and removes them when it is deleted", func() {
		ns := newTestNamespace("metrics-")
		c := createTestCluster(ns, "main", etcdv1alpha1.EtcdClusterSpec{Size: 3, Version: "3.6.16"})

		// Before any member runs: the spec's size, no quorum.
		Eventually(func(g Gomega) {
			g.Expect(seriesValue(g, "quorum_cluster_desired_members", ns, "main")).To(Equal(3.0))
			g.Expect(seriesValue(g, "quorum_cluster_phase", ns, "main")).To(Equal(1.0)) // Creating
			g.Expect(seriesValue(g, "quorum_cluster_has_quorum", ns, "main")).To(Equal(0.0))
		}, timeout).Should(Succeed())

		startInitialMembers(c)
		Eventually(func(g Gomega) {
			g.Expect(seriesValue(g, "quorum_cluster_phase", ns, "main")).To(Equal(2.0)) // Running
			g.Expect(seriesValue(g, "quorum_cluster_voting_members", ns, "main")).To(Equal(3.0))
			g.Expect(seriesValue(g, "quorum_cluster_healthy_members", ns, "main")).To(Equal(3.0))
			g.Expect(seriesValue(g, "quorum_cluster_has_quorum", ns, "main")).To(Equal(1.0))
			g.Expect(seriesValue(g, "quorum_cluster_available", ns, "main")).To(Equal(1.0))
			g.Expect(seriesValue(g, "quorum_cluster_learner_present", ns, "main")).To(Equal(0.0))
			g.Expect(seriesValue(g, "quorum_cluster_alarm_active", ns, "main")).To(Equal(0.0))
			g.Expect(seriesValue(g, "quorum_cluster_rollout_pending_members", ns, "main")).To(Equal(0.0))
			g.Expect(seriesValue(g, "quorum_cluster_rollout_halted", ns, "main")).To(Equal(0.0))
			g.Expect(seriesValue(g, "quorum_cluster_leader_changes_total", ns, "main")).To(Equal(0.0))
			absent(g, "quorum_cluster_certificate_expiry_timestamp_seconds", ns, "main") // no TLS
			absent(g, "quorum_cluster_last_backup_timestamp_seconds", ns, "main")
		}, timeout).Should(Succeed())

		By("a new leader")
		fake := fakeEtcdOf(c)
		fake.Lock()
		for _, s := range fake.Statuses {
			s.Leader = 102
		}
		fake.Unlock()
		poke(c)
		Eventually(func(g Gomega) {
			g.Expect(seriesValue(g, "quorum_cluster_leader_changes_total", ns, "main")).To(Equal(1.0))
		}, timeout).Should(Succeed())

		By("two of three members down")
		down := []downMember{memberDown(c, 0), memberDown(c, 2)}
		poke(c)
		Eventually(func(g Gomega) {
			g.Expect(seriesValue(g, "quorum_cluster_has_quorum", ns, "main")).To(Equal(0.0))
			g.Expect(seriesValue(g, "quorum_cluster_phase", ns, "main")).To(Equal(6.0)) // QuorumLost
			g.Expect(seriesValue(g, "quorum_cluster_healthy_members", ns, "main")).To(Equal(1.0))
			g.Expect(seriesValue(g, "quorum_cluster_available", ns, "main")).To(Equal(0.0))
		}, timeout).Should(Succeed())
		fake.Lock()
		for _, d := range down {
			fake.Statuses[d.endpoint] = d.status
		}
		fake.Unlock()
		poke(c)
		Eventually(func(g Gomega) {
			g.Expect(seriesValue(g, "quorum_cluster_has_quorum", ns, "main")).To(Equal(1.0))
		}, timeout).Should(Succeed())

		By("a succeeded backup")
		b := &etcdv1alpha1.EtcdBackup{
			ObjectMeta: metav1.ObjectMeta{Name: "by-hand", Namespace: ns},
			Spec:       etcdv1alpha1.EtcdBackupSpec{ClusterName: "main", Destination: s3Destination()},
		}
		Expect(k8sClient.Create(ctx, b)).To(Succeed())
		done := time.Now().Add(-time.Minute).Truncate(time.Second)
		succeedBackup(b, done.Add(-10*time.Second), 10*time.Second, 1<<20)
		Eventually(func(g Gomega) {
			g.Expect(seriesValue(g, "quorum_cluster_last_backup_timestamp_seconds", ns, "main")).To(BeNumerically("==", done.Unix()))
		}, timeout).Should(Succeed())

		By("deleting the cluster")
		Expect(k8sClient.Delete(ctx, c)).To(Succeed())
		Eventually(func(g Gomega) {
			for _, name := range clusterMetricNames {
				absent(g, name, ns, "main")
			}
		}, timeout).Should(Succeed())
	})

	It("exports a schedule's series: its newest success, its failures, when the next backup is due", func() {
		ns := newTestNamespace("metrics-")
		// No schedule reconciler runs in this suite: the backups below are
		// made as it would make them.
		s := &etcdv1alpha1.EtcdBackupSchedule{
			ObjectMeta: metav1.ObjectMeta{Name: "nightly", Namespace: ns},
			Spec: etcdv1alpha1.EtcdBackupScheduleSpec{Schedule: "0 3 * * *",
				BackupTemplate: etcdv1alpha1.EtcdBackupSpec{ClusterName: "absent", Destination: s3Destination()}},
		}
		Expect(k8sClient.Create(ctx, s)).To(Succeed())
		DeferCleanup(func() { Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, s))).To(Succeed()) })
		sched, err := cron.ParseStandard(s.Spec.Schedule)
		Expect(err).NotTo(HaveOccurred())
		Eventually(func(g Gomega) {
			g.Expect(seriesValue(g, "quorum_backup_schedule_suspended", ns, "nightly")).To(Equal(0.0))
			g.Expect(seriesValue(g, "quorum_backup_failures_total", ns, "nightly")).To(Equal(0.0))
			g.Expect(seriesValue(g, "quorum_backup_schedule_next_run_timestamp_seconds", ns, "nightly")).
				To(BeNumerically("==", sched.Next(s.CreationTimestamp.Time).Unix()))
			absent(g, "quorum_backup_last_success_timestamp_seconds", ns, "nightly")
		}, timeout).Should(Succeed())

		By("a backup of the schedule that fails (its cluster does not exist)")
		failing := &etcdv1alpha1.EtcdBackup{
			ObjectMeta: metav1.ObjectMeta{Name: "nightly-1", Namespace: ns, Labels: map[string]string{LabelSchedule: "nightly"}},
			Spec:       s.Spec.BackupTemplate,
		}
		Expect(k8sClient.Create(ctx, failing)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(seriesValue(g, "quorum_backup_failures_total", ns, "nightly")).To(Equal(1.0))
		}, timeout).Should(Succeed())

		By("a backup of the schedule that succeeds")
		// Its cluster exists, so the backup controller waits for a healthy
		// member instead of failing it.
		createTestCluster(ns, "main", etcdv1alpha1.EtcdClusterSpec{Size: 1, Version: "3.6.16"})
		good := &etcdv1alpha1.EtcdBackup{
			ObjectMeta: metav1.ObjectMeta{Name: "nightly-2", Namespace: ns, Labels: map[string]string{LabelSchedule: "nightly"}},
			Spec:       etcdv1alpha1.EtcdBackupSpec{ClusterName: "main", Destination: s3Destination()},
		}
		Expect(k8sClient.Create(ctx, good)).To(Succeed())
		started := time.Now().Truncate(time.Second)
		succeedBackup(good, started, 90*time.Second, 4096)
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(good), good)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(seriesValue(g, "quorum_backup_last_success_timestamp_seconds", ns, "nightly")).
				To(BeNumerically("==", started.Add(90*time.Second).Unix()))
			g.Expect(seriesValue(g, "quorum_backup_last_duration_seconds", ns, "nightly")).To(Equal(90.0))
			g.Expect(seriesValue(g, "quorum_backup_last_size_bytes", ns, "nightly")).To(Equal(4096.0))
			g.Expect(seriesValue(g, "quorum_backup_schedule_next_run_timestamp_seconds", ns, "nightly")).
				To(BeNumerically("==", sched.Next(good.CreationTimestamp.Time).Unix()))
			g.Expect(seriesValue(g, "quorum_backup_failures_total", ns, "nightly")).To(Equal(1.0))
		}, timeout).Should(Succeed())

		By("suspending it")
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s), s)).To(Succeed())
			s.Spec.Suspend = true
			g.Expect(k8sClient.Update(ctx, s)).To(Succeed())
		}, timeout).Should(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(seriesValue(g, "quorum_backup_schedule_suspended", ns, "nightly")).To(Equal(1.0))
		}, timeout).Should(Succeed())

		By("deleting it")
		Expect(k8sClient.Delete(ctx, s)).To(Succeed())
		Eventually(func(g Gomega) {
			for _, name := range scheduleMetricNames {
				absent(g, name, ns, "nightly")
			}
		}, timeout).Should(Succeed())
	})
})
