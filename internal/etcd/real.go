package etcd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// realClient keeps one connection per member and sends every call over
// them with the raw gRPC stubs. clientv3's own Status, MoveLeader and
// HashKV open a new connection to the endpoint on every call, and its
// balancer connects to every endpoint besides: an operator that looks at
// hundreds of clusters every few seconds would spend its time in TLS
// handshakes. The stubs also fail fast on a member whose connection is
// down (gRPC's default), where clientv3 waits for it until the deadline.
type realClient struct {
	tls *tls.Config

	mu    sync.Mutex
	conns map[string]*memberConn // by endpoint
	order []string               // endpoints as last given
}

var _ Client = (*realClient)(nil)

// NewClient is the ClientFactory over gRPC connections to each member.
func NewClient(_ context.Context, _ string, endpoints []string, tlsConfig *tls.Config) (Client, error) {
	r := &realClient{tls: tlsConfig, conns: map[string]*memberConn{}}
	if err := r.SetEndpoints(endpoints); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// SetEndpoints makes endpoints the members the client talks to: it keeps
// the connections it has to those, opens the missing ones and closes the
// others. Connecting happens in the background, on first use.
func (r *realClient) SetEndpoints(endpoints []string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	keep := map[string]bool{}
	for _, ep := range endpoints {
		keep[ep] = true
		if r.conns[ep] != nil {
			continue
		}
		mc, err := dialMember(ep, r.tls)
		if err != nil {
			return err
		}
		r.conns[ep] = mc
	}
	for ep, mc := range r.conns {
		if !keep[ep] {
			mc.close()
			delete(r.conns, ep)
		}
	}
	r.order = slices.Clone(endpoints)
	return nil
}

// member is the connection to endpoint, which must be one of the client's.
func (r *realClient) member(endpoint string) (*memberConn, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if mc := r.conns[endpoint]; mc != nil {
		return mc, nil
	}
	return nil, fmt.Errorf("etcd member %s is not among the client's endpoints %v", endpoint, r.order)
}

// candidates are the connections to try for a call any member can serve:
// those that are up first, those that are down last, each group in the
// order the endpoints were given.
func (r *realClient) candidates() []*memberConn {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*memberConn, 0, len(r.order))
	for _, ep := range r.order {
		out = append(out, r.conns[ep])
	}
	slices.SortStableFunc(out, func(a, b *memberConn) int { return a.rank() - b.rank() })
	return out
}

