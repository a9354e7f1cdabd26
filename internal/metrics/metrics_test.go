package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
)

// value is the series of the object in c, as a scrape would show it.
func value(t *testing.T, c prometheus.Collector, ns, name string) (float64, bool) {
	t.Helper()
	ch := make(chan prometheus.Metric, 100)
	c.Collect(ch)
	close(ch)
	for m := range ch {
		var out dto.Metric
		if err := m.Write(&out); err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, l := range out.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		if got["namespace"] != ns || got["name"] != name {
			continue
		}
		if len(got) != 2 {
			t.Fatalf("series with labels %v: only namespace and name are allowed", got)
		}
		if out.Gauge != nil {
			return out.Gauge.GetValue(), true
		}
		return out.Counter.GetValue(), true
	}
	return 0, false
}

func mustValue(t *testing.T, c prometheus.Collector, ns, name string, want float64) {
	t.Helper()
	got, ok := value(t, c, ns, name)
	if !ok {
		t.Fatalf("%s/%s: no series", ns, name)
	}
	if got != want {
		t.Fatalf("%s/%s: %v, want %v", ns, name, got, want)
	}
}

func mustBeAbsent(t *testing.T, c prometheus.Collector, ns, name string) {
	t.Helper()
	if got, ok := value(t, c, ns, name); ok {
		t.Fatalf("%s/%s: series with %v, want none", ns, name, got)
	}
}

func cond(t, status, reason string) metav1.Condition {
	return metav1.Condition{Type: t, Status: metav1.ConditionStatus(status), Reason: reason}
}

func TestRecordClusterFromStatus(t *testing.T) {
	c := &etcdv1alpha1.EtcdCluster{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "a"}, Spec: etcdv1alpha1.EtcdClusterSpec{Size: 3}}
	notAfter := time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)
	st := &etcdv1alpha1.EtcdClusterStatus{
		Phase: etcdv1alpha1.PhaseUpgrading,
		Members: []etcdv1alpha1.MemberStatus{
			{Name: "a-0", Healthy: true, Leader: true},
			{Name: "a-1", Healthy: true},
			{Name: "a-2"},
			{Name: "a-3", Learner: true, Healthy: true},
		},
		UpdatedMembers: 1,
		Conditions: []metav1.Condition{
			cond(etcdv1alpha1.ConditionAvailable, "True", etcdv1alpha1.ReasonQuorumHealthy),
			cond(etcdv1alpha1.ConditionUpgrading, "True", etcdv1alpha1.ReasonRolloutHalted),
			cond(etcdv1alpha1.ConditionAlarm, "True", etcdv1alpha1.ReasonNoSpace),
		},
		Certificates: []etcdv1alpha1.CertificateStatus{
			{Secret: "ca", NotAfter: metav1.NewTime(notAfter.Add(time.Hour))},
			{Secret: "member", NotAfter: metav1.NewTime(notAfter)},
		},
	}
	backup := time.Date(2026, 12, 1, 3, 0, 5, 0, time.UTC)
	RecordCluster(c, st, backup)
	t.Cleanup(func() { DeleteCluster("ns", "a") })

	mustValue(t, DesiredMembers, "ns", "a", 3)
	mustValue(t, VotingMembers, "ns", "a", 3)
	mustValue(t, HealthyMembers, "ns", "a", 3) // the learner answers too
	mustValue(t, LearnerPresent, "ns", "a", 1)
	mustValue(t, HasQuorum, "ns", "a", 1) // 2 of 3 voters
	mustValue(t, Available, "ns", "a", 1)
	mustValue(t, Phase, "ns", "a", 4)
	mustValue(t, RolloutPendingMembers, "ns", "a", 2)
	mustValue(t, RolloutHalted, "ns", "a", 1)
	mustValue(t, AlarmActive, "ns", "a", 1)
	mustValue(t, CertificateExpiry, "ns", "a", float64(notAfter.Unix()))
	mustValue(t, ClusterLastBackup, "ns", "a", float64(backup.Unix()))
	mustValue(t, LeaderChanges, "ns", "a", 0)
}

