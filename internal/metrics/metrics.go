package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
)

// labels are the only labels: one series per object, whatever its size.
var labels = []string{"namespace", "name"}

func gauge(name, help string) *prometheus.GaugeVec {
	return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
}

func counter(name, help string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
}

// Per EtcdCluster.
var (
	DesiredMembers = gauge("quorum_cluster_desired_members", "Voting members the spec asks for (spec.size).")
	VotingMembers  = gauge("quorum_cluster_voting_members", "Voting members in etcd's member list.")
	HealthyMembers = gauge("quorum_cluster_healthy_members",
		"Members, learners included, that answered their status call as themselves with no error.")
	LearnerPresent = gauge("quorum_cluster_learner_present", "1 while a learner (a member that does not vote yet) is in the member list.")
	HasQuorum      = gauge("quorum_cluster_has_quorum",
		"1 when at least floor(voters/2)+1 voting members are healthy, else 0 (also 0 while the cluster is first created).")
	Available = gauge("quorum_cluster_available", "1 while the Available condition is True: clients can use the cluster.")
	Phase     = gauge("quorum_cluster_phase",
		"The phase as a number: 0 Pending, 1 Creating, 2 Running, 3 Scaling, 4 Upgrading, 5 Degraded, 6 QuorumLost, 7 Paused.")
	LeaderChanges = counter("quorum_cluster_leader_changes_total",
		"Leader changes the operator saw between two of its passes over the cluster (changes in between are not seen).")
	RolloutPendingMembers = gauge("quorum_cluster_rollout_pending_members",
		"Members not yet restarted on the current pod template during a rolling update; 0 when none is under way.")
	RolloutHalted = gauge("quorum_cluster_rollout_halted",
		"1 while a rolling update is halted (Upgrading reason RolloutHalted): a restarted member did not come back healthy.")
	AlarmActive       = gauge("quorum_cluster_alarm_active", "1 while an etcd alarm (NOSPACE or CORRUPT) is raised.")
	CertificateExpiry = gauge("quorum_cluster_certificate_expiry_timestamp_seconds",
		"Earliest NotAfter, in Unix seconds, of the cluster's TLS certificates (CA, member, operator client); absent without TLS.")
	ClusterLastBackup = gauge("quorum_cluster_last_backup_timestamp_seconds",
		"Completion time, in Unix seconds, of the cluster's newest succeeded EtcdBackup (any schedule or by hand); absent before the first.")
)

// Per EtcdBackupSchedule.
var (
	BackupLastSuccess = gauge("quorum_backup_last_success_timestamp_seconds",
		"Completion time, in Unix seconds, of the schedule's newest succeeded backup; absent before the first.")
	BackupLastDuration = gauge("quorum_backup_last_duration_seconds", "How long the schedule's newest succeeded backup took, start to completion.")
	BackupLastSize     = gauge("quorum_backup_last_size_bytes", "Size of the snapshot of the schedule's newest succeeded backup.")
	BackupFailures     = counter("quorum_backup_failures_total",
		"Backups created by the schedule that the operator saw fail (counted at the failure, from 0 when the operator starts).")
	ScheduleSuspended = gauge("quorum_backup_schedule_suspended", "1 while spec.suspend is set.")
	ScheduleNextRun   = gauge("quorum_backup_schedule_next_run_timestamp_seconds",
		"The first scheduled time after the newest succeeded backup (after the schedule's creation before any), in Unix seconds: "+
			"a newer backup is due then. In the past, the schedule is behind: suspended, failing, or not run.")
)

var clusterGauges = []*prometheus.GaugeVec{
	DesiredMembers, VotingMembers, HealthyMembers, LearnerPresent, HasQuorum, Available, Phase,
	RolloutPendingMembers, RolloutHalted, AlarmActive, CertificateExpiry, ClusterLastBackup,
	VerificationSuccess, VerificationTime,
}

var scheduleGauges = []*prometheus.GaugeVec{
	BackupLastSuccess, BackupLastDuration, BackupLastSize, ScheduleSuspended, ScheduleNextRun,
}

