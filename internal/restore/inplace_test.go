package restore

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/quorum-operator/quorum/internal/testservers"
)

// oldData stands in for a member's data directory before the restore: a
// WAL file whose bytes the test can recognise afterwards.
func oldData(t *testing.T, dataDir string) {
	t.Helper()
	wal := filepath.Join(dataDir, "member", "wal")
	if err := os.MkdirAll(wal, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(wal, "0000000000000000-0000000000000000.wal"), []byte("the old member's log"), 0o600); err != nil {
		t.Fatal(err)
	}
}

func requireOldDataAt(t *testing.T, dir string) {
	t.Helper()
	got, err := os.ReadFile(filepath.Join(dir, "member", "wal", "0000000000000000-0000000000000000.wal"))
	if err != nil || string(got) != "the old member's log" {
		t.Fatalf("the old data is not at %s: %q, %v", dir, got, err)
	}
}

func countKeys(t *testing.T, dataDir string) int {
	t.Helper()
	_, cli := testservers.Etcd(t, dataDir)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, "/k/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	return len(resp.Kvs)
}

func TestInPlaceRestoreMovesTheOldDataAsideAndRestores(t *testing.T) {
	snap, res := snapshotWithKeys(t, 20)
	m := member(t, "existing") // the state does not matter in place
	oldData(t, m.DataDir)

	outcome, err := RunInPlace(context.Background(), m, FileSource(snap), res.SHA256, "uid-1", zap.NewNop())
	if err != nil || outcome != Restored {
		t.Fatalf("restore: %s, %v", outcome, err)
	}
	requireOldDataAt(t, AsidePath(m.DataDir, "uid-1"))
	if _, err := os.Stat(MarkerPath(m.DataDir, "uid-1")); err != nil {
		t.Fatalf("no marker: %v", err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(m.DataDir)); len(entries) != 3 {
		t.Errorf("beside the data directory: %v, want the data, the old data and the marker", entries)
	}

	// The pod restarts: the member keeps the data it restored, even with
	// the snapshot gone.
	before, err := os.ReadDir(filepath.Join(m.DataDir, "member", "snap"))
	if err != nil {
		t.Fatal(err)
	}
	if outcome, err := RunInPlace(context.Background(), m, FileSource("/does/not/exist"), "x", "uid-1", zap.NewNop()); err != nil || outcome != AlreadyRestored {
		t.Fatalf("second run: %s, %v", outcome, err)
	}
	after, _ := os.ReadDir(filepath.Join(m.DataDir, "member", "snap"))
	if len(before) != len(after) {
		t.Fatalf("the second run touched the data: %v then %v", before, after)
	}
	_, cli := testservers.Etcd(t, m.DataDir)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, "/k/", clientv3.WithPrefix())
	if err != nil || len(resp.Kvs) != 20 {
		t.Fatalf("the restored member serves %v, %v; want 20 keys", resp, err)
	}
	if resp.Header.Revision < RevisionBump {
		t.Errorf("revision %d after the restore, want it raised by %d", resp.Header.Revision, RevisionBump)
	}
	if _, err := cli.Get(ctx, "/k/", clientv3.WithRev(res.Revision)); err == nil || !strings.Contains(err.Error(), "compacted") {
		t.Errorf("a read at the backup's revision %d: %v, want it compacted", res.Revision, err)
	}
}

func TestAnInPlaceRestoreInterruptedAfterTheMoveFinishesWithoutLosingTheOldData(t *testing.T) {
	snap, res := snapshotWithKeys(t, 5)
	m := member(t, "existing")
	oldData(t, m.DataDir)
	// A run of the same restore moved the data aside and was killed after
	// it put a restored directory in place, before the marker.
	aside := AsidePath(m.DataDir, "uid-2")
	if err := os.Rename(m.DataDir, aside); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(m.DataDir, "member", "half"), 0o700); err != nil {
		t.Fatal(err)
	}

	outcome, err := RunInPlace(context.Background(), m, FileSource(snap), res.SHA256, "uid-2", zap.NewNop())
	if err != nil || outcome != Restored {
		t.Fatalf("restore: %s, %v", outcome, err)
	}
	requireOldDataAt(t, aside)
	if _, err := os.Stat(filepath.Join(m.DataDir, "member", "half")); !os.IsNotExist(err) {
		t.Fatalf("the unfinished restore was kept: %v", err)
	}
	if n := countKeys(t, m.DataDir); n != 5 {
		t.Fatalf("the restored member serves %d keys, want 5", n)
	}
}

func TestAnInPlaceRestoreOfACorruptSnapshotLeavesTheDataInPlace(t *testing.T) {
	snap, res := snapshotWithKeys(t, 5)
	data, err := os.ReadFile(snap)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0xff
	if err := os.WriteFile(snap, data, 0o600); err != nil {
		t.Fatal(err)
	}
	m := member(t, "existing")
	oldData(t, m.DataDir)
	_, err = RunInPlace(context.Background(), m, FileSource(snap), res.SHA256, "uid-3", zap.NewNop())
	if err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("got %v, want a checksum error", err)
	}
	requireOldDataAt(t, m.DataDir)
	if entries, _ := os.ReadDir(filepath.Dir(m.DataDir)); len(entries) != 1 {
		t.Fatalf("a failed restore left %v beside the data", entries)
	}
}

func TestASecondInPlaceRestoreKeepsTheFirstOnesOldData(t *testing.T) {
	snap, res := snapshotWithKeys(t, 3)
	m := member(t, "existing")
	oldData(t, m.DataDir)
	for _, id := range []string{"first", "second"} {
		if outcome, err := RunInPlace(context.Background(), m, FileSource(snap), res.SHA256, id, zap.NewNop()); err != nil || outcome != Restored {
			t.Fatalf("restore %s: %s, %v", id, outcome, err)
		}
	}
	requireOldDataAt(t, AsidePath(m.DataDir, "first"))
	if _, err := os.Stat(filepath.Join(AsidePath(m.DataDir, "second"), "member")); err != nil {
		t.Fatalf("the first restore's data was not moved aside by the second: %v", err)
	}
}
