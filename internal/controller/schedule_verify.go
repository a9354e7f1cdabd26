package controller

import (
	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
)

// verifyNext says whether the schedule's next backup is to be verified:
// with spec.verify.every N, when none of its N-1 newest backups (newest
// first, among those it still keeps) was. Counting the backups themselves,
// not a counter in status, keeps it right across operator restarts and
// status losses; a retention shorter than N verifies more often, never
// less.
func verifyNext(v *etcdv1alpha1.ScheduleVerification, backups []etcdv1alpha1.EtcdBackup) bool {
	if v == nil {
		return false
	}
	every := max(int(v.Every), 1)
	for i, b := range backups {
		if i >= every-1 {
			break
		}
		if b.Spec.Verify {
			return false
		}
	}
	return true
}
