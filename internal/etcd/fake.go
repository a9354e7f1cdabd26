package etcd

import (
	"context"
	"fmt"
	"sync"
)

// Fake is an in-memory Client for unit tests of the controllers' decisions.
// Set Members and Statuses (keyed by endpoint); an endpoint without a status
// fails its Status call as an unreachable member would. Err, when set, fails
// every call.
type Fake struct {
	mu       sync.Mutex
	Members  []Member
	Statuses map[string]*MemberStatus
	Err      error
}

var _ Client = (*Fake)(nil)

// Factory returns a ClientFactory that always hands out f.
func (f *Fake) Factory() ClientFactory {
	return func(context.Context, []string) (Client, error) { return f, nil }
}

func (f *Fake) MemberList(context.Context) ([]Member, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Err != nil {
		return nil, f.Err
	}
	return append([]Member(nil), f.Members...), nil
}

func (f *Fake) Status(_ context.Context, endpoint string) (*MemberStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Err != nil {
		return nil, f.Err
	}
	s, ok := f.Statuses[endpoint]
	if !ok {
		return nil, fmt.Errorf("status of etcd member at %s: unreachable", endpoint)
	}
	copied := *s
	return &copied, nil
}

func (f *Fake) Close() error { return nil }