func init() {
	for _, g := range append(append([]*prometheus.GaugeVec(nil), clusterGauges...), scheduleGauges...) {
		ctrlmetrics.Registry.MustRegister(g)
	}
	ctrlmetrics.Registry.MustRegister(LeaderChanges, BackupFailures)
}

// phaseCodes number the phases in the order api/v1alpha1 declares them;
// a status written before any phase (empty) counts as Pending.
var phaseCodes = map[etcdv1alpha1.ClusterPhase]float64{
	"":                           0,
	etcdv1alpha1.PhasePending:    0,
	etcdv1alpha1.PhaseCreating:   1,
	etcdv1alpha1.PhaseRunning:    2,
	etcdv1alpha1.PhaseScaling:    3,
	etcdv1alpha1.PhaseUpgrading:  4,
	etcdv1alpha1.PhaseDegraded:   5,
	etcdv1alpha1.PhaseQuorumLost: 6,
	etcdv1alpha1.PhasePaused:     7,
}

// PhaseCode is the number quorum_cluster_phase reports for a phase; -1 for
// one this build does not know.
func PhaseCode(p etcdv1alpha1.ClusterPhase) float64 {
	if code, ok := phaseCodes[p]; ok {
		return code
	}
	return -1
}

// leaders remembers each cluster's leader at the last pass, to count
// changes. It lives only in this process, as the counter does.
var leaders = struct {
	sync.Mutex
	byCluster map[[2]string]string
}{byCluster: map[[2]string]string{}}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func unixSeconds(t time.Time) float64 {
	return float64(t.UnixNano()) / 1e9
}

// RecordCluster sets the cluster's series from the status the controller
// computed for it in this pass. lastBackup is the completion time of the
// cluster's newest succeeded EtcdBackup, zero if it has none.
func RecordCluster(c *etcdv1alpha1.EtcdCluster, st *etcdv1alpha1.EtcdClusterStatus, lastBackup time.Time) {
	ns, name := c.Namespace, c.Name
	var voters, healthyVoters, healthy int
	var learner bool
	var leader string
	for _, m := range st.Members {
		if m.Healthy {
			healthy++
		}
		if m.Learner {
			learner = true
			continue
		}
		voters++
		if m.Healthy {
			healthyVoters++
		}
		if m.Leader {
			leader = m.Name
		}
	}
	DesiredMembers.WithLabelValues(ns, name).Set(float64(c.Spec.Size))
	VotingMembers.WithLabelValues(ns, name).Set(float64(voters))
	HealthyMembers.WithLabelValues(ns, name).Set(float64(healthy))
	LearnerPresent.WithLabelValues(ns, name).Set(boolValue(learner))
	HasQuorum.WithLabelValues(ns, name).Set(boolValue(voters > 0 && healthyVoters >= voters/2+1))
	Available.WithLabelValues(ns, name).Set(boolValue(meta.IsStatusConditionTrue(st.Conditions, etcdv1alpha1.ConditionAvailable)))
	Phase.WithLabelValues(ns, name).Set(PhaseCode(st.Phase))
	AlarmActive.WithLabelValues(ns, name).Set(boolValue(meta.IsStatusConditionTrue(st.Conditions, etcdv1alpha1.ConditionAlarm)))

	pending, halted := 0, false
	if up := meta.FindStatusCondition(st.Conditions, etcdv1alpha1.ConditionUpgrading); up != nil && up.Status == metav1.ConditionTrue {
		pending = max(0, int(c.Spec.Size)-int(st.UpdatedMembers))
		halted = up.Reason == etcdv1alpha1.ReasonRolloutHalted
	}
	RolloutPendingMembers.WithLabelValues(ns, name).Set(float64(pending))
	RolloutHalted.WithLabelValues(ns, name).Set(boolValue(halted))

	var earliest time.Time
	for _, cert := range st.Certificates {
		if earliest.IsZero() || cert.NotAfter.Time.Before(earliest) {
			earliest = cert.NotAfter.Time
		}
	}
	setOrDelete(CertificateExpiry, ns, name, earliest)
	setOrDelete(ClusterLastBackup, ns, name, lastBackup)

	changes := LeaderChanges.WithLabelValues(ns, name) // exists from 0, so increase() sees the first change
	leaders.Lock()
	defer leaders.Unlock()
	key := [2]string{ns, name}
	if leader != "" {
		if was := leaders.byCluster[key]; was != "" && was != leader {
			changes.Inc()
		}
		// Without a leader (quorum lost) the last one is kept: A, none, A
		// is no change.
		leaders.byCluster[key] = leader
	}
}

