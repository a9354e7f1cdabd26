package memberguard

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func withWAL(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	wal := filepath.Join(dir, "member", "wal")
	if err := os.MkdirAll(wal, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(wal, "0000000000000000-0000000000000000.wal"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestCheck(t *testing.T) {
	emptyWithLostFound := t.TempDir()
	if err := os.MkdirAll(filepath.Join(emptyWithLostFound, "member", "wal"), 0o700); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name          string
		dataDir       string
		mayStartEmpty []string
		wantLost      bool
	}{
		{"member with data starts whatever the list says", withWAL(t), nil, false},
		{"initial member of a new cluster starts empty", t.TempDir(), []string{"c-0", "c-1", "c-2"}, false},
		{"the member being added starts empty", filepath.Join(t.TempDir(), "missing"), []string{"c-1"}, false},
		{"a member that lost its data is stopped", t.TempDir(), []string{"c-3"}, true},
		{"a member is stopped when the list is sealed", t.TempDir(), nil, true},
		{"a WAL directory without segments is empty", emptyWithLostFound, []string{"c-3"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check(tt.dataDir, "c-1", tt.mayStartEmpty)
			if got := errors.Is(err, ErrLostData); got != tt.wantLost {
				t.Fatalf("Check = %v; want lost data %v", err, tt.wantLost)
			}
			if !tt.wantLost && err != nil {
				t.Fatalf("Check = %v; want nil", err)
			}
		})
	}
}

func TestCommandExitsWithLostData(t *testing.T) {
	term := filepath.Join(t.TempDir(), "termination-log")
	t.Setenv("QUORUM_MAY_START_EMPTY", "c-3")
	if code := Command([]string{"-data-dir", t.TempDir(), "-name", "c-1", "-termination-log", term}); code != ExitLostData {
		t.Fatalf("exit code %d; want %d", code, ExitLostData)
	}
	msg, err := os.ReadFile(term)
	if err != nil || len(msg) == 0 {
		t.Fatalf("termination message %q, %v", msg, err)
	}
	t.Setenv("QUORUM_MAY_START_EMPTY", "c-1")
	if code := Command([]string{"-data-dir", t.TempDir(), "-name", "c-1", "-termination-log", term}); code != 0 {
		t.Fatalf("the member being added: exit code %d; want 0", code)
	}
}

// Settings written by an operator before the list existed: the guard
// reads them as the operator does.
func TestMayStartEmptyWithoutTheList(t *testing.T) {
	ic := "c-0=http://c-0.p:2380,c-1=http://c-1.p:2380"
	if got := MayStartEmpty("", false, "new", ic); len(got) != 2 || got[0] != "c-0" || got[1] != "c-1" {
		t.Errorf("a new cluster's settings without the list: %q, want every initial member", got)
	}
	if got := MayStartEmpty("", false, "existing", ic); got != nil {
		t.Errorf("an existing cluster's settings without the list: %q, want none", got)
	}
	if got := MayStartEmpty("", true, "new", ic); got != nil {
		t.Errorf("an empty list: %q, want none", got)
	}
	if got := MayStartEmpty("c-3", true, "existing", ic); len(got) != 1 || got[0] != "c-3" {
		t.Errorf("the list: %q", got)
	}
}

func TestCommandReadsSettingsWithoutTheList(t *testing.T) {
	term := filepath.Join(t.TempDir(), "termination-log")
	t.Setenv("ETCD_INITIAL_CLUSTER_STATE", "new")
	t.Setenv("ETCD_INITIAL_CLUSTER", "c-0=http://c-0.p:2380,c-1=http://c-1.p:2380")
	if code := Command([]string{"-data-dir", t.TempDir(), "-name", "c-1", "-may-start-empty-env", "QUORUM_TEST_UNSET", "-termination-log", term}); code != 0 {
		t.Fatalf("an initial member under settings without the list: exit code %d, want 0", code)
	}
}
