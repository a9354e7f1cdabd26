package etcdsim

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
)

// ClientPort is where members serve clients.
const ClientPort = 2379

// labelCluster selects member pods and bootstrap ConfigMaps (see
// internal/resources).
const labelCluster = "etcd.quorum.dev/cluster"

// Server is the simulator: the etcd API on every running member pod's IP.
type Server struct {
	// Port is where members serve clients: ClientPort unless a test
	// needs another.
	Port int

	state    *state
	counters *counters
	grpc     *grpc.Server
	// grpcTLS serves the members of clusters with TLS.
	grpcTLS *grpc.Server
	certs   *memberCerts

	mu        sync.Mutex
	listeners map[string]*ipListener // by IP

	cms cache.Store // bootstrap ConfigMaps
}

// New makes a simulator; Run starts it.
func New() *Server {
	s := &Server{Port: ClientPort, state: newState(), counters: &counters{rpcs: map[string]int64{}}, listeners: map[string]*ipListener{}}
	count := []grpc.ServerOption{grpc.ChainUnaryInterceptor(s.countUnary), grpc.ChainStreamInterceptor(s.countStream)}
	s.grpc = grpc.NewServer(count...)
	s.grpcTLS = grpc.NewServer(append(count, grpc.Creds(credentials.NewTLS(&tls.Config{GetConfigForClient: s.serverConfig})))...)
	v := &services{s: s}
	for _, g := range []*grpc.Server{s.grpc, s.grpcTLS} {
		pb.RegisterClusterServer(g, v)
		pb.RegisterMaintenanceServer(g, v)
		pb.RegisterKVServer(g, v)
	}
	return s
}

// Run watches member pods and bootstrap ConfigMaps through cfg until ctx
// ends, serving each running member pod's IP.
func (s *Server) Run(ctx context.Context, cfg *rest.Config) error {
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	s.certs = &memberCerts{kube: kube, byNS: map[string]*cachedCert{}}
	f := informers.NewSharedInformerFactoryWithOptions(kube, 0, informers.WithTweakListOptions(func(o *v1.ListOptions) {
		o.LabelSelector = labelCluster
	}))
	cmInf := f.Core().V1().ConfigMaps().Informer()
	s.cms = cmInf.GetStore()
	podInf := f.Core().V1().Pods().Informer()
	if _, err := podInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { s.syncPod(o) },
		UpdateFunc: func(_, o any) { s.syncPod(o) },
		DeleteFunc: func(o any) { s.deletePod(o) },
	}); err != nil {
		return err
	}
	if _, err := cmInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { s.syncConfigMap(o) },
		UpdateFunc: func(_, o any) { s.syncConfigMap(o) },
	}); err != nil {
		return err
	}
	f.Start(ctx.Done())
	<-ctx.Done()
	f.Shutdown()
	s.grpc.Stop()
	s.grpcTLS.Stop()
	s.mu.Lock()
	for _, l := range s.listeners {
		_ = l.Close()
	}
	s.mu.Unlock()
	return nil
}

func (s *Server) syncPod(o any) {
	p, ok := o.(*corev1.Pod)
	if !ok {
		return
	}
	name := p.Labels[labelCluster]
	if name == "" {
		return
	}
	running := p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" && p.DeletionTimestamp == nil
	np := pod{ip: p.Status.PodIP, running: running, version: imageVersion(p)}
	st := s.state
	st.mu.Lock()
	c := st.cluster(p.Namespace, name)
	old := c.pods[p.Name]
	c.pods[p.Name] = np
	if sec := memberSecret(p); sec != "" {
		c.secret = sec
	}
	if old.ip != "" && old.ip != np.ip {
		delete(st.byIP, old.ip)
	}
	if np.ip != "" {
		st.byIP[np.ip] = c
	}
	if running && len(c.members) == 0 {
		s.bootstrap(c)
	}
	c.settle()
	sick := c.sick
	st.mu.Unlock()

	if old.ip != "" && old.ip != np.ip {
		s.closeListener(old.ip)
	}
	if running && sick != Refuse {
		s.ensureListener(np.ip)
	} else if !running && np.ip != "" {
		s.closeListener(np.ip)
	}
}

