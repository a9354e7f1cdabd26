package backup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/quorum-operator/quorum/internal/testservers"
)

// The tests run a real etcd and a real S3 server on loopback
// (internal/testservers); 'make test' provides both.

// startEtcd runs a one-member etcd with 100 keys and returns its URL.
func startEtcd(t *testing.T) string {
	t.Helper()
	url, cli := testservers.Etcd(t, t.TempDir())
	for i := range 100 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := cli.Put(ctx, fmt.Sprintf("/k/%03d", i), "v")
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	return url
}

func startS3(t *testing.T) (string, *minio.Client) {
	t.Helper()
	return testservers.S3(t, "backups")
}

func s3Sink(endpoint, bucket, key string) S3Object {
	return S3Object{Endpoint: endpoint, Bucket: bucket, Key: key, AccessKey: testservers.S3AccessKey,
		SecretKey: testservers.S3SecretKey, PathStyle: true, Insecure: true}
}

func TestSnapshotToS3IsStoredWhole(t *testing.T) {
	member := startEtcd(t)
	endpoint, cli := startS3(t)

	res, err := Take(context.Background(), member, nil, s3Sink(endpoint, "backups", "ns/main/b1.db"))
	if err != nil {
		t.Fatalf("backup: %v", err)
	}
	if res.Location != "s3://backups/ns/main/b1.db" || res.Revision < 101 || res.EtcdVersion == "" || res.SizeBytes == 0 {
		t.Fatalf("unexpected result %+v", res)
	}
	obj, err := cli.GetObject(context.Background(), "backups", "ns/main/b1.db", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.New()
	n, err := io.Copy(digest, obj)
	if err != nil {
		t.Fatalf("read the object back: %v", err)
	}
	if n != res.SizeBytes || hex.EncodeToString(digest.Sum(nil)) != res.SHA256 {
		t.Fatalf("object has %d bytes, sha256 %x; the result says %d, %s", n, digest.Sum(nil), res.SizeBytes, res.SHA256)
	}
}

func TestSnapshotToFileAppearsOnlyWhenComplete(t *testing.T) {
	member := startEtcd(t)
	path := filepath.Join(t.TempDir(), "ns", "main", "b1.db")
	res, err := Take(context.Background(), member, nil, FileSink{Path: path, Location: "pvc://claim/ns/main/b1.db"})
	if err != nil {
		t.Fatalf("backup: %v", err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(data); int64(len(data)) != res.SizeBytes || hex.EncodeToString(sum[:]) != res.SHA256 {
		t.Fatalf("file does not match the result %+v", res)
	}
	if _, err := os.Stat(path + ".partial"); !os.IsNotExist(err) {
		t.Fatalf("a .partial file is left: %v", err)
	}
}

// brokenReader fails after some bytes, as a member dying mid-snapshot.
type brokenReader struct{ left int }

func (b *brokenReader) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, errors.New("connection reset")
	}
	n := min(len(p), b.left)
	b.left -= n
	return n, nil
}

func TestAnInterruptedBackupLeavesNothingThatLooksComplete(t *testing.T) {
	endpoint, cli := startS3(t)
	// More than one part, so the multipart upload has begun when it fails.
	if _, err := s3Sink(endpoint, "backups", "cut.db").Put(context.Background(), &brokenReader{left: partSize + 1<<20}); err == nil {
		t.Fatal("an upload of a broken stream succeeded")
	}
	if _, err := cli.StatObject(context.Background(), "backups", "cut.db", minio.StatObjectOptions{}); minio.ToErrorResponse(err).Code != "NoSuchKey" {
		t.Fatalf("after a failed upload the object is there or unknown: %v", err)
	}

	path := filepath.Join(t.TempDir(), "cut.db")
	if _, err := (FileSink{Path: path}).Put(context.Background(), &brokenReader{left: 1 << 20}); err == nil {
		t.Fatal("writing a broken stream succeeded")
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 0 {
		t.Fatalf("files left after a failed write: %v", entries)
	}
}

func TestAMissingBucketOrWrongCredentialsArePermanent(t *testing.T) {
	endpoint, _ := startS3(t)
	_, err := s3Sink(endpoint, "no-such-bucket", "x.db").Put(context.Background(), bytes.NewReader([]byte("data")))
	if !IsPermanent(err) {
		t.Fatalf("missing bucket: got %v, want a permanent error", err)
	}
	wrong := s3Sink(endpoint, "backups", "x.db")
	wrong.SecretKey = "wrong"
	if _, err := wrong.Put(context.Background(), bytes.NewReader([]byte("data"))); !IsPermanent(err) {
		t.Fatalf("wrong secret: got %v, want a permanent error", err)
	}
}
