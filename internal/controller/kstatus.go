package controller

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
)

// The backup kinds carry the kstatus conditions too (Ready, Reconciling,
// Stalled), derived from what their status already says, so GitOps tools
// read every kind the same way. EtcdCluster's are computed in status.go.

// setBackupKstatus derives a backup's kstatus conditions from its phase: in
// flight until it ends, Ready once it succeeded, Stalled once it failed (a
// backup is one event: a failed one needs a person, or a new backup).
func setBackupKstatus(b *etcdv1alpha1.EtcdBackup) {
	b.Status.ObservedGeneration = b.Generation
	phase := b.Status.Phase
	if phase == "" {
		phase = etcdv1alpha1.BackupPending
	}
	ready, reconciling, stalled := metav1.ConditionFalse, metav1.ConditionFalse, metav1.ConditionFalse
	msg := b.Status.Message
	switch phase {
	case etcdv1alpha1.BackupSucceeded:
		ready, msg = metav1.ConditionTrue, "The snapshot is written to "+b.Status.Location
	case etcdv1alpha1.BackupFailed:
		stalled = metav1.ConditionTrue
	default:
		reconciling, msg = metav1.ConditionTrue, "The backup is "+string(phase)
	}
	setKstatus(&b.Status.Conditions, b.Generation, string(phase), msg, ready, reconciling, stalled)
}

// setScheduleKstatus derives a schedule's kstatus conditions from its Ready
// condition: an invalid schedule is Stalled until its spec is fixed; a
// schedule otherwise waits for its next time, with nothing in flight.
func setScheduleKstatus(s *etcdv1alpha1.EtcdBackupSchedule) {
	s.Status.ObservedGeneration = s.Generation
	ready := meta.FindStatusCondition(s.Status.Conditions, etcdv1alpha1.ConditionReady)
	if ready == nil {
		setKstatus(&s.Status.Conditions, s.Generation, "Pending", "The schedule has not run yet",
			metav1.ConditionFalse, metav1.ConditionTrue, metav1.ConditionFalse)
		return
	}
	stalled := metav1.ConditionFalse
	if ready.Status != metav1.ConditionTrue {
		stalled = metav1.ConditionTrue
	}
	setKstatus(&s.Status.Conditions, s.Generation, ready.Reason, ready.Message, ready.Status, metav1.ConditionFalse, stalled)
}

func setKstatus(conds *[]metav1.Condition, generation int64, reason, msg string, ready, reconciling, stalled metav1.ConditionStatus) {
	for _, c := range []struct {
		kind   string
		status metav1.ConditionStatus
	}{{etcdv1alpha1.ConditionReady, ready}, {etcdv1alpha1.ConditionReconciling, reconciling}, {etcdv1alpha1.ConditionStalled, stalled}} {
		meta.SetStatusCondition(conds, metav1.Condition{Type: c.kind, Status: c.status, Reason: reason, Message: msg, ObservedGeneration: generation})
	}
}
