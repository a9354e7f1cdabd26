package etcd_test

import (
	"context"
	"strings"
	"testing"
	"time"

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
	cli, err := etcd.NewClient(ctx, []string{url}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cli.Close() }()

	// Overwrite one key: every version stays in the history until it is
	// compacted, so the database fills although the live data is small.
	value := strings.Repeat("x", 512<<10)
	var lastAcked string
	for i := 0; ; i++ {
		v := value + string(rune('a'+i%26))
		if _, err := kv.Put(ctx, "k", v); err != nil {
			if !strings.Contains(err.Error(), "database space exceeded") {
				t.Fatalf("put %d: want NOSPACE, got %v", i, err)
			}
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
	if err != nil || len(got.Kvs) != 1 || string(got.Kvs[0].Value) != lastAcked {
		t.Fatalf("the last acknowledged write of k was lost: %v", err)
	}
}
