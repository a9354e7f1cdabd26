package etcdsim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

// The members of the test cluster t/c listen on loopback addresses
// 127.0.0.2 and up, which Linux serves without any route.
func memberIP(i int) string { return fmt.Sprintf("127.0.0.%d", 2+i) }

func peerURL(i int) string { return fmt.Sprintf("http://c-%d.c-peer.t.svc:2380", i) }

func runningPod(i int) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("c-%d", i), Namespace: "t", Labels: map[string]string{labelCluster: "c"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "etcd", Image: "gcr.io/etcd-development/etcd:v3.6.16"}}},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning, PodIP: memberIP(i)},
	}
}

func newTestServer(t *testing.T) *Server {
	t.Helper()
	l, err := net.Listen("tcp", memberIP(0)+":0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	s := New()
	s.Port = port
	s.cms = cache.NewStore(cache.MetaNamespaceKeyFunc)
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "c-config", Namespace: "t", Labels: map[string]string{labelCluster: "c"}},
		Data: map[string]string{
			"ETCD_INITIAL_CLUSTER":       fmt.Sprintf("c-0=%s,c-1=%s,c-2=%s", peerURL(0), peerURL(1), peerURL(2)),
			"ETCD_INITIAL_CLUSTER_STATE": "new",
		},
	}
	if err := s.cms.Add(cm); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.grpc.Stop()
		for ip := range s.listeners {
			s.closeListener(ip)
		}
	})
	return s
}

func (s *Server) endpoint(i int) string { return fmt.Sprintf("http://%s:%d", memberIP(i), s.Port) }

func dial(t *testing.T, endpoints ...string) *clientv3.Client {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestMembership drives a cluster through the calls the operator makes:
// it forms from the bootstrap settings once its pods run, answers status
// as the member dialled, refuses to promote a learner whose pod does not
// run yet, and promotes it once it runs.
func TestMembership(t *testing.T) {
	s := newTestServer(t)
	for i := range 3 {
		s.syncPod(runningPod(i))
	}
	c := dial(t, s.endpoint(0), s.endpoint(1), s.endpoint(2))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	list, err := c.MemberList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]uint64{}
	for _, m := range list.Members {
		if m.IsLearner {
			t.Errorf("member %s is a learner after bootstrap", m.Name)
		}
		ids[m.Name] = m.ID
	}
	if len(ids) != 3 || ids["c-0"] == 0 || ids["c-2"] == 0 {
		t.Fatalf("members after bootstrap: %v", list.Members)
	}
	st, err := c.Status(ctx, s.endpoint(1))
	if err != nil {
		t.Fatal(err)
	}
	if st.Header.MemberId != ids["c-1"] || st.Leader == 0 || len(st.Errors) != 0 {
		t.Errorf("status of c-1: member %x (want %x), leader %x, errors %v", st.Header.MemberId, ids["c-1"], st.Leader, st.Errors)
	}

	added, err := c.MemberAddAsLearner(ctx, []string{peerURL(3)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.MemberPromote(ctx, added.Member.ID)
	if !errors.Is(rpctypes.Error(err), rpctypes.ErrMemberLearnerNotReady) {
		t.Fatalf("promote of a learner whose pod does not run: %v, want %v", err, rpctypes.ErrMemberLearnerNotReady)
	}
	s.syncPod(runningPod(3))
	if _, err := c.MemberPromote(ctx, added.Member.ID); err != nil {
		t.Fatal(err)
	}
	list, err = c.MemberList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range list.Members {
		if m.ID == added.Member.ID && (m.IsLearner || m.Name != "c-3") {
			t.Errorf("promoted member: %v", m)
		}
	}
	info, _ := s.Cluster("t", "c")
	var methods []string
	for _, call := range info.Calls {
		methods = append(methods, call.Method)
	}
	if fmt.Sprint(methods) != "[MemberAddAsLearner MemberPromote]" {
		t.Errorf("recorded calls %v", methods)
	}
}

// TestHang: a sick cluster's members accept connections and never answer;
// healed, they answer again.
func TestHang(t *testing.T) {
	s := newTestServer(t)
	for i := range 3 {
		s.syncPod(runningPod(i))
	}
	c := dial(t, s.endpoint(0))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.MemberList(ctx); err != nil {
		t.Fatal(err)
	}
	conns := s.Stats().Conns
	if err := s.SetSick("t", "c", Hang); err != nil {
		t.Fatal(err)
	}
	short, cancelShort := context.WithTimeout(ctx, 500*time.Millisecond)
	_, err := c.MemberList(short)
	cancelShort()
	if err == nil {
		t.Fatal("a hanging member answered")
	}
	if s.Stats().Conns <= conns {
		t.Errorf("the client did not connect again after its connection was dropped: %d connections", s.Stats().Conns)
	}
	if err := s.SetSick("t", "c", Healthy); err != nil {
		t.Fatal(err)
	}
	// The client redials with backoff; the member answers once it does.
	deadline := time.Now().Add(8 * time.Second)
	for {
		short, cancelShort := context.WithTimeout(ctx, time.Second)
		_, err := c.MemberList(short)
		cancelShort()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a healed member does not answer: %v", err)
		}
	}
}
