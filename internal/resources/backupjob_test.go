package resources

import (
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
)

func testBackup(dest etcdv1alpha1.BackupDestination) *etcdv1alpha1.EtcdBackup {
	return &etcdv1alpha1.EtcdBackup{
		ObjectMeta: metav1.ObjectMeta{Name: "nightly", Namespace: "db"},
		Spec:       etcdv1alpha1.EtcdBackupSpec{ClusterName: "main", Destination: dest},
	}
}

// The backup Job is given every member, not one picked from a status that
// may be stale: the command picks and checks the member itself.
func TestBackupJobNamesEveryMember(t *testing.T) {
	c := testCluster()
	// A member being added (main-3) is in status before spec.size says so.
	c.Status.Members = []etcdv1alpha1.MemberStatus{{Name: "main-0"}, {Name: "main-1"}, {Name: "main-2"}, {Name: "main-3", Learner: true}}
	b := testBackup(etcdv1alpha1.BackupDestination{PersistentVolumeClaim: &etcdv1alpha1.PVCLocation{ClaimName: "backups"}})
	args := BackupJob(b, c, "quorum:test").Spec.Template.Spec.Containers[0].Args
	want := "--endpoints=" + strings.Join([]string{
		"http://main-0.main-peer.db.svc:2379", "http://main-1.main-peer.db.svc:2379",
		"http://main-2.main-peer.db.svc:2379", "http://main-3.main-peer.db.svc:2379"}, ",")
	if !slices.Contains(args, want) {
		t.Fatalf("args %v, want %s", args, want)
	}
}

// The location the operator records for a snapshot it cannot delete is
// the one the backup command reports.
func TestBackupLocation(t *testing.T) {
	s3 := testBackup(etcdv1alpha1.BackupDestination{S3: &etcdv1alpha1.S3Location{Bucket: "bkt", Prefix: "prod/"}})
	if got := BackupLocation(s3); got != "s3://bkt/prod/db/main/nightly.db" {
		t.Errorf("s3 location %s", got)
	}
	pvc := testBackup(etcdv1alpha1.BackupDestination{PersistentVolumeClaim: &etcdv1alpha1.PVCLocation{ClaimName: "backups", Directory: "etcd"}})
	if got := BackupLocation(pvc); got != "pvc://backups/etcd/db/main/nightly.db" {
		t.Errorf("pvc location %s", got)
	}
	if args := SnapshotDeleteJob(pvc, "quorum:test").Spec.Template.Spec.Containers[0].Args; !slices.Contains(args, "--location=pvc://backups/etcd/db/main/nightly.db") {
		t.Errorf("the delete Job reports another location: %v", args)
	}
}
