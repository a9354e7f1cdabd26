package testservers

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Credentials of the S3 server.
const (
	S3AccessKey = "quorum-test"
	S3SecretKey = "quorum-test-secret"
)

// FreePort is a loopback TCP port nothing listens on now.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Start runs a server for the test and kills it after; its output is
// logged if the test failed.
func Start(t testing.TB, binary string, args ...string) {
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

func requiredEnv(t testing.TB, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Fatalf("%s is not set: run the tests through 'make test'", name)
	}
	return v
}

// Etcd runs a one-member etcd on dataDir and returns its client URL and a
// client, once it takes writes.
func Etcd(t testing.TB, dataDir string, extraArgs ...string) (string, *clientv3.Client) {
	t.Helper()
	client, peer := FreePort(t), FreePort(t)
	url := fmt.Sprintf("http://127.0.0.1:%d", client)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peer)
	args := append([]string{"--data-dir", dataDir, "--listen-client-urls", url, "--advertise-client-urls", url,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL, "--initial-cluster", "default=" + peerURL}, extraArgs...)
	Start(t, filepath.Join(requiredEnv(t, "KUBEBUILDER_ASSETS"), "etcd"), args...)
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{url}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := cli.Status(ctx, url)
		cancel()
		if err == nil {
			return url, cli
		}
		if time.Now().After(deadline) {
			t.Fatalf("etcd did not answer: %v", err)
		}
	}
}

// S3 runs versitygw over a temporary directory with the given bucket and
// returns its endpoint and a client.
func S3(t testing.TB, bucket string) (string, *minio.Client) {
	t.Helper()
	endpoint := fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	Start(t, requiredEnv(t, "VERSITYGW"), "--access", S3AccessKey, "--secret", S3SecretKey, "--port", endpoint, "posix", t.TempDir())
	cli, err := minio.New(endpoint, &minio.Options{Creds: credentials.NewStaticV4(S3AccessKey, S3SecretKey, ""), BucketLookup: minio.BucketLookupPath})
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		err := cli.MakeBucket(context.Background(), bucket, minio.MakeBucketOptions{})
		if err == nil {
			return endpoint, cli
		}
		if time.Now().After(deadline) {
			t.Fatalf("S3 server did not answer: %v", err)
		}
	}
}
