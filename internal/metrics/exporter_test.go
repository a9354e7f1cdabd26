package metrics

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
)

func TestNextRunIsTheSlotAfterTheNewestSuccess(t *testing.T) {
	created := time.Date(2026, 11, 20, 10, 30, 0, 0, time.UTC)
	schedule := func(spec string) *etcdv1alpha1.EtcdBackupSchedule {
		return &etcdv1alpha1.EtcdBackupSchedule{
			ObjectMeta: metav1.ObjectMeta{CreationTimestamp: metav1.NewTime(created)},
			Spec:       etcdv1alpha1.EtcdBackupScheduleSpec{Schedule: spec},
		}
	}
	backupAt := func(t time.Time) *etcdv1alpha1.EtcdBackup {
		return &etcdv1alpha1.EtcdBackup{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: metav1.NewTime(t)}}
	}
	for _, tc := range []struct {
		spec   string
		newest *etcdv1alpha1.EtcdBackup
		want   time.Time
	}{
		// Nothing succeeded yet: the first slot after creation.
		{"0 3 * * *", nil, time.Date(2026, 11, 21, 3, 0, 0, 0, time.UTC)},
		// The backup of the 1 December slot, created a second after it.
		{"0 3 * * *", backupAt(time.Date(2026, 12, 1, 3, 0, 1, 0, time.UTC)), time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)},
		{"@every 6h", backupAt(time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)), time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)},
		{"@hourly", nil, time.Date(2026, 11, 20, 11, 0, 0, 0, time.UTC)},
		{"not a schedule", nil, time.Time{}},
	} {
		if got := nextRun(schedule(tc.spec), tc.newest); !got.Equal(tc.want) {
			t.Errorf("%q after %v: %v, want %v", tc.spec, tc.newest, got, tc.want)
		}
	}
}
