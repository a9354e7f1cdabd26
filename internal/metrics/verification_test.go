package metrics

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
)

func verified(cluster string, at time.Time, result etcdv1alpha1.VerificationResult) etcdv1alpha1.EtcdBackup {
	return etcdv1alpha1.EtcdBackup{
		Spec:   etcdv1alpha1.EtcdBackupSpec{ClusterName: cluster},
		Status: etcdv1alpha1.EtcdBackupStatus{Verification: &etcdv1alpha1.BackupVerification{Time: &metav1.Time{Time: at}, Result: result}},
	}
}

func TestTheNewestVerificationOfTheClusterCounts(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	backups := []etcdv1alpha1.EtcdBackup{
		verified("a", t0, etcdv1alpha1.VerificationPassed),
		verified("a", t0.Add(time.Hour), etcdv1alpha1.VerificationFailed),
		verified("b", t0.Add(2*time.Hour), etcdv1alpha1.VerificationPassed),
		{Spec: etcdv1alpha1.EtcdBackupSpec{ClusterName: "a"}}, // not verified
	}
	t.Cleanup(func() { DeleteCluster("ns", "a") })
	RecordVerification("ns", "a", newestVerification(backups, "a"))
	mustValue(t, VerificationSuccess, "ns", "a", 0)
	mustValue(t, VerificationTime, "ns", "a", float64(t0.Add(time.Hour).Unix()))

	backups[0].Status.Verification.Time = &metav1.Time{Time: t0.Add(3 * time.Hour)}
	RecordVerification("ns", "a", newestVerification(backups, "a"))
	mustValue(t, VerificationSuccess, "ns", "a", 1)

	RecordVerification("ns", "a", newestVerification(backups[3:], "a"))
	mustBeAbsent(t, VerificationSuccess, "ns", "a")
	mustBeAbsent(t, VerificationTime, "ns", "a")
}