// setOrDelete sets a timestamp gauge, or removes the series for a zero time:
// an absent series says "none", which no timestamp could.
func setOrDelete(g *prometheus.GaugeVec, ns, name string, t time.Time) {
	if t.IsZero() {
		g.DeleteLabelValues(ns, name)
		return
	}
	g.WithLabelValues(ns, name).Set(unixSeconds(t))
}

// DeleteCluster removes every series of a cluster that is gone.
func DeleteCluster(namespace, name string) {
	for _, g := range clusterGauges {
		g.DeleteLabelValues(namespace, name)
	}
	LeaderChanges.DeleteLabelValues(namespace, name)
	leaders.Lock()
	defer leaders.Unlock()
	delete(leaders.byCluster, [2]string{namespace, name})
}

// Schedule is what the schedule controller knows of one schedule in a pass.
type Schedule struct {
	Suspended bool
	// NextRun is the first scheduled time after the newest succeeded
	// backup (after the schedule's creation when none succeeded); zero
	// when the cron expression is invalid.
	NextRun time.Time
	// LastSuccess is the newest succeeded backup; nil before the first.
	LastSuccess *etcdv1alpha1.EtcdBackup
}

// RecordSchedule sets a schedule's series.
func RecordSchedule(namespace, name string, s Schedule) {
	ScheduleSuspended.WithLabelValues(namespace, name).Set(boolValue(s.Suspended))
	setOrDelete(ScheduleNextRun, namespace, name, s.NextRun)
	BackupFailures.WithLabelValues(namespace, name) // exists from 0, so increase() sees the first failure
	scheduled.Lock()
	scheduled.names[[2]string{namespace, name}] = true
	scheduled.Unlock()

	var done, started time.Time
	var size int64
	if b := s.LastSuccess; b != nil && b.Status.CompletionTime != nil {
		done, size = b.Status.CompletionTime.Time, b.Status.SizeBytes
		if b.Status.StartTime != nil {
			started = b.Status.StartTime.Time
		}
	}
	setOrDelete(BackupLastSuccess, namespace, name, done)
	if done.IsZero() {
		BackupLastDuration.DeleteLabelValues(namespace, name)
		BackupLastSize.DeleteLabelValues(namespace, name)
		return
	}
	if !started.IsZero() {
		BackupLastDuration.WithLabelValues(namespace, name).Set(done.Sub(started).Seconds())
	}
	BackupLastSize.WithLabelValues(namespace, name).Set(float64(size))
}

// scheduled are the schedules RecordSchedule has seen and DeleteSchedule
// has not removed: a backup failing after its schedule was deleted must
// not bring the schedule's counter back.
var scheduled = struct {
	sync.Mutex
	names map[[2]string]bool
}{names: map[[2]string]bool{}}

// BackupFailed counts a backup of the schedule that has just failed. The
// backup controller calls it once, when it records the failure.
func BackupFailed(namespace, schedule string) {
	scheduled.Lock()
	defer scheduled.Unlock()
	if scheduled.names[[2]string{namespace, schedule}] {
		BackupFailures.WithLabelValues(namespace, schedule).Inc()
	}
}

// DeleteSchedule removes every series of a schedule that is gone.
func DeleteSchedule(namespace, name string) {
	for _, g := range scheduleGauges {
		g.DeleteLabelValues(namespace, name)
	}
	scheduled.Lock()
	defer scheduled.Unlock()
	delete(scheduled.names, [2]string{namespace, name})
	BackupFailures.DeleteLabelValues(namespace, name)
}