func TestHasQuorumNeedsAMajorityOfVoters(t *testing.T) {
	for _, tc := range []struct {
		healthy, voters int
		want            float64
	}{{0, 0, 0}, {1, 1, 1}, {1, 2, 0}, {2, 2, 1}, {1, 3, 0}, {2, 3, 1}, {2, 4, 0}, {3, 4, 1}, {2, 5, 0}, {3, 5, 1}} {
		c := &etcdv1alpha1.EtcdCluster{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "q"}, Spec: etcdv1alpha1.EtcdClusterSpec{Size: int32(tc.voters)}}
		st := &etcdv1alpha1.EtcdClusterStatus{}
		for i := range tc.voters {
			st.Members = append(st.Members, etcdv1alpha1.MemberStatus{Name: string(rune('a' + i)), Healthy: i < tc.healthy})
		}
		RecordCluster(c, st, time.Time{})
		if got, _ := value(t, HasQuorum, "ns", "q"); got != tc.want {
			t.Errorf("%d of %d voters healthy: has_quorum %v, want %v", tc.healthy, tc.voters, got, tc.want)
		}
	}
	DeleteCluster("ns", "q")
}

func TestSettledClusterWithoutTLSOrBackup(t *testing.T) {
	c := &etcdv1alpha1.EtcdCluster{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "plain"}, Spec: etcdv1alpha1.EtcdClusterSpec{Size: 1}}
	st := &etcdv1alpha1.EtcdClusterStatus{
		Phase:          etcdv1alpha1.PhaseRunning,
		Members:        []etcdv1alpha1.MemberStatus{{Name: "plain-0", Healthy: true, Leader: true}},
		UpdatedMembers: 0, // not counted while no rolling update runs
		Conditions: []metav1.Condition{
			cond(etcdv1alpha1.ConditionUpgrading, "False", etcdv1alpha1.ReasonUpToDate),
			cond(etcdv1alpha1.ConditionAlarm, "False", etcdv1alpha1.ReasonNoAlarm),
		},
	}
	RecordCluster(c, st, time.Time{})
	t.Cleanup(func() { DeleteCluster("ns", "plain") })
	mustValue(t, Phase, "ns", "plain", 2)
	mustValue(t, RolloutPendingMembers, "ns", "plain", 0)
	mustValue(t, RolloutHalted, "ns", "plain", 0)
	mustValue(t, AlarmActive, "ns", "plain", 0)
	mustValue(t, Available, "ns", "plain", 0)
	mustValue(t, LearnerPresent, "ns", "plain", 0)
	mustBeAbsent(t, CertificateExpiry, "ns", "plain")
	mustBeAbsent(t, ClusterLastBackup, "ns", "plain")
}

func TestLeaderChangesCountsOnlyChanges(t *testing.T) {
	c := &etcdv1alpha1.EtcdCluster{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "l"}, Spec: etcdv1alpha1.EtcdClusterSpec{Size: 3}}
	pass := func(leader string) {
		st := &etcdv1alpha1.EtcdClusterStatus{}
		for _, n := range []string{"l-0", "l-1", "l-2"} {
			st.Members = append(st.Members, etcdv1alpha1.MemberStatus{Name: n, Healthy: leader != "", Leader: n == leader})
		}
		RecordCluster(c, st, time.Time{})
	}
	t.Cleanup(func() { DeleteCluster("ns", "l") })
	pass("l-0")
	pass("l-0")
	mustValue(t, LeaderChanges, "ns", "l", 0)
	pass("l-1")
	mustValue(t, LeaderChanges, "ns", "l", 1)
	// No leader, then the same one again: no change.
	pass("")
	pass("l-1")
	mustValue(t, LeaderChanges, "ns", "l", 1)
	pass("")
	pass("l-2")
	mustValue(t, LeaderChanges, "ns", "l", 2)

	// A cluster deleted and created again under the name starts afresh.
	DeleteCluster("ns", "l")
	mustBeAbsent(t, LeaderChanges, "ns", "l")
	pass("l-0")
	mustValue(t, LeaderChanges, "ns", "l", 0)
}

