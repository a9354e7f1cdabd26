package etcdsim

import (
	"context"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// counters are the simulator's figures since it started.
type counters struct {
	mu    sync.Mutex
	rpcs  map[string]int64 // by method name
	conns atomic.Int64
}

func (c *counters) rpc(method string) {
	c.mu.Lock()
	c.rpcs[method]++
	c.mu.Unlock()
}

// countRPCs counts every unary and streaming call by its method name
// (MemberList, Status, ...).
func (s *Server) countUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	s.counters.rpc(shortMethod(info.FullMethod))
	return h(ctx, req)
}

func (s *Server) countStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	s.counters.rpc(shortMethod(info.FullMethod))
	return h(srv, ss)
}

func shortMethod(full string) string {
	return full[strings.LastIndexByte(full, '/')+1:]
}

// services implements the etcd API on top of state.
type services struct {
	pb.UnimplementedClusterServer
	pb.UnimplementedMaintenanceServer
	pb.UnimplementedKVServer
	s *Server
}

// at finds the cluster and member the call reached, by the address the
// client dialled, and locks the state; the caller unlocks it.
func (v *services) at(ctx context.Context) (*cluster, *member, error) {
	p, ok := peer.FromContext(ctx)
	if !ok || p.LocalAddr == nil {
		return nil, nil, status.Error(codes.Internal, "etcdsim: no local address")
	}
	host, _, err := net.SplitHostPort(p.LocalAddr.String())
	if err != nil {
		return nil, nil, status.Error(codes.Internal, err.Error())
	}
	st := v.s.state
	st.mu.Lock()
	c := st.byIP[host]
	if c == nil {
		st.mu.Unlock()
		return nil, nil, status.Error(codes.Unavailable, "etcdsim: no member at "+host)
	}
	c.settle()
	m := c.memberAt(host)
	if m == nil {
		st.mu.Unlock()
		return nil, nil, status.Error(codes.Unavailable, "etcdsim: the pod at "+host+" is no member")
	}
	return c, m, nil
}

// atLeader is at for the calls that need a leader: without one it unlocks
// and fails as etcd does.
func (v *services) atLeader(ctx context.Context) (*cluster, *member, error) {
	c, m, err := v.at(ctx)
	if err != nil {
		return nil, nil, err
	}
	if c.leader == 0 {
		v.unlock()
		return nil, nil, rpctypes.ErrGRPCNoLeader
	}
	return c, m, nil
}

func (v *services) unlock() { v.s.state.mu.Unlock() }

func (c *cluster) header(m *member) *pb.ResponseHeader {
	return &pb.ResponseHeader{ClusterId: c.id, MemberId: m.id, Revision: c.revision, RaftTerm: 2}
}

func (c *cluster) pbMembers() []*pb.Member {
	out := make([]*pb.Member, 0, len(c.members))
	for _, m := range c.members {
		pm := &pb.Member{ID: m.id, Name: m.name, PeerURLs: []string{m.peerURL}, IsLearner: m.learner}
		if m.name != "" {
			scheme := "http"
			if c.secret != "" {
				scheme = "https"
			}
			pm.ClientURLs = []string{scheme + "://" + m.host + "." + c.name + "-peer." + c.ns + ".svc:2379"}
		}
		out = append(out, pm)
	}
	return out
}

func (v *services) MemberList(ctx context.Context, _ *pb.MemberListRequest) (*pb.MemberListResponse, error) {
	c, m, err := v.at(ctx)
	if err != nil {
		return nil, err
	}
	defer v.unlock()
	c.lastList = time.Now()
	if c.leader == 0 {
		return nil, rpctypes.ErrGRPCNoLeader
	}
	return &pb.MemberListResponse{Header: c.header(m), Members: c.pbMembers()}, nil
}

func (v *services) MemberAdd(ctx context.Context, r *pb.MemberAddRequest) (*pb.MemberAddResponse, error) {
	c, m, err := v.atLeader(ctx)
	if err != nil {
		return nil, err
	}
	defer v.unlock()
	if len(r.PeerURLs) != 1 {
		return nil, status.Error(codes.InvalidArgument, "etcdsim: one peer URL")
	}
	for _, o := range c.members {
		if o.peerURL == r.PeerURLs[0] {
			return nil, rpctypes.ErrGRPCPeerURLExist
		}
		if r.IsLearner && o.learner {
			return nil, rpctypes.ErrGRPCTooManyLearners
		}
	}
	method := "MemberAdd"
	if r.IsLearner {
		method = "MemberAddAsLearner"
	}
	nm := &member{id: newID(), host: hostOf(r.PeerURLs[0]), peerURL: r.PeerURLs[0], learner: r.IsLearner}
	c.members = append(c.members, nm)
	c.record(method)
	c.settle()
	return &pb.MemberAddResponse{Header: c.header(m), Member: &pb.Member{ID: nm.id, PeerURLs: []string{nm.peerURL}, IsLearner: nm.learner}, Members: c.pbMembers()}, nil
}

