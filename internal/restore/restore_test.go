package restore

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/quorum-operator/quorum/internal/backup"
	"github.com/quorum-operator/quorum/internal/testservers"
)

// snapshotWithKeys writes n keys to a real etcd and snapshots it to a file.
func snapshotWithKeys(t *testing.T, n int) (string, backup.Result) {
	t.Helper()
	url, cli := testservers.Etcd(t, t.TempDir())
	for i := range n {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := cli.Put(ctx, fmt.Sprintf("/k/%03d", i), fmt.Sprintf("v%d", i))
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "snap.db")
	res, err := backup.Take(context.Background(), url, nil, backup.FileSink{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	return path, res
}

// member is a new single-member cluster restored into a fresh directory.
func member(t *testing.T, state string) Member {
	port := testservers.FreePort(t)
	peer := fmt.Sprintf("http://127.0.0.1:%d", port)
	return Member{DataDir: filepath.Join(t.TempDir(), "data"), Name: "default", PeerURL: peer,
		InitialCluster: "default=" + peer, Token: "restored", State: state}
}

func TestRestoredMemberServesEveryKey(t *testing.T) {
	snap, res := snapshotWithKeys(t, 50)
	m := member(t, "new")
	outcome, err := Run(context.Background(), m, FileSource(snap), res.SHA256, zap.NewNop())
	if err != nil || outcome != Restored {
		t.Fatalf("restore: %s, %v", outcome, err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(m.DataDir), "restore.db")); !os.IsNotExist(err) {
		t.Errorf("the downloaded snapshot was left behind: %v", err)
	}

	// The restored directory starts as a member on its own.
	_, cli := testservers.Etcd(t, m.DataDir)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, "/k/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 50 || string(resp.Kvs[49].Value) != "v49" {
		t.Fatalf("restored %d keys, want 50", len(resp.Kvs))
	}

	// A second run (the pod restarted) leaves the data alone.
	if outcome, err := Run(context.Background(), m, FileSource("/does/not/exist"), "x", zap.NewNop()); err != nil || outcome != HasData {
		t.Fatalf("second run: %s, %v", outcome, err)
	}
}

func TestACorruptSnapshotRestoresNothing(t *testing.T) {
	snap, res := snapshotWithKeys(t, 5)
	data, err := os.ReadFile(snap)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0xff
	if err := os.WriteFile(snap, data, 0o600); err != nil {
		t.Fatal(err)
	}
	m := member(t, "new")
	_, err = Run(context.Background(), m, FileSource(snap), res.SHA256, zap.NewNop())
	if err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("got %v, want a checksum error", err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(m.DataDir)); len(entries) != 0 {
		t.Fatalf("a failed restore left %v", entries)
	}
}

func TestAMemberThatJoinsLaterDoesNotRestore(t *testing.T) {
	m := member(t, "existing")
	outcome, err := Run(context.Background(), m, FileSource("/does/not/exist"), "x", zap.NewNop())
	if err != nil || outcome != JoinsExisting {
		t.Fatalf("got %s, %v", outcome, err)
	}
}
