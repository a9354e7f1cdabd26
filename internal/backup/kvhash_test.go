package backup

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/quorum-operator/quorum/internal/testservers"
)

func TestTheBackupRecordsTheMembersHashAtItsRevision(t *testing.T) {
	member := startEtcd(t)
	res, err := Take(context.Background(), member, nil, FileSink{Path: filepath.Join(t.TempDir(), "b.db")})
	if err != nil {
		t.Fatal(err)
	}
	cli, err := newClient([]string{member}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	h, err := cli.HashKV(context.Background(), member, res.Revision)
	if err != nil {
		t.Fatal(err)
	}
	want := KVHash{Revision: res.Revision, CompactRevision: h.CompactRevision, Hash: h.Hash, Keys: 100}
	if res.KVHash == nil || *res.KVHash != want {
		t.Fatalf("recorded %+v, want %+v", res.KVHash, want)
	}
}

// A compaction past the revision between the snapshot and the hash leaves
// etcd nothing to hash at it: nothing is recorded, never another revision's
// hash.
func TestACompactionPastTheRevisionRecordsNoHash(t *testing.T) {
	url, cli := testservers.Etcd(t, t.TempDir())
	ctx := context.Background()
	first, err := cli.Put(ctx, "/a", "1")
	if err != nil {
		t.Fatal(err)
	}
	last, err := cli.Put(ctx, "/a", "2")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Compact(ctx, last.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	h, err := kvHashAt(ctx, cli, url, first.Header.Revision)
	if h != nil || err == nil || !strings.Contains(err.Error(), "compacted") {
		t.Fatalf("got %+v, %v; want no hash and a compaction error", h, err)
	}
}
