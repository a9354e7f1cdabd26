package history

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// Histories written by hand, one key "k" unless said otherwise; times are
// in arbitrary units, calls and returns as given.

func put(v string, call, ret int64) Operation {
	return Operation{Kind: Put, Key: "k", Value: v, Call: call, Return: ret, Status: OK}
}

func get(read string, call, ret int64) Operation {
	return Operation{Kind: Get, Key: "k", Read: read, Call: call, Return: ret, Status: OK}
}

func del(deleted bool, call, ret int64) Operation {
	return Operation{Kind: Delete, Key: "k", Deleted: deleted, Call: call, Return: ret, Status: OK}
}

func cas(compare, value string, succeeded bool, read string, call, ret int64) Operation {
	return Operation{Kind: Txn, Key: "k", Compare: compare, Value: value, Succeeded: succeeded, Read: read, Call: call, Return: ret, Status: OK}
}

func unknown(op Operation) Operation {
	op.Status, op.Error, op.Read, op.Succeeded, op.Deleted = Unknown, "context deadline exceeded", "", false, false
	return op
}

func final(read string, at int64) Operation {
	op := get(read, at, at+1)
	op.Final = true
	return op
}

// hist gives each operation its own client, as a client's operations
// never overlap and these do.
func hist(ops ...Operation) *History {
	for i := range ops {
		ops[i].Client = i
	}
	return &History{Prefix: "test", Keys: []string{"k"}, Operations: ops}
}

func TestCheckHandWritten(t *testing.T) {
	tests := []struct {
		name    string
		history *History
		// problem is in the error of a history that must fail, "" if it
		// must pass.
		problem string
	}{
		{"read your write", hist(put("a", 0, 10), get("a", 20, 30), final("a", 100)), ""},
		{"a read overlapping a put sees either value", hist(put("b", 0, 100), get("", 10, 20), get("b", 30, 40), final("b", 200)), ""},
		{"a stale read after a newer acknowledged write", hist(put("a", 0, 10), put("b", 20, 30), get("a", 40, 50), final("b", 100)), "not linearizable"},
		{"a read of a value never written", hist(put("a", 0, 10), get("zzz", 20, 30), final("a", 100)), "not linearizable"},
		{"an unknown put that did not happen", hist(put("a", 0, 10), unknown(put("b", 20, 30)), get("a", 40, 50), final("a", 100)), ""},
		{"an unknown put that happened after its client gave up", hist(put("a", 0, 10), unknown(put("b", 20, 30)), get("a", 40, 50), get("b", 60, 70), final("b", 100)), ""},
		{"an unknown put seen, then unseen", hist(put("a", 0, 10), unknown(put("b", 20, 30)), get("b", 40, 50), get("a", 60, 70), final("a", 100)), "not linearizable"},
		{"a compare-and-swap that held", hist(put("a", 0, 10), cas("a", "c", true, "", 20, 30), get("c", 40, 50), final("c", 100)), ""},
		{"a compare-and-swap that failed although it held", hist(put("a", 0, 10), cas("a", "c", false, "a", 20, 30), final("a", 100)), "not linearizable"},
		{"a compare on a missing key fails", hist(cas("", "c", false, "", 0, 10), final("", 100)), ""},
		{"a delete that found the key", hist(put("a", 0, 10), del(true, 20, 30), get("", 40, 50), final("", 100)), ""},
		{"a delete that did not find a key that was there", hist(put("a", 0, 10), del(false, 20, 30), final("", 100)), "not linearizable"},
		{"an acknowledged put missing at the end", hist(put("a", 0, 10), final("", 100)), `lost write: the final read of k found <none>, but the acknowledged put(k, "a") -> ok`},
		{"an older acknowledged put at the end", hist(put("a", 0, 10), put("b", 20, 30), final("a", 100)), `lost write: the final read of k found "a"`},
		{"an unknown delete after the last acknowledged put", hist(put("a", 0, 10), unknown(del(false, 20, 30)), final("", 100)), ""},
		{"no final read", hist(put("a", 0, 10)), "no final read"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			sum, err := Check(tt.history, dir, 10*time.Second)
			if tt.problem == "" {
				if err != nil {
					t.Fatalf("the check failed: %v", err)
				}
				if entries, _ := os.ReadDir(dir); len(entries) > 0 {
					t.Errorf("a history that passed wrote %d files", len(entries))
				}
				return
			}
			if err == nil {
				t.Fatalf("the check passed (%s), want %q", sum, tt.problem)
			}
			t.Log(err)
			if !strings.Contains(err.Error(), tt.problem) {
				t.Errorf("the error does not say %q", tt.problem)
			}
			checkFiles(t, err, sum, dir, tt.history)
		})
	}
}

// checkFiles checks a failed check wrote the history and its
// visualisation, and named both in its error.
func checkFiles(t *testing.T, err error, sum Summary, dir string, h *History) {
	t.Helper()
	want := []string{filepath.Join(dir, "history.json"), filepath.Join(dir, "history.html")}
	if len(sum.Files) != 2 || sum.Files[0] != want[0] || sum.Files[1] != want[1] {
		t.Fatalf("files %v, want %v", sum.Files, want)
	}
	for _, f := range want {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("the error does not name %s", f)
		}
	}
	data, readErr := os.ReadFile(want[0])
	if readErr != nil {
		t.Fatal(readErr)
	}
	var back History
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatalf("history.json: %v", err)
	}
	if len(back.Operations) != len(h.Operations) {
		t.Errorf("history.json holds %d operations, want %d", len(back.Operations), len(h.Operations))
	}
	html, readErr := os.ReadFile(want[1])
	if readErr != nil {
		t.Fatal(readErr)
	}
	if !strings.Contains(string(html), h.Operations[0].Key) {
		t.Errorf("history.html does not show the operations")
	}
}

func TestCheckTimeoutIsUnknownNotAPass(t *testing.T) {
	// 16 overlapping puts, then a read of a value none of them wrote:
	// porcupine tries every order of the puts before it can say Illegal,
	// which takes it seconds on this machine; 100 ms is not enough.
	var ops []Operation
	for i := range 16 {
		ops = append(ops, put(string(rune('a'+i)), 0, 100))
	}
	ops = append(ops, get("zzz", 200, 210), final("a", 300))
	sum, err := Check(hist(ops...), t.TempDir(), 100*time.Millisecond)
	if sum.Result != porcupine.Unknown || err == nil || !strings.Contains(err.Error(), "linearizability unknown") {
		t.Fatalf("result %s, error %v; want Unknown and an error", sum.Result, err)
	}
	t.Log(err)
}
