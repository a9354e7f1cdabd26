package verify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/quorum-operator/quorum/internal/backup"
	"github.com/quorum-operator/quorum/internal/jobexit"
	"github.com/quorum-operator/quorum/internal/restore"
	"github.com/quorum-operator/quorum/internal/testservers"
)

// The tests take a real snapshot from a real etcd (internal/testservers;
// 'make test' provides the binaries) and verify it with the real restore
// and a real embedded etcd.

// history writes 200 keys, deletes 50, compacts at the midpoint and
// overwrites 20, so the hash covers puts, tombstones and a compaction.
func history(t *testing.T, cli *clientv3.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range 200 {
		if _, err := cli.Put(ctx, fmt.Sprintf("/k/%03d", i), strings.Repeat("v", i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 50 {
		if _, err := cli.Delete(ctx, fmt.Sprintf("/k/%03d", i)); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := cli.Get(ctx, "/k/100")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Compact(ctx, resp.Header.Revision-100, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if _, err := cli.Put(ctx, fmt.Sprintf("/k/%03d", 100+i), "again"); err != nil {
			t.Fatal(err)
		}
	}
}

// takeBackup runs a member with history and backs it up to a file.
func takeBackup(t *testing.T) (backup.Result, string, *clientv3.Client) {
	t.Helper()
	url, cli := testservers.Etcd(t, t.TempDir())
	history(t, cli)
	path := filepath.Join(t.TempDir(), "b.db")
	res, err := backup.Take(context.Background(), url, nil, backup.FileSink{Path: path, Location: "pvc://c/b.db"})
	if err != nil {
		t.Fatal(err)
	}
	if res.KVHash == nil || res.KVHash.Keys != 150 || res.KVHash.CompactRevision == 0 {
		t.Fatalf("the backup recorded %+v, want a HashKV over 150 keys after a compaction", res.KVHash)
	}
	return res, path, cli
}

func run(t *testing.T, src restore.Source, want Expected) (Result, error) {
	t.Helper()
	return Run(context.Background(), src, want, t.TempDir(), zap.NewNop())
}

func TestAGoodBackupPasses(t *testing.T) {
	b, path, _ := takeBackup(t)
	start := time.Now()
	res, err := run(t, restore.FileSource(path), Expected{SHA256: b.SHA256, KVHash: b.KVHash})
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	t.Logf("verified a %d-byte snapshot in %s: %s", b.SizeBytes, time.Since(start).Round(time.Millisecond), res.Message)
	if !res.Passed || *res.Restored != *b.KVHash || res.Revision < b.Revision {
		t.Fatalf("got %+v (restored %+v), the member recorded %+v", res, res.Restored, b.KVHash)
	}
}

func TestAWrongRecordedHashFails(t *testing.T) {
	b, path, _ := takeBackup(t)
	wrong := *b.KVHash
	wrong.Hash++
	_, err := run(t, restore.FileSource(path), Expected{SHA256: b.SHA256, KVHash: &wrong})
	var m *Mismatch
	if !errors.As(err, &m) || !strings.Contains(err.Error(), fmt.Sprintf("the member had %d", wrong.Hash)) {
		t.Fatalf("got %v, want a mismatch of the HashKV", err)
	}
	wrong = *b.KVHash
	wrong.Keys++
	if _, err := run(t, restore.FileSource(path), Expected{SHA256: b.SHA256, KVHash: &wrong}); !errors.As(err, &m) || !strings.Contains(err.Error(), "keys at revision") {
		t.Fatalf("got %v, want a mismatch of the key count", err)
	}
}

// A compaction between the snapshot and the hash, below the snapshot's
// revision, leaves the member's hash over fewer revisions; the copy is
// compacted alike before comparing. (A compaction at exactly the revision
// makes etcd answer with the hash it stored while compacting, computed
// over the earlier compaction, which the copy matches as it is.)
func TestAHashTakenAfterALaterCompactionStillMatches(t *testing.T) {
	b, path, cli := takeBackup(t)
	ctx := context.Background()
	if _, err := cli.Put(ctx, "/after", "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Compact(ctx, b.Revision-5, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	h, err := cli.HashKV(ctx, cli.Endpoints()[0], b.Revision)
	if err != nil {
		t.Fatal(err)
	}
	later := &backup.KVHash{Revision: b.Revision, CompactRevision: h.CompactRevision, Hash: h.Hash, Keys: b.KVHash.Keys}
	if later.Hash == b.KVHash.Hash {
		t.Fatal("the compaction did not change the hash; the test shows nothing")
	}
	if _, err := run(t, restore.FileSource(path), Expected{SHA256: b.SHA256, KVHash: later}); err != nil {
		t.Fatalf("verify against the hash after a compaction: %v", err)
	}
}

func TestAFlippedByteFails(t *testing.T) {
	b, path, _ := takeBackup(t)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0xff
	corrupt := filepath.Join(t.TempDir(), "corrupt.db")
	if err := os.WriteFile(corrupt, data, 0o600); err != nil {
		t.Fatal(err)
	}
	var m *Mismatch
	_, err = run(t, restore.FileSource(corrupt), Expected{SHA256: b.SHA256, KVHash: b.KVHash})
	if !errors.As(err, &m) || !strings.Contains(err.Error(), "the backup recorded "+b.SHA256) {
		t.Fatalf("got %v, want a SHA-256 mismatch", err)
	}
	// With the SHA-256 of the corrupt bytes, as if the object had been
	// corrupted before it was first hashed, etcd's own checks catch it.
	sum := sha256.Sum256(data)
	_, err = run(t, restore.FileSource(corrupt), Expected{SHA256: hex.EncodeToString(sum[:]), KVHash: b.KVHash})
	if !errors.As(err, &m) {
		t.Fatalf("got %v, want a mismatch from snapshot status or restore", err)
	}
	t.Logf("with a matching SHA-256: %v", err)
}

func TestACorruptedObjectInTheBucketFailsTheCommand(t *testing.T) {
	b, path, _ := takeBackup(t)
	endpoint, s3 := testservers.S3(t, "backups")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/3] ^= 0x01
	put := func() {
		if _, err := s3.PutObject(context.Background(), "backups", "ns/c/b.db", strings.NewReader(string(data)), int64(len(data)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	put()
	kv, _ := json.Marshal(b.KVHash)
	log := filepath.Join(t.TempDir(), "termination-log")
	t.Setenv("AWS_ACCESS_KEY_ID", testservers.S3AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", testservers.S3SecretKey)
	args := []string{"--s3-endpoint=" + endpoint, "--s3-bucket=backups", "--s3-key=ns/c/b.db", "--s3-path-style", "--s3-insecure",
		"--sha256=" + b.SHA256, "--kv-hash=" + string(kv), "--termination-log=" + log}
	verify := func() (int, Result) {
		code := Command(append(args, "--work-dir="+t.TempDir()))
		var res Result
		raw, err := os.ReadFile(log)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, &res); err != nil {
			t.Fatalf("termination log %q: %v", raw, err)
		}
		return code, res
	}
	if code, res := verify(); code != jobexit.Permanent || res.Passed || !strings.Contains(res.Message, "SHA-256") {
		t.Fatalf("corrupt object: exit %d, result %+v", code, res)
	}
	data[len(data)/3] ^= 0x01
	put()
	if code, res := verify(); code != jobexit.OK || !res.Passed || res.Restored == nil || res.Restored.Hash != b.KVHash.Hash {
		t.Fatalf("repaired object: exit %d, result %+v", code, res)
	}
}

// An idle cluster's compactor compacts at the current revision, so the
// snapshot is compacted at exactly its revision, while the member answers
// HashKV there with the hash it stored while compacting, over the history
// before. No copy can reproduce that hash: it is not compared (the rest
// is), and the verification must not fail a good snapshot for it.
func TestASnapshotCompactedAtItsRevisionIsNotFailed(t *testing.T) {
	url, cli := testservers.Etcd(t, t.TempDir())
	history(t, cli)
	ctx := context.Background()
	resp, err := cli.Get(ctx, "/k/100")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Compact(ctx, resp.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "b.db")
	b, err := backup.Take(ctx, url, nil, backup.FileSink{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	if b.Revision != resp.Header.Revision || b.KVHash == nil || b.KVHash.CompactRevision >= b.Revision {
		t.Fatalf("the backup recorded %+v at revision %d; the test needs the member's stored hash from its compaction at %d", b.KVHash, b.Revision, resp.Header.Revision)
	}
	res, err := run(t, restore.FileSource(path), Expected{SHA256: b.SHA256, KVHash: b.KVHash})
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if !res.Passed || !strings.Contains(res.Message, "not compared") || res.Restored.Keys != b.KVHash.Keys {
		t.Fatalf("got %+v", res)
	}
	t.Log(res.Message)
	wrong := *b.KVHash
	wrong.Keys++
	if _, err := run(t, restore.FileSource(path), Expected{SHA256: b.SHA256, KVHash: &wrong}); err == nil {
		t.Fatal("a wrong key count passed when the hash cannot be compared")
	}
}
