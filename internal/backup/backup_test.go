package backup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// The tests run a real etcd (KUBEBUILDER_ASSETS/etcd, as envtest) and a
// real S3 server (VERSITYGW), both on loopback; 'make test' sets both.

const (
	accessKey = "quorum-test"
	secretKey = "quorum-test-secret"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startProcess runs a server for the test and stops it after.
func startProcess(t *testing.T, binary string, args ...string) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	logs := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", binary, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(binary), logs.String())
		}
	})
}

func requiredEnv(t *testing.T, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Fatalf("%s is not set: run the tests through 'make test'", name)
	}
	return v
}

// startEtcd runs a one-member etcd with a few keys and returns its URL.
func startEtcd(t *testing.T) string {
	t.Helper()
	etcdBin := filepath.Join(requiredEnv(t, "KUBEBUILDER_ASSETS"), "etcd")
	client, peer := freePort(t), freePort(t)
	url := fmt.Sprintf("http://127.0.0.1:%d", client)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peer)
	startProcess(t, etcdBin, "--data-dir", t.TempDir(), "--listen-client-urls", url, "--advertise-client-urls", url,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL, "--initial-cluster", "default="+peerURL)
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{url}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; i < 100; {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := cli.Put(ctx, fmt.Sprintf("/k/%03d", i), "v")
		cancel()
		if err == nil {
			i++
		} else if time.Now().After(deadline) {
			t.Fatalf("etcd did not take writes: %v", err)
		}
	}
	return url
}

// startS3 runs versitygw over a temporary directory with bucket "backups".
func startS3(t *testing.T) (endpoint string, cli *minio.Client) {
	t.Helper()
	root := t.TempDir()
	endpoint = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	startProcess(t, requiredEnv(t, "VERSITYGW"), "--access", accessKey, "--secret", secretKey, "--port", endpoint, "posix", root)
	cli, err := S3Sink{Endpoint: endpoint, AccessKey: accessKey, SecretKey: secretKey, PathStyle: true, Insecure: true}.client()
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := cli.MakeBucket(context.Background(), "backups", minio.MakeBucketOptions{})
		if err == nil {
			return endpoint, cli
		}
		if time.Now().After(deadline) {
			t.Fatalf("S3 server did not answer: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func s3Sink(endpoint, bucket, key string) S3Sink {
	return S3Sink{Endpoint: endpoint, Bucket: bucket, Key: key, AccessKey: accessKey, SecretKey: secretKey, PathStyle: true, Insecure: true}
}

func TestSnapshotToS3IsStoredWhole(t *testing.T) {
	member := startEtcd(t)
	endpoint, cli := startS3(t)

	res, err := Take(context.Background(), member, s3Sink(endpoint, "backups", "ns/main/b1.db"))
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
	res, err := Take(context.Background(), member, FileSink{Path: path, Location: "pvc://claim/ns/main/b1.db"})
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
