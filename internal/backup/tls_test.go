package backup

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quorum-operator/quorum/internal/jobexit"
	"github.com/quorum-operator/quorum/internal/testservers"
)

// The backup Job's command against a member that requires client
// certificates: with the operator's certificate files it takes the
// snapshot, without them the member refuses it.
func TestCommandTakesASnapshotOverMutualTLS(t *testing.T) {
	url, cli, files := testservers.EtcdTLS(t, t.TempDir())
	if _, err := cli.Put(context.Background(), "/k", "v"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out, log := filepath.Join(dir, "snap.db"), filepath.Join(dir, "termination-log")

	code := Command([]string{"--endpoints=" + url, "--file=" + out, "--termination-log=" + log,
		"--cert=" + files.Cert, "--key=" + files.Key, "--cacert=" + files.CA, "--timeout=30s"})
	if code != jobexit.OK {
		t.Fatalf("exit code %d: %s", code, readString(t, log))
	}
	var res Result
	if err := json.Unmarshal([]byte(readString(t, log)), &res); err != nil || res.Revision < 2 || res.SizeBytes == 0 {
		t.Fatalf("result %+v (%v)", res, err)
	}

	refused := filepath.Join(dir, "refused.db")
	code = Command([]string{"--endpoints=" + url, "--file=" + refused, "--termination-log=" + log,
		"--cacert=" + files.CA, "--cert=" + files.Cert, "--key=" + files.Cert, "--timeout=10s"})
	if code != jobexit.Permanent || !strings.Contains(readString(t, log), "client certificate") {
		t.Errorf("a key that is not a key: exit %d, %q; want a permanent error about the client certificate", code, readString(t, log))
	}
	code = Command([]string{"--endpoints=" + url, "--file=" + refused, "--termination-log=" + log, "--timeout=3s"})
	if code == jobexit.OK {
		t.Errorf("a snapshot without a client certificate succeeded")
	}
	if _, err := os.Stat(refused); !os.IsNotExist(err) {
		t.Errorf("a refused snapshot left a file: %v", err)
	}
}

func readString(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