func TestDeleteClusterRemovesEverySeries(t *testing.T) {
	c := &etcdv1alpha1.EtcdCluster{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "gone"}, Spec: etcdv1alpha1.EtcdClusterSpec{Size: 1}}
	other := &etcdv1alpha1.EtcdCluster{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "stays"}, Spec: etcdv1alpha1.EtcdClusterSpec{Size: 1}}
	st := &etcdv1alpha1.EtcdClusterStatus{
		Members:      []etcdv1alpha1.MemberStatus{{Name: "x-0", Healthy: true, Leader: true}},
		Certificates: []etcdv1alpha1.CertificateStatus{{Secret: "ca", NotAfter: metav1.Now()}},
	}
	RecordCluster(c, st, time.Now())
	RecordCluster(other, st, time.Now())
	t.Cleanup(func() { DeleteCluster("ns", "stays") })
	DeleteCluster("ns", "gone")
	for _, g := range clusterGauges {
		mustBeAbsent(t, g, "ns", "gone")
	}
	mustBeAbsent(t, LeaderChanges, "ns", "gone")
	mustValue(t, DesiredMembers, "ns", "stays", 1)
}

func TestPhaseCodesCoverEveryPhase(t *testing.T) {
	// Every phase the API enumerates has its own code.
	seen := map[float64]etcdv1alpha1.ClusterPhase{}
	for _, p := range []etcdv1alpha1.ClusterPhase{
		etcdv1alpha1.PhasePending, etcdv1alpha1.PhaseCreating, etcdv1alpha1.PhaseRunning, etcdv1alpha1.PhaseScaling,
		etcdv1alpha1.PhaseUpgrading, etcdv1alpha1.PhaseDegraded, etcdv1alpha1.PhaseQuorumLost, etcdv1alpha1.PhasePaused,
	} {
		code := PhaseCode(p)
		if code < 0 {
			t.Errorf("phase %s has no code", p)
		}
		if was, dup := seen[code]; dup {
			t.Errorf("phases %s and %s share code %v", was, p, code)
		}
		seen[code] = p
	}
	if PhaseCode("Unheard") != -1 {
		t.Error("an unknown phase must be -1")
	}
}

func TestRecordSchedule(t *testing.T) {
	start := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
	next := time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)
	b := &etcdv1alpha1.EtcdBackup{Status: etcdv1alpha1.EtcdBackupStatus{
		Phase:          etcdv1alpha1.BackupSucceeded,
		StartTime:      &metav1.Time{Time: start},
		CompletionTime: &metav1.Time{Time: start.Add(12500 * time.Millisecond)},
		SizeBytes:      4096,
	}}
	t.Cleanup(func() { DeleteSchedule("ns", "nightly") })

	// Before the first success: only what the schedule itself says.
	RecordSchedule("ns", "nightly", Schedule{NextRun: start})
	mustValue(t, ScheduleSuspended, "ns", "nightly", 0)
	mustValue(t, ScheduleNextRun, "ns", "nightly", float64(start.Unix()))
	mustValue(t, BackupFailures, "ns", "nightly", 0)
	mustBeAbsent(t, BackupLastSuccess, "ns", "nightly")
	mustBeAbsent(t, BackupLastDuration, "ns", "nightly")
	mustBeAbsent(t, BackupLastSize, "ns", "nightly")

	RecordSchedule("ns", "nightly", Schedule{Suspended: true, NextRun: next, LastSuccess: b})
	mustValue(t, ScheduleSuspended, "ns", "nightly", 1)
	mustValue(t, ScheduleNextRun, "ns", "nightly", float64(next.Unix()))
	mustValue(t, BackupLastSuccess, "ns", "nightly", float64(start.Unix())+12.5)
	mustValue(t, BackupLastDuration, "ns", "nightly", 12.5)
	mustValue(t, BackupLastSize, "ns", "nightly", 4096)

	// An invalid cron expression has no next run.
	RecordSchedule("ns", "nightly", Schedule{LastSuccess: b})
	mustBeAbsent(t, ScheduleNextRun, "ns", "nightly")
}

