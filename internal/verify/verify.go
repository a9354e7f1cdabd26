package verify

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"go.etcd.io/etcd/etcdutl/v3/snapshot"
	"go.uber.org/zap"

	"github.com/quorum-operator/quorum/internal/backup"
	"github.com/quorum-operator/quorum/internal/restore"
)

// Expected is what the backup recorded.
type Expected struct {
	SHA256 string
	// KVHash is the member's HashKV right after the snapshot; nil when
	// none was recorded, and then the snapshot's own revision is hashed
	// and counted, with nothing to compare them to.
	KVHash *backup.KVHash
}

// Result is what a verification found; the operator copies it into the
// EtcdBackup's status.verification.
type Result struct {
	Passed bool `json:"passed"`
	// Mismatch: the check ran and found the snapshot wrong. A result that
	// neither passed nor found a mismatch judged nothing.
	Mismatch bool `json:"mismatch,omitempty"`
	// Message says what was checked, or what did not match.
	Message string `json:"message"`
	// Revision is the snapshot's own revision (etcdutl snapshot status).
	Revision int64 `json:"revision,omitempty"`
	// Restored is the throwaway etcd's HashKV and key count.
	Restored  *backup.KVHash `json:"restored,omitempty"`
	StartTime time.Time      `json:"startTime"`
	EndTime   time.Time      `json:"endTime"`
}

// Mismatch is a verification that ran and found the snapshot wrong: a
// retry reads the same bytes, so the command exits with a permanent code.
type Mismatch struct{ Err error }

func (m *Mismatch) Error() string { return m.Err.Error() }
func (m *Mismatch) Unwrap() error { return m.Err }

func mismatch(format string, args ...any) error {
	return &Mismatch{fmt.Errorf(format, args...)}
}

// Run verifies the snapshot src against want, working in workDir (which
// must be empty or absent). An error that is a *Mismatch means the
// snapshot is wrong; any other error means it could not be checked (the
// store could not be read, the throwaway etcd did not start).
func Run(ctx context.Context, src restore.Source, want Expected, workDir string, lg *zap.Logger) (Result, error) {
	res := Result{StartTime: time.Now().UTC()}
	path := filepath.Join(workDir, "snapshot.db")
	if err := restore.Fetch(ctx, src, path, want.SHA256); err != nil {
		if errors.Is(err, restore.ErrChecksum) {
			return res, &Mismatch{err}
		}
		return res, err
	}
	status, err := snapshot.NewV3(lg).Status(path)
	if err != nil {
		return res, mismatch("etcdutl snapshot status: %w", err)
	}
	res.Revision = status.Revision
	rev := status.Revision
	if want.KVHash != nil {
		rev = want.KVHash.Revision
	}
	if rev > status.Revision {
		return res, mismatch("the snapshot ends at revision %d, below the backup's revision %d", status.Revision, rev)
	}
	restored, err := hashRestored(ctx, path, filepath.Join(workDir, "data"), rev, want.KVHash, lg)
	if err != nil {
		return res, err
	}
	res.Restored = restored
	res.EndTime = time.Now().UTC()
	if err := compare(want.KVHash, restored); err != nil {
		return res, err
	}
	res.Passed = true
	res.Message = passedMessage(want.KVHash, status, restored)
	return res, nil
}

// comparable says whether the member's hash can be compared with the
// copy's. The member hashed over the history after its compaction
// revision; the copy is compacted to the same revision first when it is
// behind. It is ahead only when the member compacted at exactly the
// hashed revision before the snapshot: etcd then answers HashKV there
// with the hash it stored while compacting, over the history before that
// compaction, which the snapshot no longer holds. (An idle cluster's
// compactor compacts at the current revision.)
func comparable(want, got *backup.KVHash) bool {
	return want != nil && got.CompactRevision == want.CompactRevision
}

// compare checks the restored etcd's hash and key count against the
// member's.
func compare(want, got *backup.KVHash) error {
	if want == nil {
		return nil
	}
	if got.Keys != want.Keys {
		return mismatch("%d keys at revision %d in the restored snapshot, the member had %d", got.Keys, want.Revision, want.Keys)
	}
	if !comparable(want, got) {
		return nil
	}
	if got.Hash != want.Hash {
		return mismatch("HashKV at revision %d (compacted at %d) is %d in the restored snapshot, the member had %d: the snapshot does not hold the member's data",
			want.Revision, want.CompactRevision, got.Hash, want.Hash)
	}
	return nil
}

func passedMessage(want *backup.KVHash, status snapshot.Status, got *backup.KVHash) string {
	checked := fmt.Sprintf("SHA-256 and snapshot status (revision %d, %d bytes) match; restored and served by a throwaway etcd", status.Revision, status.TotalSize)
	if want == nil {
		return checked + fmt.Sprintf("; no HashKV was recorded at backup time, so HashKV %d and %d keys at revision %d are not compared", got.Hash, got.Keys, got.Revision)
	}
	if !comparable(want, got) {
		return checked + fmt.Sprintf("; %d keys at revision %d equal the member's; HashKV is not compared: the snapshot is compacted at revision %d, "+
			"the member's hash covers the history after %d, which the snapshot no longer holds", got.Keys, got.Revision, got.CompactRevision, want.CompactRevision)
	}
	return checked + fmt.Sprintf("; HashKV %d and %d keys at revision %d equal the member's", got.Hash, got.Keys, got.Revision)
}
