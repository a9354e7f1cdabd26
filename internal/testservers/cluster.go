package testservers

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Member is one etcd process of a cluster started by EtcdCluster. A test
// can kill it and start it again on the same data directory and ports, to
// see what clients make of a member that dies.
type Member struct {
	Name, ClientURL string

	t      testing.TB
	binary string
	args   []string
	logs   bytes.Buffer // every run's output, shown if the test failed

	mu  sync.Mutex
	cmd *exec.Cmd // nil while the member is stopped
}

// EtcdCluster runs n etcd members on loopback that form one cluster, and
// returns them once the cluster answers a linearizable read. The members
// are killed when the test ends. extraArgs are given to every member.
func EtcdCluster(t testing.TB, n int, extraArgs ...string) []*Member {
	t.Helper()
	binary := filepath.Join(requiredEnv(t, "KUBEBUILDER_ASSETS"), "etcd")
	members := make([]*Member, n)
	peers := make([]string, n)
	initial := make([]string, n)
	for i := range members {
		members[i] = &Member{Name: fmt.Sprintf("m%d", i), ClientURL: fmt.Sprintf("http://127.0.0.1:%d", FreePort(t)), t: t, binary: binary}
		peers[i] = fmt.Sprintf("http://127.0.0.1:%d", FreePort(t))
		initial[i] = members[i].Name + "=" + peers[i]
	}
	dataDir := t.TempDir()
	for i, m := range members {
		// The initial-cluster flags only matter on the first start: a
		// member that restarts finds its data directory and ignores them.
		m.args = []string{"--name", m.Name, "--data-dir", filepath.Join(dataDir, m.Name),
			"--listen-client-urls", m.ClientURL, "--advertise-client-urls", m.ClientURL,
			"--listen-peer-urls", peers[i], "--initial-advertise-peer-urls", peers[i],
			"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-token", "testservers",
			"--initial-cluster-state", "new"}
		m.args = append(m.args, extraArgs...)
		m.Restart()
		t.Cleanup(func() {
			m.Kill()
			if t.Failed() {
				t.Logf("etcd %s output:\n%s", m.Name, m.logs.String())
			}
		})
	}
	waitForQuorum(t, members)
	return members
}

// ClientURLs are the client URLs of the members.
func ClientURLs(members []*Member) []string {
	urls := make([]string, len(members))
	for i, m := range members {
		urls[i] = m.ClientURL
	}
	return urls
}

// Kill stops the member at once (SIGKILL), as a crash would; it does
// nothing if the member is not running.
func (m *Member) Kill() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil {
		return
	}
	_ = m.cmd.Process.Kill()
	_ = m.cmd.Wait()
	m.cmd = nil
}

// Restart starts the member again (or the first time) with the same data
// directory, ports and flags; it does nothing if the member is running.
func (m *Member) Restart() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd != nil {
		return
	}
	cmd := exec.Command(m.binary, m.args...)
	// The buffer is shared by every run; exec copies into it from one
	// goroutine per run, and runs do not overlap.
	cmd.Stdout, cmd.Stderr = &m.logs, &m.logs
	if err := cmd.Start(); err != nil {
		m.t.Fatalf("start etcd %s: %v", m.Name, err)
	}
	m.cmd = cmd
}

// waitForQuorum waits until a linearizable read succeeds, which needs a
// leader and a quorum; a read writes nothing a test might trip over.
func waitForQuorum(t testing.TB, members []*Member) {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: ClientURLs(members), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := cli.Get(ctx, "testservers-ready")
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the etcd cluster did not answer a read: %v", err)
		}
	}
}
