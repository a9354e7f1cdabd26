package testservers

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/quorum-operator/quorum/internal/pki"
)

// TLSFiles are PEM files of one certificate, its key and the CA to trust.
type TLSFiles struct{ Cert, Key, CA string }

// EtcdTLS runs a one-member etcd that requires client certificates, with
// a CA made for the test. It returns the client URL, a client that
// presents a valid certificate, and the files of that certificate.
func EtcdTLS(t testing.TB, dataDir string) (string, *clientv3.Client, TLSFiles) {
	t.Helper()
	dir := t.TempDir()
	now := time.Now()
	ca, err := pki.NewCA("test CA", now)
	if err != nil {
		t.Fatal(err)
	}
	server := writeLeaf(t, dir, "server", ca, pki.Leaf{CommonName: "server", DNSNames: []string{"localhost"},
		IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Server: true, Client: true}, now)
	client := writeLeaf(t, dir, "client", ca, pki.Leaf{CommonName: "client", Client: true}, now)

	port, peer := FreePort(t), FreePort(t)
	url := fmt.Sprintf("https://127.0.0.1:%d", port)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peer)
	Start(t, filepath.Join(requiredEnv(t, "KUBEBUILDER_ASSETS"), "etcd"), "--data-dir", dataDir,
		"--listen-client-urls", url, "--advertise-client-urls", url,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL, "--initial-cluster", "default="+peerURL,
		"--cert-file", server.Cert, "--key-file", server.Key, "--trusted-ca-file", server.CA, "--client-cert-auth")

	cfg, err := pki.ClientConfig(readFile(t, client.Cert), readFile(t, client.Key), readFile(t, client.CA), "")
	if err != nil {
		t.Fatal(err)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{url}, DialTimeout: 5 * time.Second, TLS: cfg, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := cli.Status(ctx, url)
		cancel()
		if err == nil {
			return url, cli, client
		}
		if time.Now().After(deadline) {
			t.Fatalf("etcd did not answer over TLS: %v", err)
		}
	}
}

func writeLeaf(t testing.TB, dir, name string, ca *pki.CA, leaf pki.Leaf, now time.Time) TLSFiles {
	t.Helper()
	cert, key, err := ca.Issue(leaf, now)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := pki.EncodeKey(key)
	if err != nil {
		t.Fatal(err)
	}
	f := TLSFiles{Cert: filepath.Join(dir, name+".crt"), Key: filepath.Join(dir, name+".key"), CA: filepath.Join(dir, "ca.crt")}
	for path, data := range map[string][]byte{f.Cert: pki.EncodeCert(cert), f.Key: keyPEM, f.CA: pki.EncodeCert(ca.Cert)} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