func TestBackupFailuresCountOnlyKnownSchedules(t *testing.T) {
	t.Cleanup(func() { DeleteSchedule("ns", "hourly") })
	BackupFailed("ns", "hourly") // not recorded yet: no series appears
	mustBeAbsent(t, BackupFailures, "ns", "hourly")

	RecordSchedule("ns", "hourly", Schedule{NextRun: time.Now()})
	BackupFailed("ns", "hourly")
	BackupFailed("ns", "hourly")
	mustValue(t, BackupFailures, "ns", "hourly", 2)

	DeleteSchedule("ns", "hourly")
	for _, g := range scheduleGauges {
		mustBeAbsent(t, g, "ns", "hourly")
	}
	BackupFailed("ns", "hourly") // a backup failing after its schedule went
	mustBeAbsent(t, BackupFailures, "ns", "hourly")
}

// The registry the manager serves holds every metric under its contract
// name: the alert rules and the dashboard read these names.
func TestRegisteredNames(t *testing.T) {
	c := &etcdv1alpha1.EtcdCluster{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "names"}, Spec: etcdv1alpha1.EtcdClusterSpec{Size: 1}}
	RecordCluster(c, &etcdv1alpha1.EtcdClusterStatus{Certificates: []etcdv1alpha1.CertificateStatus{{Secret: "ca", NotAfter: metav1.Now()}}}, time.Now())
	RecordSchedule("ns", "names", Schedule{NextRun: time.Now(), LastSuccess: &etcdv1alpha1.EtcdBackup{Status: etcdv1alpha1.EtcdBackupStatus{
		StartTime: &metav1.Time{Time: time.Now()}, CompletionTime: &metav1.Time{Time: time.Now()}}}})
	t.Cleanup(func() { DeleteCluster("ns", "names"); DeleteSchedule("ns", "names") })
	want := []string{
		"quorum_cluster_desired_members", "quorum_cluster_voting_members", "quorum_cluster_healthy_members",
		"quorum_cluster_learner_present", "quorum_cluster_has_quorum", "quorum_cluster_available", "quorum_cluster_phase",
		"quorum_cluster_leader_changes_total", "quorum_cluster_rollout_pending_members", "quorum_cluster_rollout_halted",
		"quorum_cluster_alarm_active", "quorum_cluster_certificate_expiry_timestamp_seconds",
		"quorum_cluster_last_backup_timestamp_seconds",
		"quorum_backup_last_success_timestamp_seconds", "quorum_backup_last_duration_seconds", "quorum_backup_last_size_bytes",
		"quorum_backup_failures_total", "quorum_backup_schedule_suspended", "quorum_backup_schedule_next_run_timestamp_seconds",
	}
	problems, err := testutil.GatherAndLint(registry())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "quorum_") {
			t.Errorf("%s: %s", p.Metric, p.Text)
		}
	}
	if n, err := testutil.GatherAndCount(registry(), want...); err != nil || n == 0 {
		t.Fatalf("gathered %d series, %v", n, err)
	}
	families, err := registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, f := range families {
		have[f.GetName()] = true
	}
	for _, name := range want {
		if !have[name] {
			t.Errorf("%s is not served", name)
		}
	}
}

func registry() prometheus.Gatherer { return ctrlmetrics.Registry }
