package backup

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// FileSink writes the snapshot to Path. It writes Path.partial first and
// renames it into place after an fsync, so an interrupted backup leaves
// only a .partial file, never one under the final name.
type FileSink struct {
	Path string
	// Location is what the result reports, e.g. pvc://claim/dir/name.db.
	Location string
}

// Put writes r to the file.
func (f FileSink) Put(_ context.Context, r io.Reader) (string, error) {
	if err := os.MkdirAll(filepath.Dir(f.Path), 0o750); err != nil {
		return "", fmt.Errorf("create %s: %w", filepath.Dir(f.Path), err)
	}
	partial := f.Path + ".partial"
	out, err := os.OpenFile(partial, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o640)
	if err != nil {
		return "", fmt.Errorf("create %s: %w", partial, err)
	}
	if _, err := io.Copy(out, r); err != nil {
		out.Close()
		os.Remove(partial)
		return "", fmt.Errorf("write %s: %w", partial, err)
	}
	if err := out.Sync(); err != nil {
		out.Close()
		os.Remove(partial)
		return "", fmt.Errorf("sync %s: %w", partial, err)
	}
	if err := out.Close(); err != nil {
		os.Remove(partial)
		return "", fmt.Errorf("close %s: %w", partial, err)
	}
	if err := os.Rename(partial, f.Path); err != nil {
		return "", fmt.Errorf("rename %s: %w", partial, err)
	}
	return f.Location, nil
}

// Delete removes the file and any .partial left beside it.
func (f FileSink) Delete(context.Context) (string, error) {
	for _, p := range []string{f.Path, f.Path + ".partial"} {
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
			return "", fmt.Errorf("delete %s: %w", p, err)
		}
	}
	return f.Location, nil
}
