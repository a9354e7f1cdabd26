package controller

import (
	"testing"

	"k8s.io/client-go/tools/events"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
)

func TestBackupVerificationFailedOnlyForAFailedVerification(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    *etcdv1alpha1.BackupVerification
		want bool
	}{
		{"never verified", nil, false},
		{"passed", &etcdv1alpha1.BackupVerification{Result: etcdv1alpha1.VerificationPassed}, false},
		{"failed", &etcdv1alpha1.BackupVerification{Result: etcdv1alpha1.VerificationFailed, Message: "hash differs"}, true},
	} {
		b := &etcdv1alpha1.EtcdBackup{Status: etcdv1alpha1.EtcdBackupStatus{Verification: tc.v}}
		if why, failed := BackupVerificationFailed(b); failed != tc.want || (failed && why == "") {
			t.Errorf("%s: got (%q, %v), want failed=%v with a reason", tc.name, why, failed, tc.want)
		}
	}
}

// Only a verification that ran and found the snapshot wrong fails it; one
// that could not run (its pod never started, the disk filled) judges
// nothing, and an in-place restore still takes the backup (review finding).
func TestRecordVerificationFailsOnlyOnAMismatch(t *testing.T) {
	for _, tc := range []struct {
		name, msg string
		want      etcdv1alpha1.VerificationResult
	}{
		{"a mismatch", `{"passed":false,"mismatch":true,"message":"hashkv differs"}`, etcdv1alpha1.VerificationFailed},
		{"the pod never ran the command", "the verification pod cannot start: ImagePullBackOff", etcdv1alpha1.VerificationError},
		{"the store was unreachable", `{"passed":false,"message":"open the snapshot: connection refused"}`, etcdv1alpha1.VerificationError},
		{"a pass", `{"passed":true,"message":"hash and keys match"}`, etcdv1alpha1.VerificationPassed},
	} {
		r := &EtcdBackupReconciler{Recorder: events.NewFakeRecorder(10)}
		b := &etcdv1alpha1.EtcdBackup{}
		r.recordVerification(b, tc.msg, tc.want == etcdv1alpha1.VerificationPassed)
		if b.Status.Verification == nil || b.Status.Verification.Result != tc.want {
			t.Errorf("%s: result %+v, want %s", tc.name, b.Status.Verification, tc.want)
			continue
		}
		if _, failed := BackupVerificationFailed(b); failed != (tc.want == etcdv1alpha1.VerificationFailed) {
			t.Errorf("%s: an in-place restore would refuse it: %v", tc.name, failed)
		}
	}
}
