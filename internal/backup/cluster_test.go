package backup

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/quorum-operator/quorum/internal/testservers"
)

// testCluster is a real etcd cluster on loopback whose members reach each
// other only through peerProxy, so a test can cut members off from their
// peers while they keep answering clients: a network partition.
type testCluster struct {
	members []*testMember
}

type testMember struct {
	name      string
	clientURL string
	id        uint64
	proxy     *peerProxy
}

// startCluster runs n etcd members and waits until they have a leader.
func startCluster(t *testing.T, n int) *testCluster {
	t.Helper()
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: run the tests through 'make test'")
	}
	c := &testCluster{}
	var initial []string
	for i := range n {
		m := &testMember{name: fmt.Sprintf("m%d", i), clientURL: fmt.Sprintf("http://127.0.0.1:%d", testservers.FreePort(t))}
		m.proxy = startPeerProxy(t, c, fmt.Sprintf("http://127.0.0.1:%d", testservers.FreePort(t)))
		c.members = append(c.members, m)
		initial = append(initial, m.name+"="+m.proxy.url)
	}
	for _, m := range c.members {
		// The member listens on its own peer port; everyone, itself
		// included, is told to reach it through its proxy.
		testservers.Start(t, filepath.Join(assets, "etcd"), "--name", m.name, "--data-dir", t.TempDir(),
			"--listen-client-urls", m.clientURL, "--advertise-client-urls", m.clientURL,
			"--listen-peer-urls", m.proxy.target.String(), "--initial-advertise-peer-urls", m.proxy.url,
			"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-token", "backup-test",
			"--initial-cluster-state", "new")
	}
	cli := c.client(t)
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := cli.Put(ctx, "/ready", "yes")
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cluster did not take a write: %v", err)
		}
	}
	resp, err := cli.MemberList(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, pm := range resp.Members {
		for _, m := range c.members {
			if pm.Name == m.name {
				m.id = pm.ID
			}
		}
	}
	return c
}

// client reaches the members given, or all of them.
func (c *testCluster) client(t *testing.T, members ...*testMember) *clientv3.Client {
	t.Helper()
	if len(members) == 0 {
		members = c.members
	}
	var urls []string
	for _, m := range members {
		urls = append(urls, m.clientURL)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: urls, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// leader is the member that says it leads.
func (c *testCluster) leader(t *testing.T) *testMember {
	t.Helper()
	cli := c.client(t)
	for _, m := range c.members {
		st, err := cli.Status(context.Background(), m.clientURL)
		if err == nil && st.Leader == st.Header.MemberId {
			return m
		}
	}
	t.Fatal("no member leads")
	return nil
}

// others are the members but m.
func (c *testCluster) others(m *testMember) []*testMember {
	var out []*testMember
	for _, o := range c.members {
		if o != m {
			out = append(out, o)
		}
	}
	return out
}

// partition cuts m off from every other member: nothing reaches it through
// its proxy, and the others' proxies refuse what it sends. Connections
// already open are closed.
func (c *testCluster) partition(m *testMember) {
	m.proxy.setIsolated(true)
	for _, o := range c.members {
		o.proxy.cutStreams()
	}
}

// isolated says whether the member with this ID (hex, as etcd's peer
// requests carry it) is cut off.
func (c *testCluster) isolated(id string) bool {
	for _, m := range c.members {
		if fmt.Sprintf("%x", m.id) == id {
			return m.proxy.isIsolated()
		}
	}
	return false
}

// put writes n keys through the members given and returns the revision of
// the last, acknowledged, write.
func put(t *testing.T, cli *clientv3.Client, prefix string, n int) int64 {
	t.Helper()
	var rev int64
	for i := range n {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		resp, err := cli.Put(ctx, fmt.Sprintf("%s%03d", prefix, i), "v")
		cancel()
		if err != nil {
			t.Fatalf("put: %v", err)
		}
		rev = resp.Header.Revision
	}
	return rev
}

// peerProxy forwards a member's peer traffic (etcd's rafthttp over plain
// HTTP) and drops what a partition forbids. Every peer request carries
// its sender's member ID in X-Server-From.
type peerProxy struct {
	url     string
	target  *url.URL
	cluster *testCluster

	forward *httputil.ReverseProxy

	mu       sync.Mutex
	isolate  bool
	inflight map[*http.Request]context.CancelFunc
}

func startPeerProxy(t *testing.T, c *testCluster, proxyURL string) *peerProxy {
	t.Helper()
	target, err := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", testservers.FreePort(t)))
	if err != nil {
		t.Fatal(err)
	}
	p := &peerProxy{url: proxyURL, target: target, cluster: c, inflight: map[*http.Request]context.CancelFunc{}}
	u, err := url.Parse(proxyURL)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Addr: u.Host, Handler: p, ReadHeaderTimeout: 10 * time.Second}
	p.forward = httputil.NewSingleHostReverseProxy(target)
	p.forward.ErrorLog = log.New(io.Discard, "", 0)
	go func() { _ = srv.ListenAndServe() }()
	t.Cleanup(func() { _ = srv.Close() })
	return p
}

func (p *peerProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p.blocked(r) {
		http.Error(w, "partitioned", http.StatusServiceUnavailable)
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	r = r.WithContext(ctx)
	p.mu.Lock()
	p.inflight[r] = cancel
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.inflight, r)
		p.mu.Unlock()
	}()
	p.forward.ServeHTTP(w, r)
}

func (p *peerProxy) blocked(r *http.Request) bool {
	return p.isIsolated() || p.cluster.isolated(r.Header.Get("X-Server-From"))
}

func (p *peerProxy) setIsolated(v bool) {
	p.mu.Lock()
	p.isolate = v
	p.mu.Unlock()
}

func (p *peerProxy) isIsolated() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.isolate
}

// cutStreams ends the open requests a partition now forbids (raft's
// long-lived streams).
func (p *peerProxy) cutStreams() {
	p.mu.Lock()
	open := map[*http.Request]context.CancelFunc{}
	for r, cancel := range p.inflight {
		open[r] = cancel
	}
	p.mu.Unlock()
	for r, cancel := range open {
		if p.blocked(r) {
			cancel()
		}
	}
}