func (s *Server) deletePod(o any) {
	if d, ok := o.(cache.DeletedFinalStateUnknown); ok {
		o = d.Obj
	}
	p, ok := o.(*corev1.Pod)
	if !ok {
		return
	}
	st := s.state
	st.mu.Lock()
	c := st.cluster(p.Namespace, p.Labels[labelCluster])
	old := c.pods[p.Name]
	delete(c.pods, p.Name)
	if old.ip != "" && st.byIP[old.ip] == c {
		delete(st.byIP, old.ip)
	}
	c.settle()
	st.mu.Unlock()
	if old.ip != "" {
		s.closeListener(old.ip)
	}
}

func (s *Server) syncConfigMap(o any) {
	cm, ok := o.(*corev1.ConfigMap)
	if !ok {
		return
	}
	st := s.state
	st.mu.Lock()
	defer st.mu.Unlock()
	c := st.cluster(cm.Namespace, cm.Labels[labelCluster])
	if len(c.members) == 0 {
		for _, p := range c.pods {
			if p.running {
				s.bootstrap(c)
				c.settle()
				return
			}
		}
	}
}

// bootstrap forms a new cluster from its bootstrap ConfigMap, as its first
// member to start does. The state lock is held.
func (s *Server) bootstrap(c *cluster) {
	if s.cms == nil {
		return
	}
	o, ok, _ := s.cms.GetByKey(c.ns + "/" + c.name + "-config")
	if !ok {
		return
	}
	cm := o.(*corev1.ConfigMap)
	if cm.Data["ETCD_INITIAL_CLUSTER_STATE"] != "new" {
		return
	}
	c.bootstrap(cm.Data["ETCD_INITIAL_CLUSTER"])
}

func imageVersion(p *corev1.Pod) string {
	for _, ct := range p.Spec.Containers {
		if ct.Name == "etcd" {
			if i := strings.LastIndex(ct.Image, ":v"); i >= 0 {
				return ct.Image[i+2:]
			}
		}
	}
	return ""
}

// ipListener serves one member pod's IP. Connections to a cluster that
// hangs are accepted and never answered.
type ipListener struct {
	net.Listener
	s     *Server
	ip    string
	mu    sync.Mutex
	conns map[net.Conn]bool
	// hung are the connections accepted while the cluster hung.
	hung map[net.Conn]bool
}

func (s *Server) ensureListener(ip string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listeners[ip] != nil {
		return
	}
	l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(s.Port)))
	if err != nil {
		log.Printf("listen on %s: %v", ip, err)
		return
	}
	il := &ipListener{Listener: l, s: s, ip: ip, conns: map[net.Conn]bool{}, hung: map[net.Conn]bool{}}
	s.listeners[ip] = il
	srv := s.grpc
	s.state.mu.Lock()
	if c := s.state.byIP[ip]; c != nil && c.secret != "" {
		srv = s.grpcTLS
	}
	s.state.mu.Unlock()
	go func() { _ = srv.Serve(il) }()
}

func (s *Server) closeListener(ip string) {
	s.mu.Lock()
	l := s.listeners[ip]
	delete(s.listeners, ip)
	s.mu.Unlock()
	if l != nil {
		_ = l.Close()
		l.dropConns()
	}
}

func (l *ipListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		l.s.counters.conns.Add(1)
		st := l.s.state
		st.mu.Lock()
		var sick string
		if cl := st.byIP[l.ip]; cl != nil {
			sick = cl.sick
			cl.conns++
		}
		st.mu.Unlock()
		if sick == Hang {
			l.mu.Lock()
			l.hung[c] = true
			l.mu.Unlock()
			go func() {
				_, _ = io.Copy(io.Discard, c)
				_ = c.Close()
				l.mu.Lock()
				delete(l.hung, c)
				l.mu.Unlock()
			}()
			continue
		}
		tc := &trackedConn{Conn: c, l: l}
		l.mu.Lock()
		l.conns[tc] = true
		l.mu.Unlock()
		return tc, nil
	}
}

