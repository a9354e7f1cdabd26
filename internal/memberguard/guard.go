package memberguard

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// EnvMayStartEmpty is the environment variable (a key of the bootstrap
// ConfigMap, which members read through envFrom) that names the members
// allowed to start with an empty data directory, comma-separated.
const EnvMayStartEmpty = "QUORUM_MAY_START_EMPTY"

// ExitLostData is the guard's exit code when it stops a member that lost
// its data; the operator matches it to replace the member.
const ExitLostData = 3

// ErrLostData: the member's data directory is empty, but the bootstrap
// settings do not let it start empty.
var ErrLostData = errors.New("data directory is empty")

// Check returns nil when the member name may start on dataDir: the
// directory holds etcd data, or mayStartEmpty names the member.
func Check(dataDir, name string, mayStartEmpty []string) error {
	has, err := HasData(dataDir)
	if err != nil {
		return err
	}
	if has || slices.Contains(mayStartEmpty, name) {
		return nil
	}
	return fmt.Errorf("%w: %s has already been a member (the bootstrap settings let only %s start empty); "+
		"starting it would rejoin the cluster under its old member ID without its log or votes: the operator removes it and adds it back as a new member",
		ErrLostData, name, namesOrNone(mayStartEmpty))
}

// HasData says whether dataDir holds an etcd member's data, the way etcd
// decides it: its write-ahead log directory has at least one segment.
func HasData(dataDir string) (bool, error) {
	entries, err := os.ReadDir(filepath.Join(dataDir, "member", "wal"))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read the member's write-ahead log directory: %w", err)
	}
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".wal") {
			return true, nil
		}
	}
	return false, nil
}

// MayStartEmpty is the list of members that may start empty, from the
// bootstrap settings: the list itself when it is set (list is the value of
// the QUORUM_MAY_START_EMPTY key, set says whether the key exists), and
// for settings written before the list existed, every initial member while
// the cluster is new and none once it exists.
func MayStartEmpty(list string, set bool, state, initialCluster string) []string {
	if !set {
		if state != "new" {
			return nil
		}
		var names []string
		for _, entry := range strings.Split(initialCluster, ",") {
			if name, _, found := strings.Cut(entry, "="); found {
				names = append(names, name)
			}
		}
		return names
	}
	if list == "" {
		return nil
	}
	return strings.Split(list, ",")
}

func namesOrNone(names []string) string {
	if len(names) == 0 {
		return "no member"
	}
	return strings.Join(names, ", ")
}
