package etcd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// dialTimeout bounds connection setup; each call is bounded by its context.
const dialTimeout = 5 * time.Second

type realClient struct {
	c   *clientv3.Client
	tls *tls.Config
}

// NewClient is the ClientFactory over go.etcd.io/etcd/client/v3.
func NewClient(_ context.Context, endpoints []string, tlsConfig *tls.Config) (Client, error) {
	c, err := dial(endpoints, tlsConfig)
	if err != nil {
		return nil, err
	}
	return &realClient{c: c, tls: tlsConfig}, nil
}

func dial(endpoints []string, tlsConfig *tls.Config) (*clientv3.Client, error) {
	c, err := clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: dialTimeout,
		TLS:         tlsConfig,
		// The client's own logger is noisy at info level; errors reach the
		// controller as returned values.
		Logger: zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("connect to etcd %v: %w", endpoints, err)
	}
	return c, nil
}

func (r *realClient) MemberList(ctx context.Context) ([]Member, error) {
	resp, err := r.c.MemberList(ctx)
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
	resp, err := r.c.Status(ctx, endpoint)
	if err != nil {
		return nil, fmt.Errorf("status of etcd member at %s: %w", endpoint, err)
	}
	st := &MemberStatus{
		MemberID:  resp.Header.MemberId,
		ClusterID: resp.Header.ClusterId,
		Leader:    resp.Leader,
		Version:   resp.Version,
		DBSize:    resp.DbSize,
		Revision:  resp.Header.Revision,
		RaftIndex: resp.RaftIndex,
		Applied:   resp.RaftAppliedIndex,
		IsLearner: resp.IsLearner,

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
	if _, err := r.c.AlarmDisarm(ctx, &clientv3.AlarmMember{MemberID: alarm.MemberID, Alarm: pb.AlarmType(t)}); err != nil {
		return fmt.Errorf("disarm etcd alarm %s of member %x: %w", alarm.Type, alarm.MemberID, err)
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
	if _, err := r.c.Downgrade(ctx, clientv3.DowngradeValidate, target); err != nil {
		return fmt.Errorf("validate downgrade to %s: %w", target, err)
	}
	if _, err := r.c.Downgrade(ctx, clientv3.DowngradeEnable, target); err != nil {
		return fmt.Errorf("enable downgrade to %s: %w", target, err)
	}
	return nil
}

func (r *realClient) AddLearner(ctx context.Context, peerURL string) (*Member, error) {
	if m, err := r.memberWithPeerURL(ctx, peerURL); err != nil || m != nil {
		return m, err
	}
	resp, err := r.c.MemberAddAsLearner(ctx, []string{peerURL})
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
	if _, err := r.c.MemberPromote(ctx, id); err != nil {
		return fmt.Errorf("promote etcd learner %x: %w", id, err)
	}
	return nil
}

func (r *realClient) Remove(ctx context.Context, id uint64) error {
	_, err := r.c.MemberRemove(ctx, id)
	if err != nil && !errors.Is(rpctypes.Error(err), rpctypes.ErrMemberNotFound) {
		return fmt.Errorf("remove etcd member %x: %w", id, err)
	}
	return nil
}

func (r *realClient) MoveLeader(ctx context.Context, leaderEndpoint string, transferee uint64) error {
	// MoveLeader must reach the leader itself, so it gets a client of its own.
	c, err := dial([]string{leaderEndpoint}, r.tls)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.MoveLeader(ctx, transferee); err != nil {
		return fmt.Errorf("move etcd leadership to %x: %w", transferee, err)
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
		if strings.Contains(err.Error(), notYet.Error()) {
			return true
		}
	}
	return false
}

func (r *realClient) Close() error { return r.c.Close() }
