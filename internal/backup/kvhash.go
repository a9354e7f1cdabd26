package backup

import (
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// KVHash is a member's HashKV at a revision and the number of keys at that
// revision. HashKV at a revision is what etcd's own corruption check
// compares across members: every member holding the same history gives
// the same value, so a snapshot restored elsewhere must too.
type KVHash struct {
	Revision int64 `json:"revision"`
	// CompactRevision is the member's compaction revision when it hashed;
	// the hash covers the revisions after it (and the latest version of
	// each key before it), so a copy must be compacted to it to compare.
	CompactRevision int64  `json:"compactRevision"`
	Hash            uint32 `json:"hash"`
	Keys            int64  `json:"keys"`
}

// kvHashAt asks the member for its HashKV and key count at rev, the
// revision its snapshot holds at least. It runs right after the snapshot:
// the history up to rev does not change after it, only a compaction can
// remove it, and then etcd refuses (ErrCompacted) and nothing is recorded
// rather than a value the snapshot could not match.
func kvHashAt(ctx context.Context, cli *clientv3.Client, url string, rev int64) (*KVHash, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*probeTimeout)
	defer cancel()
	h, err := cli.HashKV(ctx, url, rev)
	if err != nil {
		return nil, fmt.Errorf("hashkv at revision %d: %w", rev, err)
	}
	if h.HashRevision != rev {
		return nil, fmt.Errorf("hashkv at revision %d hashed revision %d", rev, h.HashRevision)
	}
	// Serializable: the member's own store at rev, the one it hashed.
	count, err := cli.Get(ctx, "", clientv3.WithPrefix(), clientv3.WithCountOnly(), clientv3.WithRev(rev), clientv3.WithSerializable())
	if err != nil {
		return nil, fmt.Errorf("count the keys at revision %d: %w", rev, err)
	}
	return &KVHash{Revision: rev, CompactRevision: h.CompactRevision, Hash: h.Hash, Keys: count.Count}, nil
}
