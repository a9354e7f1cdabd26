package etcd_test

import (
	"context"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/quorum-operator/quorum/internal/etcd"
	"github.com/quorum-operator/quorum/internal/testservers"
)

// A member filled to its quota raises NOSPACE and refuses writes; the
// operator's recovery (compact to the current revision, defragment,
// disarm) makes it take writes again, without losing the latest value.
func TestNoSpaceRecoversByCompactDefragDisarm(t *testing.T) {
	const quota = 16 << 20
	url, kv := testservers.Etcd(t, t.TempDir(), "--quota-backend-bytes=16777216")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cli, err := etcd.NewClient(ctx, "test/cluster", []string{url}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cli.Close() }()

	// Overwrite one key: every version stays in the history until it is
	// compacted, so the database fills although the live data is small.
	value := strings.Repeat("x", 512<<10)
	// The put answered NOSPACE may have been applied all the same: etcd
	// checks the quota again when it applies a put, applies it, and only
	// then answers NOSPACE. Its value is as good as the last acknowledged.
	var lastAcked, refused string
	for i := 0; ; i++ {
		v := value + string(rune('a'+i%26))
		if _, err := kv.Put(ctx, "k", v); err != nil {
			if !strings.Contains(err.Error(), "database space exceeded") {
				t.Fatalf("put %d: want NOSPACE, got %v", i, err)
			}
			refused = v
			break
		}
		lastAcked = v
		if i > 200 {
			t.Fatal("200 puts of 512 KiB did not fill a 16 MiB quota")
		}
	}
	st, err := cli.Status(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Alarms) != 1 || st.Alarms[0].Type != etcd.AlarmNoSpace {
		t.Fatalf("alarms after filling the quota: want NOSPACE, got %+v", st.Alarms)
	}
	before := st.DBSize

	if err := cli.Compact(ctx, st.Revision); err != nil {
		t.Fatal(err)
	}
	if err := cli.Compact(ctx, st.Revision); err != nil {
		t.Errorf("compacting to a revision compacted already: want no error, got %v", err)
	}
	start := time.Now()
	if err := cli.Defragment(ctx, url); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	after, err := cli.Status(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("defragmented a full %d MiB quota in %v: %d bytes to %d (in use %d)", quota>>20, took, before, after.DBSize, after.DBSizeInUse)
	if after.DBSize >= quota/2 {
		t.Fatalf("database after compaction and defragmentation: %d bytes, want well under the quota %d", after.DBSize, quota)
	}
	if err := cli.DisarmAlarm(ctx, st.Alarms[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "k2", "after"); err != nil {
		t.Fatalf("put after recovery: %v", err)
	}
	got, err := kv.Get(ctx, "k")
	if err != nil || len(got.Kvs) != 1 || (string(got.Kvs[0].Value) != lastAcked && string(got.Kvs[0].Value) != refused) {
		t.Fatalf("the last acknowledged write of k was lost: %v", err)
	}
}

// The operator's NOSPACE recovery on three members: compact once, then
// defragment the followers, move leadership, defragment the old leader,
// then disarm. Every member shrinks, and writes are taken again.
func TestNoSpaceRecoveryOnThreeMembers(t *testing.T) {
	const quota = 16 << 20
	members := testservers.EtcdCluster(t, 3, "--quota-backend-bytes=16777216")
	eps := testservers.ClientURLs(members)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cli, err := etcd.NewClient(ctx, "test/cluster", eps, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cli.Close() }()
	kv, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = kv.Close() }()
	value := strings.Repeat("y", 512<<10)
	for i := 0; ; i++ {
		if _, err := kv.Put(ctx, "k", value); err != nil {
			if !strings.Contains(err.Error(), "database space exceeded") {
				t.Fatalf("put %d: want NOSPACE, got %v", i, err)
			}
			break
		}
		if i > 200 {
			t.Fatal("200 puts of 512 KiB did not fill a 16 MiB quota")
		}
	}
	// Each member raises the alarm as it applies it: wait for all three.
	statuses := map[string]*etcd.MemberStatus{}
	var leader string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		raised := 0
		for _, ep := range eps {
			st, err := cli.Status(ctx, ep)
			if err != nil {
				t.Fatal(err)
			}
			statuses[ep] = st
			if st.Leader == st.MemberID {
				leader = ep
			}
			if len(st.Alarms) > 0 {
				raised++
			}
		}
		if raised == len(eps) && leader != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("NOSPACE raised on %d of %d members 10 s after a put was refused for it", raised, len(eps))
		}
	}
	alarms := statuses[leader].Alarms
	if err := cli.Compact(ctx, statuses[leader].Revision); err != nil {
		t.Fatal(err)
	}
	var followers []string
	for _, ep := range eps {
		if ep != leader {
			followers = append(followers, ep)
		}
	}
	start := time.Now()
	for _, ep := range followers {
		if err := cli.Defragment(ctx, ep); err != nil {
			t.Fatal(err)
		}
	}
	if err := cli.MoveLeader(ctx, leader, statuses[followers[0]].MemberID); err != nil {
		t.Fatal(err)
	}
	if err := cli.Defragment(ctx, leader); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	var reclaimed int64
	for _, ep := range eps {
		st, err := cli.Status(ctx, ep)
		if err != nil {
			t.Fatal(err)
		}
		if st.DBSize >= quota/2 {
			t.Errorf("%s: %d bytes after compaction and defragmentation, want well under the quota", ep, st.DBSize)
		}
		reclaimed += statuses[ep].DBSize - st.DBSize
	}
	t.Logf("defragmented 3 members (leader moved first) in %v: %d bytes reclaimed", took, reclaimed)
	for _, a := range alarms {
		if err := cli.DisarmAlarm(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := kv.Put(ctx, "after", "accepted"); err != nil {
		t.Fatalf("put after recovery: %v", err)
	}
}