func (v *services) MemberPromote(ctx context.Context, r *pb.MemberPromoteRequest) (*pb.MemberPromoteResponse, error) {
	c, m, err := v.atLeader(ctx)
	if err != nil {
		return nil, err
	}
	defer v.unlock()
	l := c.byID(r.ID)
	switch {
	case l == nil:
		return nil, rpctypes.ErrGRPCMemberNotFound
	case !l.learner:
		return nil, rpctypes.ErrGRPCMemberNotLearner
	case !c.up(l):
		// A learner catches up as soon as it runs, not before.
		return nil, rpctypes.ErrGRPCLearnerNotReady
	}
	l.learner = false
	c.record("MemberPromote")
	c.settle()
	return &pb.MemberPromoteResponse{Header: c.header(m), Members: c.pbMembers()}, nil
}

func (v *services) MemberRemove(ctx context.Context, r *pb.MemberRemoveRequest) (*pb.MemberRemoveResponse, error) {
	c, m, err := v.atLeader(ctx)
	if err != nil {
		return nil, err
	}
	defer v.unlock()
	i := slices.IndexFunc(c.members, func(o *member) bool { return o.id == r.ID })
	if i < 0 {
		return nil, rpctypes.ErrGRPCMemberNotFound
	}
	c.members = slices.Delete(c.members, i, i+1)
	c.record("MemberRemove")
	if c.leader == r.ID {
		c.leader = 0
	}
	c.settle()
	return &pb.MemberRemoveResponse{Header: c.header(m), Members: c.pbMembers()}, nil
}

func (v *services) Status(ctx context.Context, _ *pb.StatusRequest) (*pb.StatusResponse, error) {
	c, m, err := v.at(ctx)
	if err != nil {
		return nil, err
	}
	defer v.unlock()
	p, _ := peer.FromContext(ctx)
	ip, _, _ := net.SplitHostPort(p.LocalAddr.String())
	resp := &pb.StatusResponse{
		Header: c.header(m), Version: c.version(ip), DbSize: 1 << 20, DbSizeInUse: 1 << 19, Leader: c.leader,
		RaftIndex: c.raft, RaftTerm: 2, RaftAppliedIndex: c.raft, IsLearner: m.learner, StorageVersion: "3.6.0",
	}
	if c.leader == 0 {
		resp.Errors = []string{"etcdserver: no leader"}
	}
	return resp, nil
}

func (v *services) MoveLeader(ctx context.Context, r *pb.MoveLeaderRequest) (*pb.MoveLeaderResponse, error) {
	c, m, err := v.at(ctx)
	if err != nil {
		return nil, err
	}
	defer v.unlock()
	if c.leader != m.id {
		return nil, rpctypes.ErrGRPCNotLeader
	}
	t := c.byID(r.TargetID)
	if t == nil || t.learner || !c.up(t) {
		return nil, rpctypes.ErrGRPCBadLeaderTransferee
	}
	c.leader = t.id
	c.record("MoveLeader")
	return &pb.MoveLeaderResponse{Header: c.header(m)}, nil
}

func (v *services) Alarm(ctx context.Context, r *pb.AlarmRequest) (*pb.AlarmResponse, error) {
	c, m, err := v.at(ctx)
	if err != nil {
		return nil, err
	}
	defer v.unlock()
	if r.Action == pb.AlarmRequest_DEACTIVATE {
		c.record("AlarmDisarm")
	}
	return &pb.AlarmResponse{Header: c.header(m)}, nil
}

func (v *services) Downgrade(ctx context.Context, r *pb.DowngradeRequest) (*pb.DowngradeResponse, error) {
	c, m, err := v.at(ctx)
	if err != nil {
		return nil, err
	}
	defer v.unlock()
	c.record("Downgrade" + r.Action.String())
	return &pb.DowngradeResponse{Header: c.header(m), Version: c.version("")}, nil
}

func (v *services) HashKV(ctx context.Context, _ *pb.HashKVRequest) (*pb.HashKVResponse, error) {
	c, m, err := v.at(ctx)
	if err != nil {
		return nil, err
	}
	defer v.unlock()
	return &pb.HashKVResponse{Header: c.header(m), Hash: uint32(c.id), CompactRevision: 1, HashRevision: c.revision}, nil
}

func (v *services) Hash(ctx context.Context, _ *pb.HashRequest) (*pb.HashResponse, error) {
	c, m, err := v.at(ctx)
	if err != nil {
		return nil, err
	}
	defer v.unlock()
	return &pb.HashResponse{Header: c.header(m), Hash: uint32(c.id)}, nil
}
