package backup

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"go.etcd.io/etcd/etcdutl/v3/snapshot"
	"go.uber.org/zap"
)

// A member cut off from its peers still answers its own status and
// streams its own snapshot, which misses what the others acknowledged
// since. Asked to back up through that member, the backup must read from
// one that follows the leader, and the snapshot must hold every write
// acknowledged before the backup began.
func TestABackupThroughAPartitionedMemberHoldsEveryAcknowledgedWrite(t *testing.T) {
	c := startCluster(t, 3)
	put(t, c.client(t), "/before/", 10)
	cut := c.others(c.leader(t))[0]
	c.partition(cut)
	acknowledged := put(t, c.client(t, c.others(cut)...), "/after/", 100)

	path := filepath.Join(t.TempDir(), "snap.db")
	res, err := Take(context.Background(), cut.clientURL, nil, FileSink{Path: path})
	if err != nil {
		t.Fatalf("backup: %v", err)
	}
	held := snapshotRevision(t, path)
	if held < acknowledged || res.Revision < acknowledged {
		t.Fatalf("the backup succeeded with a snapshot at revision %d (reported %d); writes up to revision %d were acknowledged before it began",
			held, res.Revision, acknowledged)
	}
	if res.Member == cut.name || res.Member == "" {
		t.Fatalf("the snapshot was read from %q, the partitioned member is %s", res.Member, cut.name)
	}
}

// With no quorum there is no member whose data is known to be current: the
// backup fails, clearly, and writes nothing.
func TestABackupWithoutQuorumFailsAndWritesNothing(t *testing.T) {
	c := startCluster(t, 3)
	put(t, c.client(t), "/before/", 10)
	c.partition(c.members[1])
	c.partition(c.members[2])

	path := filepath.Join(t.TempDir(), "snap.db")
	res, err := Take(context.Background(), c.members[0].clientURL, nil, FileSink{Path: path})
	if err == nil {
		t.Fatalf("a backup of a cluster without quorum succeeded: %+v", res)
	}
	if !errors.Is(err, ErrNoMember) {
		t.Errorf("error %q, want one that says no member can be read from", err)
	}
	t.Logf("the backup failed with: %v", err)
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("a failed backup left a file: %v", err)
	}
}

// snapshotRevision reads the store revision a snapshot file holds.
func snapshotRevision(t *testing.T, path string) int64 {
	t.Helper()
	st, err := snapshot.NewV3(zap.NewNop()).Status(path)
	if err != nil {
		t.Fatalf("read the snapshot: %v", err)
	}
	return st.Revision
}