// anyMember runs call against the members in turn until one answers,
// stopping early when the context ends or etcd itself refuses (an error
// other than the member being unreachable).
func (r *realClient) anyMember(ctx context.Context, call func(*memberConn) error) error {
	var errs []error
	for _, mc := range r.candidates() {
		err := call(mc)
		if err == nil {
			return nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", mc.endpoint, err))
		if ctx.Err() != nil || !unreachable(err) {
			return err
		}
	}
	if len(errs) == 0 {
		return errors.New("no etcd endpoint to call")
	}
	return errors.Join(errs...)
}

func (r *realClient) MemberList(ctx context.Context) ([]Member, error) {
	var resp *pb.MemberListResponse
	err := r.anyMember(ctx, func(mc *memberConn) (err error) {
		resp, err = mc.cluster.MemberList(ctx, &pb.MemberListRequest{Linearizable: true})
		return rpcError(err)
	})
	if err != nil {
		return nil, fmt.Errorf("list etcd members: %w", err)
	}
	members := make([]Member, 0, len(resp.Members))
	for _, m := range resp.Members {
		members = append(members, Member{
			ID: m.ID, Name: m.Name, PeerURLs: m.PeerURLs, ClientURLs: m.ClientURLs, IsLearner: m.IsLearner,
		})
	}
	return members, nil
}

func (r *realClient) Status(ctx context.Context, endpoint string) (*MemberStatus, error) {
	mc, err := r.member(endpoint)
	if err != nil {
		return nil, err
	}
	resp, err := mc.maintenance.Status(ctx, &pb.StatusRequest{})
	if err != nil {
		return nil, fmt.Errorf("status of etcd member at %s: %w", endpoint, rpcError(err))
	}
	st := &MemberStatus{
		MemberID:    resp.Header.MemberId,
		ClusterID:   resp.Header.ClusterId,
		Leader:      resp.Leader,
		Version:     resp.Version,
		DBSize:      resp.DbSize,
		DBSizeInUse: resp.DbSizeInUse,
		Revision:    resp.Header.Revision,
		RaftIndex:   resp.RaftIndex,
		Applied:     resp.RaftAppliedIndex,
		IsLearner:   resp.IsLearner,

		StorageVersion:  resp.StorageVersion,
		DowngradeTarget: downgradeTarget(resp.DowngradeInfo),
	}
	st.Errors, st.Alarms = SplitAlarms(resp.Errors)
	return st, nil
}

func (r *realClient) DisarmAlarm(ctx context.Context, alarm Alarm) error {
	t, ok := pb.AlarmType_value[alarm.Type]
	if !ok {
		return fmt.Errorf("disarm etcd alarm: unknown alarm type %q", alarm.Type)
	}
	req := &pb.AlarmRequest{Action: pb.AlarmRequest_DEACTIVATE, MemberID: alarm.MemberID, Alarm: pb.AlarmType(t)}
	err := r.anyMember(ctx, func(mc *memberConn) error {
		_, err := mc.maintenance.Alarm(ctx, req)
		return rpcError(err)
	})
	if err != nil {
		return fmt.Errorf("disarm etcd alarm %s of member %x: %w", alarm.Type, alarm.MemberID, err)
	}
	return nil
}

func (r *realClient) Compact(ctx context.Context, revision int64) error {
	err := r.anyMember(ctx, func(mc *memberConn) error {
		_, err := mc.kv.Compact(ctx, &pb.CompactionRequest{Revision: revision})
		return rpcError(err)
	})
	if err != nil && !errors.Is(err, rpctypes.ErrCompacted) {
		return fmt.Errorf("compact etcd to revision %d: %w", revision, err)
	}
	return nil
}

// Defragment is sent to the member itself: each member defragments only
// its own database.
func (r *realClient) Defragment(ctx context.Context, endpoint string) error {
	mc, err := r.member(endpoint)
	if err != nil {
		return err
	}
	if _, err := mc.maintenance.Defragment(ctx, &pb.DefragmentRequest{}); err != nil {
		return fmt.Errorf("defragment etcd member at %s: %w", endpoint, rpcError(err))
	}
	return nil
}

func downgradeTarget(info *pb.DowngradeInfo) string {
	if info == nil || !info.Enabled {
		return ""
	}
	return info.TargetVersion
}

func (r *realClient) EnableDowngrade(ctx context.Context, target string) error {
	for _, action := range []pb.DowngradeRequest_DowngradeAction{pb.DowngradeRequest_VALIDATE, pb.DowngradeRequest_ENABLE} {
		err := r.anyMember(ctx, func(mc *memberConn) error {
			_, err := mc.maintenance.Downgrade(ctx, &pb.DowngradeRequest{Action: action, Version: target})
			return rpcError(err)
		})
		if err != nil {
			return fmt.Errorf("%s downgrade to %s: %w", strings.ToLower(action.String()), target, err)
		}
	}
	return nil
}

func (r *realClient) AddLearner(ctx context.Context, peerURL string) (*Member, error) {
	if m, err := r.memberWithPeerURL(ctx, peerURL); err != nil || m != nil {
		return m, err
	}
	var resp *pb.MemberAddResponse
	err := r.anyMember(ctx, func(mc *memberConn) (err error) {
		resp, err = mc.cluster.MemberAdd(ctx, &pb.MemberAddRequest{PeerURLs: []string{peerURL}, IsLearner: true})
		return rpcError(err)
	})
	if err != nil {
		return nil, fmt.Errorf("add etcd learner %s: %w", peerURL, err)
	}
	return &Member{ID: resp.Member.ID, PeerURLs: resp.Member.PeerURLs, IsLearner: true}, nil
}

func (r *realClient) memberWithPeerURL(ctx context.Context, peerURL string) (*Member, error) {
	members, err := r.MemberList(ctx)
	if err != nil {
		return nil, err
	}
	for _, m := range members {
		if slices.Contains(m.PeerURLs, peerURL) {
			return &m, nil
		}
	}
	return nil, nil
}

func (r *realClient) Promote(ctx context.Context, id uint64) error {
	err := r.anyMember(ctx, func(mc *memberConn) error {
		_, err := mc.cluster.MemberPromote(ctx, &pb.MemberPromoteRequest{ID: id})
		return rpcError(err)
	})
	if err != nil {
		return fmt.Errorf("promote etcd learner %x: %w", id, err)
	}
	return nil
}

func (r *realClient) Remove(ctx context.Context, id uint64) error {
	err := r.anyMember(ctx, func(mc *memberConn) error {
		_, err := mc.cluster.MemberRemove(ctx, &pb.MemberRemoveRequest{ID: id})
		return rpcError(err)
	})
	if err != nil && !errors.Is(err, rpctypes.ErrMemberNotFound) {
		return fmt.Errorf("remove etcd member %x: %w", id, err)
	}
	return nil
}

// MoveLeader is sent to the leader itself: only it can hand leadership on.
func (r *realClient) MoveLeader(ctx context.Context, leaderEndpoint string, transferee uint64) error {
	mc, err := r.member(leaderEndpoint)
	if err != nil {
		return err
	}
	if _, err := mc.maintenance.MoveLeader(ctx, &pb.MoveLeaderRequest{TargetID: transferee}); err != nil {
		return fmt.Errorf("move etcd leadership to %x: %w", transferee, rpcError(err))
	}
	return nil
}

// IsNotYet says whether err is etcd refusing a membership change for now,
// not for good: a learner that has not caught up, or a cluster whose members
// have not all been connected for the last few seconds (etcd's strict
// reconfiguration check). The caller waits and tries again; it is not a
// failure to back off from.
func IsNotYet(err error) bool {
	if err == nil {
		return false
	}
	for _, notYet := range []error{rpctypes.ErrMemberLearnerNotReady, rpctypes.ErrUnhealthy} {
		// The message, not errors.Is: the gRPC status form wrapped in
		// other errors has no typed error to match.
		if errors.Is(err, notYet) || strings.Contains(err.Error(), notYet.Error()) {
			return true
		}
	}
	return false
}

func (r *realClient) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for ep, mc := range r.conns {
		mc.close()
		delete(r.conns, ep)
	}
	return nil
}

// rpcError turns a gRPC status etcd sent into the rpctypes error it
// stands for, so callers match it with errors.Is (rpctypes.ErrUnhealthy,
// ErrMemberNotFound...). Other errors are returned as they are.
func rpcError(err error) error {
	if err == nil {
		return nil
	}
	return rpctypes.Error(err)
}

// unreachable says whether err means the member could not be reached, as
// opposed to etcd answering with a refusal: only then is another member
// worth asking.
func unreachable(err error) bool {
	var etcdErr rpctypes.EtcdError
	return !errors.As(err, &etcdErr)
}
