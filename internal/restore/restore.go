package restore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"go.etcd.io/etcd/etcdutl/v3/snapshot"
	"go.uber.org/zap"
)

// Member is what etcd's restore needs to know of the member it prepares.
type Member struct {
	DataDir        string // etcd's --data-dir
	Name           string
	PeerURL        string
	InitialCluster string // every initial member, name=peerURL,...
	Token          string // the initial cluster token
	// State is the initial cluster state the bootstrap settings give:
	// "new" while the cluster is created, "existing" for members added
	// later, which join and must not restore.
	State string
}

// Source opens the snapshot to restore.
type Source interface {
	Open(ctx context.Context) (io.ReadCloser, error)
}

// FileSource is a snapshot file (a mounted claim).
type FileSource string

// Open opens the file.
func (f FileSource) Open(context.Context) (io.ReadCloser, error) { return os.Open(string(f)) }

// Outcome says what Run did.
type Outcome string

// The outcomes of Run.
const (
	Restored      Outcome = "restored"
	HasData       Outcome = "the data directory has data: nothing to restore"
	JoinsExisting Outcome = "the member joins an existing cluster: nothing to restore"
)

// Run restores the snapshot from src, whose SHA-256 must be wantSHA256,
// into m's data directory, unless there is nothing to restore.
func Run(ctx context.Context, m Member, src Source, wantSHA256 string, lg *zap.Logger) (Outcome, error) {
	if _, err := os.Stat(filepath.Join(m.DataDir, "member")); err == nil {
		return HasData, nil
	}
	if m.State != "new" {
		return JoinsExisting, nil
	}
	work := filepath.Dir(m.DataDir)
	snapshotPath := filepath.Join(work, "restore.db")
	defer os.Remove(snapshotPath)
	if err := Fetch(ctx, src, snapshotPath, wantSHA256); err != nil {
		return "", err
	}
	// etcd's restore refuses an existing directory; restore beside it and
	// rename, so an interrupted restore never leaves a half data dir.
	staging := m.DataDir + ".restoring"
	if err := os.RemoveAll(staging); err != nil {
		return "", err
	}
	if err := os.RemoveAll(m.DataDir); err != nil {
		return "", err
	}
	if err := restoreSnapshot(snapshotPath, staging, m, 0, lg); err != nil {
		os.RemoveAll(staging)
		return "", err
	}
	if err := os.Rename(staging, m.DataDir); err != nil {
		return "", err
	}
	return Restored, nil
}

// restoreSnapshot is etcd's own restore of the snapshot file into dir, for
// member m of the cluster m.InitialCluster under m.Token, with the
// revision raised by bump (and marked compacted) when bump is not 0.
func restoreSnapshot(snapshotPath, dir string, m Member, bump uint64, lg *zap.Logger) error {
	err := snapshot.NewV3(lg).Restore(snapshot.RestoreConfig{
		SnapshotPath:        snapshotPath,
		Name:                m.Name,
		OutputDataDir:       dir,
		PeerURLs:            []string{m.PeerURL},
		InitialCluster:      m.InitialCluster,
		InitialClusterToken: m.Token,
		RevisionBump:        bump,
		MarkCompacted:       bump > 0,
	})
	if err != nil {
		return fmt.Errorf("restore the snapshot: %w", err)
	}
	return nil
}

// ErrChecksum is returned, wrapped, by Fetch for a snapshot whose SHA-256
// is not the backup's: a retry reads the same bytes.
var ErrChecksum = errors.New("the snapshot's SHA-256 does not match the backup's")

// Fetch copies the snapshot to path and checks its SHA-256; a snapshot that
// does not match is removed.
func Fetch(ctx context.Context, src Source, path, wantSHA256 string) error {
	in, err := src.Open(ctx)
	if err != nil {
		return fmt.Errorf("open the snapshot: %w", err)
	}
	defer in.Close()
	out, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	digest := sha256.New()
	_, err = io.Copy(io.MultiWriter(out, digest), in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("read the snapshot: %w", err)
	}
	if got := hex.EncodeToString(digest.Sum(nil)); got != wantSHA256 {
		os.Remove(path)
		return fmt.Errorf("%w: it is %s, the backup recorded %s: it is corrupt or not this backup; nothing is restored", ErrChecksum, got, wantSHA256)
	}
	return nil
}
