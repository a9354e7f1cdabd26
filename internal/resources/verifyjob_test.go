package resources

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
	"github.com/quorum-operator/quorum/internal/backup"
)

// The verify Job hands the command what the backup recorded, in the form
// the command reads, and cannot write to the backup's claim.
func TestVerifyJobPassesTheRecordedHash(t *testing.T) {
	b := testBackup(etcdv1alpha1.BackupDestination{PersistentVolumeClaim: &etcdv1alpha1.PVCLocation{ClaimName: "backups"}})
	b.Status.SHA256 = "abc"
	b.Status.KVHash = &etcdv1alpha1.BackupKVHash{Revision: 42, CompactRevision: 7, Hash: 4294967295, Keys: 3}
	pod := VerifyJob(b, "quorum:test").Spec.Template.Spec
	c := pod.Containers[0]
	if c.Args[0] != "verify" || !slices.Contains(c.Args, "--sha256=abc") || !slices.Contains(c.Args, "--file=/backup/db/main/nightly.db") {
		t.Fatalf("args %v", c.Args)
	}
	var got backup.KVHash
	for _, a := range c.Args {
		if v, ok := strings.CutPrefix(a, "--kv-hash="); ok {
			if err := json.Unmarshal([]byte(v), &got); err != nil {
				t.Fatal(err)
			}
		}
	}
	if want := (backup.KVHash{Revision: 42, CompactRevision: 7, Hash: 4294967295, Keys: 3}); got != want {
		t.Fatalf("the command would read %+v, want %+v", got, want)
	}
	for _, m := range c.VolumeMounts {
		if m.Name == "destination" && !m.ReadOnly {
			t.Errorf("the claim is mounted writable")
		}
	}
	if len(pod.Volumes) != 2 || pod.Volumes[1].EmptyDir == nil {
		t.Errorf("no work directory: %v", pod.Volumes)
	}

	b.Status.KVHash = nil
	if args := VerifyJob(b, "quorum:test").Spec.Template.Spec.Containers[0].Args; slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--kv-hash") }) {
		t.Errorf("a backup without a hash is given one: %v", args)
	}
}

// The work directory is bounded and requested (review finding: it was
// unbounded, and on node-local storage a large snapshot's copies could
// fill the disk members share).
func TestVerifyJobBoundsItsWorkDirectory(t *testing.T) {
	b := testBackup(etcdv1alpha1.BackupDestination{PersistentVolumeClaim: &etcdv1alpha1.PVCLocation{ClaimName: "backups"}})
	b.Status.SizeBytes = 100 << 20
	pod := VerifyJob(b, "quorum:test").Spec.Template.Spec
	want := int64(3*100<<20 + 512<<20)
	var limit int64
	for _, v := range pod.Volumes {
		if v.Name == "work" && v.EmptyDir != nil && v.EmptyDir.SizeLimit != nil {
			limit = v.EmptyDir.SizeLimit.Value()
		}
	}
	if limit != want {
		t.Errorf("work emptyDir limit %d, want %d", limit, want)
	}
	if got := pod.Containers[0].Resources.Requests[corev1.ResourceEphemeralStorage]; got.Value() != want {
		t.Errorf("ephemeral-storage request %s, want %d", got.String(), want)
	}
}
