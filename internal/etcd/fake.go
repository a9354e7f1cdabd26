package etcd

import (
	"context"
	"crypto/tls"
	"fmt"
	"slices"
	"sync"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

var errLearnerNotReady = rpctypes.ErrMemberLearnerNotReady

// Fake is an in-memory Client for unit tests of the controllers' decisions.
// Set Members and Statuses (keyed by endpoint); an endpoint without a status
// fails its Status call as an unreachable member would. Err, when set, fails
// every call.
type Fake struct {
	// The embedded mutex guards every field; tests that change fields while
	// a controller runs hold it.
	sync.Mutex
	Members  []Member
	Statuses map[string]*MemberStatus
	Err      error
	// NotCaughtUp makes Promote refuse as etcd does for a lagging learner.
	NotCaughtUp bool
	// InUseAfterCompact, when set, is each member's DBSizeInUse after
	// Compact (at most what it was).
	InUseAfterCompact int64
	// Calls records each membership change, e.g. "add http://...",
	// "promote 5", "remove 3", "move-leader 2".
	Calls  []string
	nextID uint64
}

var _ Client = (*Fake)(nil)

// Factory returns a ClientFactory that always hands out f.
func (f *Fake) Factory() ClientFactory {
	return func(context.Context, string, []string, *tls.Config) (Client, error) { return f, nil }
}

func (f *Fake) MemberList(context.Context) ([]Member, error) {
	f.Lock()
	defer f.Unlock()
	if f.Err != nil {
		return nil, f.Err
	}
	return append([]Member(nil), f.Members...), nil
}

func (f *Fake) Status(_ context.Context, endpoint string) (*MemberStatus, error) {
	f.Lock()
	defer f.Unlock()
	if f.Err != nil {
		return nil, f.Err
	}
	s, ok := f.Statuses[endpoint]
	if !ok {
		return nil, fmt.Errorf("status of etcd member at %s: unreachable", endpoint)
	}
	copied := *s
	copied.Alarms = slices.Clone(s.Alarms)
	return &copied, nil
}

func (f *Fake) AddLearner(_ context.Context, peerURL string) (*Member, error) {
	f.Lock()
	defer f.Unlock()
	if f.Err != nil {
		return nil, f.Err
	}
	for _, m := range f.Members {
		if slices.Contains(m.PeerURLs, peerURL) {
			return &m, nil
		}
	}
	f.nextID++
	m := Member{ID: 1000 + f.nextID, PeerURLs: []string{peerURL}, IsLearner: true}
	f.Members = append(f.Members, m)
	f.Calls = append(f.Calls, "add "+peerURL)
	return &m, nil
}

func (f *Fake) Promote(_ context.Context, id uint64) error {
	f.Lock()
	defer f.Unlock()
	if f.Err != nil {
		return f.Err
	}
	if f.NotCaughtUp {
		return fmt.Errorf("promote etcd learner %x: %w", id, errLearnerNotReady)
	}
	for i := range f.Members {
		if f.Members[i].ID == id {
			f.Members[i].IsLearner = false
			f.Calls = append(f.Calls, fmt.Sprintf("promote %d", id))
			return nil
		}
	}
	return fmt.Errorf("promote etcd learner %x: member not found", id)
}

func (f *Fake) Remove(_ context.Context, id uint64) error {
	f.Lock()
	defer f.Unlock()
	if f.Err != nil {
		return f.Err
	}
	f.Members = slices.DeleteFunc(f.Members, func(m Member) bool { return m.ID == id })
	f.Calls = append(f.Calls, fmt.Sprintf("remove %d", id))
	return nil
}

func (f *Fake) MoveLeader(_ context.Context, _ string, transferee uint64) error {
	f.Lock()
	defer f.Unlock()
	if f.Err != nil {
		return f.Err
	}
	for _, s := range f.Statuses {
		s.Leader = transferee
	}
	f.Calls = append(f.Calls, fmt.Sprintf("move-leader %d", transferee))
	return nil
}

// EnableDowngrade marks the downgrade on every member's status.
func (f *Fake) EnableDowngrade(_ context.Context, target string) error {
	f.Lock()
	defer f.Unlock()
	if f.Err != nil {
		return f.Err
	}
	for _, s := range f.Statuses {
		s.DowngradeTarget = target
	}
	f.Calls = append(f.Calls, "downgrade-enable "+target)
	return nil
}

func (f *Fake) Close() error { return nil }

// DisarmAlarm clears the alarm from every member's status.
func (f *Fake) DisarmAlarm(_ context.Context, alarm Alarm) error {
	f.Lock()
	defer f.Unlock()
	if f.Err != nil {
		return f.Err
	}
	for _, s := range f.Statuses {
		s.Alarms = slices.DeleteFunc(s.Alarms, func(a Alarm) bool { return a == alarm })
	}
	f.Calls = append(f.Calls, fmt.Sprintf("disarm %s %d", alarm.Type, alarm.MemberID))
	return nil
}

// Compact records the compaction. With InUseAfterCompact set, every
// member's data shrinks to it, as the history compaction discards would.
func (f *Fake) Compact(_ context.Context, revision int64) error {
	f.Lock()
	defer f.Unlock()
	if f.Err != nil {
		return f.Err
	}
	if f.InUseAfterCompact > 0 {
		for _, s := range f.Statuses {
			s.DBSizeInUse = min(s.DBSizeInUse, f.InUseAfterCompact)
		}
	}
	f.Calls = append(f.Calls, fmt.Sprintf("compact %d", revision))
	return nil
}

// Defragment shrinks the member's database to the part in use.
func (f *Fake) Defragment(_ context.Context, endpoint string) error {
	f.Lock()
	defer f.Unlock()
	if f.Err != nil {
		return f.Err
	}
	s, ok := f.Statuses[endpoint]
	if !ok {
		return fmt.Errorf("defragment etcd member at %s: unreachable", endpoint)
	}
	s.DBSize = s.DBSizeInUse
	f.Calls = append(f.Calls, "defrag "+endpoint)
	return nil
}
