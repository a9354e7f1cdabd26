package restore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"
)

// The in-place restore (an EtcdRestore) replaces the data of a member that
// has data, which the bootstrap restore never does. It is keyed by the
// restore's ID (the EtcdRestore's UID), so that a pod restarted midway, or
// long after, does not restore twice:
//
//   - <data>.restored-<id> (a file) says this member restored for id: its
//     data is kept as it is. It is written last.
//   - <data>.before-restore-<id> (a directory) is the data the member had
//     before; it is never deleted here. A person reclaims it
//     (docs/backup.md).

// RevisionBump is how far an in-place restore raises the snapshot's
// revision, marking the old revisions compacted (as Kubernetes' own etcd
// restore advice does): clients of the same Service kept revisions of the
// cluster before, which after a rollback would name other data. Raised,
// revisions keep moving forward, and a watch that resumes at an old
// revision is told it was compacted and lists again, instead of waiting
// silently for a revision the restored data has not reached.
const RevisionBump = 1_000_000_000

// AlreadyRestored: the member restored for this restore ID before.
const AlreadyRestored Outcome = "the member already restored for this restore: its data is kept"

// MarkerPath is the file that says a member's data dir was restored for id.
func MarkerPath(dataDir, id string) string { return dataDir + ".restored-" + id }

// AsidePath is where a member's data from before restore id is kept.
func AsidePath(dataDir, id string) string { return dataDir + ".before-restore-" + id }

// RunInPlace restores the snapshot from src (checked against wantSHA256)
// into m's data directory for the restore id, moving the data that was
// there aside. m.InitialCluster and m.Token are the new cluster's; the
// state is always new. Nothing is moved before the snapshot is verified and
// restored beside the data directory.
func RunInPlace(ctx context.Context, m Member, src Source, wantSHA256, id string, lg *zap.Logger) (Outcome, error) {
	if id == "" {
		return "", errors.New("an in-place restore needs its restore ID")
	}
	marker, aside := MarkerPath(m.DataDir, id), AsidePath(m.DataDir, id)
	if exists(marker) {
		return AlreadyRestored, nil
	}
	staging, err := restoreBeside(ctx, m, src, wantSHA256, lg)
	if err != nil {
		return "", err
	}
	if err := moveAside(m.DataDir, aside); err != nil {
		os.RemoveAll(staging)
		return "", err
	}
	if err := os.Rename(staging, m.DataDir); err != nil {
		return "", fmt.Errorf("move the restored data into place: %w", err)
	}
	note := fmt.Sprintf("restored %s by restore %s at %s\n", m.Name, id, time.Now().UTC().Format(time.RFC3339))
	if err := writeSynced(marker, note); err != nil {
		return "", fmt.Errorf("record the restore: %w", err)
	}
	return Restored, nil
}

// moveAside renames the data directory to aside. If aside exists, an
// earlier run of this same restore moved the member's data there already,
// and what is at the data directory now can only be that run's restored
// data: etcd never ran on it, since this init container had not succeeded
// (the marker is written last). It is removed, to be replaced.
func moveAside(dataDir, aside string) error {
	switch {
	case exists(aside):
		if err := os.RemoveAll(dataDir); err != nil {
			return fmt.Errorf("remove an unfinished restore of this same restore: %w", err)
		}
	case exists(dataDir):
		if err := os.Rename(dataDir, aside); err != nil {
			return fmt.Errorf("move the member's data aside to %s: %w", aside, err)
		}
	}
	return nil
}

// restoreBeside fetches and verifies the snapshot and restores it into a
// directory beside the data directory, which it returns.
func restoreBeside(ctx context.Context, m Member, src Source, wantSHA256 string, lg *zap.Logger) (string, error) {
	work := filepath.Dir(m.DataDir)
	snapshotPath := filepath.Join(work, "restore.db")
	defer os.Remove(snapshotPath)
	if err := Fetch(ctx, src, snapshotPath, wantSHA256); err != nil {
		return "", err
	}
	staging := m.DataDir + ".restoring"
	if err := os.RemoveAll(staging); err != nil {
		return "", err
	}
	if err := restoreSnapshot(snapshotPath, staging, m, RevisionBump, lg); err != nil {
		os.RemoveAll(staging)
		return "", err
	}
	return staging, nil
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

func writeSynced(path, content string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteString(content)
	if serr := f.Sync(); err == nil {
		err = serr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