// dropConns closes the connections served so far, and those left hanging,
// so clients that kept them dial again (and meet the cluster's new state).
func (l *ipListener) dropConns() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for c := range l.conns {
		_ = c.(*trackedConn).Conn.Close()
		delete(l.conns, c)
	}
	for c := range l.hung {
		_ = c.Close()
	}
}

type trackedConn struct {
	net.Conn
	l *ipListener
}

func (c *trackedConn) Close() error {
	c.l.mu.Lock()
	delete(c.l.conns, c)
	c.l.mu.Unlock()
	return c.Conn.Close()
}

// SetSick makes the cluster ns/name answer as mode says (Healthy, Hang or
// Refuse).
func (s *Server) SetSick(ns, name, mode string) error {
	if mode != Healthy && mode != Hang && mode != Refuse {
		return fmt.Errorf("unknown mode %q", mode)
	}
	st := s.state
	st.mu.Lock()
	c, ok := st.clusters[ns+"/"+name]
	if !ok {
		st.mu.Unlock()
		return errors.New("no such cluster")
	}
	c.sick = mode
	var ips []string
	for _, p := range c.pods {
		if p.running {
			ips = append(ips, p.ip)
		}
	}
	st.mu.Unlock()
	for _, ip := range ips {
		switch mode {
		case Refuse:
			s.closeListener(ip)
		case Hang:
			s.mu.Lock()
			l := s.listeners[ip]
			s.mu.Unlock()
			if l != nil {
				l.dropConns()
			}
		default:
			s.mu.Lock()
			l := s.listeners[ip]
			s.mu.Unlock()
			if l != nil {
				l.dropConns()
			}
			s.ensureListener(ip)
		}
	}
	return nil
}

// Stats are the simulator's counters.
type Stats struct {
	Time     time.Time        `json:"time"`
	RPCs     map[string]int64 `json:"rpcs"`
	Conns    int64            `json:"conns"`
	Clusters int              `json:"clusters"`
	Members  int              `json:"members"`
}

// Stats reads the counters.
func (s *Server) Stats() Stats {
	out := Stats{Time: time.Now(), RPCs: map[string]int64{}, Conns: s.counters.conns.Load()}
	s.counters.mu.Lock()
	for k, v := range s.counters.rpcs {
		out.RPCs[k] = v
	}
	s.counters.mu.Unlock()
	s.state.mu.Lock()
	out.Clusters = len(s.state.clusters)
	for _, c := range s.state.clusters {
		out.Members += len(c.members)
	}
	s.state.mu.Unlock()
	return out
}

// ClusterInfo is what the simulator knows of one cluster.
type ClusterInfo struct {
	Members  int       `json:"members"`
	Learners int       `json:"learners"`
	Leader   bool      `json:"leader"`
	Sick     string    `json:"sick,omitempty"`
	Calls    []Call    `json:"calls"`
	LastList time.Time `json:"lastList"`
	Conns    int64     `json:"conns"`
}

// Cluster describes the cluster ns/name.
func (s *Server) Cluster(ns, name string) (ClusterInfo, bool) {
	st := s.state
	st.mu.Lock()
	defer st.mu.Unlock()
	c, ok := st.clusters[ns+"/"+name]
	if !ok {
		return ClusterInfo{}, false
	}
	info := ClusterInfo{Leader: c.leader != 0, Sick: c.sick, Calls: append([]Call(nil), c.calls...), LastList: c.lastList, Conns: c.conns}
	for _, m := range c.members {
		info.Members++
		if m.learner {
			info.Learners++
		}
	}
	return info, true
}

// ListedSince counts the clusters whose member list was read at or after t:
// those an operator has looked at since.
func (s *Server) ListedSince(t time.Time) int {
	st := s.state
	st.mu.Lock()
	defer st.mu.Unlock()
	n := 0
	for _, c := range st.clusters {
		if !c.lastList.Before(t) {
			n++
		}
	}
	return n
}
