package etcd_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/quorum-operator/quorum/internal/etcd"
	"github.com/quorum-operator/quorum/internal/testservers"
)

// threeMembers starts a real 3-member cluster behind counting proxies and
// returns the proxies, whose URLs the client dials, and the members.
func threeMembers(t *testing.T) ([]*testservers.Proxy, []*testservers.Member) {
	members := testservers.EtcdCluster(t, 3)
	proxies := make([]*testservers.Proxy, len(members))
	for i, m := range members {
		proxies[i] = testservers.NewProxy(t, m.ClientURL)
	}
	return proxies, members
}

// dialAll opens a client to every proxied member, closed when the test
// ends, and a context for the test's calls.
func dialAll(t *testing.T, proxies []*testservers.Proxy) (context.Context, etcd.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	cli, err := etcd.NewClient(ctx, "test/cluster", urls(proxies), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return ctx, cli
}

func urls(proxies []*testservers.Proxy) []string {
	out := make([]string, len(proxies))
	for i, p := range proxies {
		out[i] = p.URL
	}
	return out
}

func accepted(proxies []*testservers.Proxy) int {
	n := 0
	for _, p := range proxies {
		n += p.Accepted()
	}
	return n
}

// The operator looks at every cluster every few seconds: the client keeps
// one connection per member across calls, where clientv3 opens a new one
// for each Status and MoveLeader.
func TestClientKeepsOneConnectionPerMember(t *testing.T) {
	proxies, _ := threeMembers(t)
	ctx, cli := dialAll(t, proxies)

	var leader string
	var leaderID, followerID uint64
	for range 10 {
		if _, err := cli.MemberList(ctx); err != nil {
			t.Fatal(err)
		}
		for _, p := range proxies {
			st, err := cli.Status(ctx, p.URL)
			if err != nil {
				t.Fatal(err)
			}
			if st.Leader == st.MemberID {
				leader, leaderID = p.URL, st.MemberID
			} else {
				followerID = st.MemberID
			}
		}
	}
	if err := cli.MoveLeader(ctx, leader, followerID); err != nil {
		t.Fatalf("move leader from %x to %x: %v", leaderID, followerID, err)
	}
	if got := accepted(proxies); got != len(proxies) {
		t.Errorf("connections opened for 10 rounds of member list and status and a leader move: got %d, want %d (one per member)", got, len(proxies))
	}
}

// Membership changes go through any member that answers.
func TestClientAddsPromotesAndRemoves(t *testing.T) {
	proxies, _ := threeMembers(t)
	ctx, cli := dialAll(t, proxies)

	const peer = "http://127.0.0.1:1" // never started: stays a learner
	// etcd refuses membership changes until its members have been
	// connected for a few seconds after they started.
	var added *etcd.Member
	var err error
	for added == nil {
		added, err = cli.AddLearner(ctx, peer)
		if err != nil && (!etcd.IsNotYet(err) || ctx.Err() != nil) {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond) // the poll interval; ctx is the deadline
	}
	again, err := cli.AddLearner(ctx, peer)
	if err != nil || again.ID != added.ID {
		t.Fatalf("adding the same peer URL again: want the existing member %x, got %+v, %v", added.ID, again, err)
	}
	if err := cli.Promote(ctx, added.ID); !etcd.IsNotYet(err) {
		t.Errorf("promoting a learner that never started: want etcd's not-yet refusal, got %v", err)
	}
	if err := cli.Remove(ctx, added.ID); err != nil {
		t.Fatal(err)
	}
	if err := cli.Remove(ctx, added.ID); err != nil {
		t.Errorf("removing a member already gone: want no error, got %v", err)
	}
	members, err := cli.MemberList(ctx)
	if err != nil || len(members) != 3 {
		t.Fatalf("members after remove: want 3, got %d, %v", len(members), err)
	}
}

// A member that is down does not hold up the others: the member list comes
// from one that answers, and the dead member's status fails at once
// instead of waiting out the caller's deadline.
func TestClientFailsFastOnADeadMember(t *testing.T) {
	proxies, members := threeMembers(t)
	ctx, cli := dialAll(t, proxies)
	// A follower, so the cluster keeps its leader.
	dead := -1
	for i, p := range proxies {
		st, err := cli.Status(ctx, p.URL)
		if err != nil {
			t.Fatal(err)
		}
		if st.Leader != st.MemberID {
			dead = i
		}
	}
	members[dead].Kill()
	callCtx, callCancel := context.WithTimeout(ctx, 20*time.Second)
	defer callCancel()
	if _, err := cli.MemberList(callCtx); err != nil {
		t.Fatalf("member list with one of three members down: %v", err)
	}
	_, err := cli.Status(callCtx, proxies[dead].URL)
	if err == nil {
		t.Fatal("status of a killed member: want an error")
	}
	if errors.Is(err, context.DeadlineExceeded) || callCtx.Err() != nil {
		t.Errorf("status of a killed member waited for the deadline instead of failing: %v", err)
	}
}
