package etcd

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// dialTimeout bounds connection setup; each call is bounded by its context.
const dialTimeout = 5 * time.Second

type realClient struct {
	c *clientv3.Client
}

// NewClient is the ClientFactory over go.etcd.io/etcd/client/v3.
func NewClient(_ context.Context, endpoints []string) (Client, error) {
	c, err := clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: dialTimeout,
		// The client's own logger is noisy at info level; errors reach the
		// controller as returned values.
		Logger: zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("connect to etcd %v: %w", endpoints, err)
	}
	return &realClient{c: c}, nil
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
	return &MemberStatus{
		MemberID:  resp.Header.MemberId,
		ClusterID: resp.Header.ClusterId,
		Leader:    resp.Leader,
		Version:   resp.Version,
		DBSize:    resp.DbSize,
		Revision:  resp.Header.Revision,
		RaftIndex: resp.RaftIndex,
		IsLearner: resp.IsLearner,
		Errors:    resp.Errors,
	}, nil
}

func (r *realClient) Close() error { return r.c.Close() }
