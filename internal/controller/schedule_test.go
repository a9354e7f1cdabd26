package controller

import (
	"testing"
	"time"

	"github.com/robfig/cron/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

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
