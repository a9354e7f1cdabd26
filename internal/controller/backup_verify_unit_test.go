package controller

import (
	"testing"

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
