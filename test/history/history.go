package history

import (
	"fmt"
	"time"
)

// Kind is what an operation asked etcd to do, always to one key.
type Kind string

// The kinds of operations the clients issue.
const (
	Get    Kind = "get"
	Put    Kind = "put"
	Delete Kind = "delete"
	// Txn is a compare-and-swap: if the key holds Compare, put Value,
	// otherwise read the key.
	Txn Kind = "txn"
)

// Status is what the client learnt about an operation.
type Status string

const (
	// OK: etcd answered; the operation took effect once, somewhere between
	// its call and its return, and its results are what etcd said.
	OK Status = "ok"
	// Unknown: the client timed out or lost its connection. The operation
	// may have taken effect at any time after its call, or never.
	Unknown Status = "unknown"
	// Failed: etcd refused the operation (see refused); it had no effect.
	Failed Status = "failed"
)

// Operation is one call a client made and what came back. Call and Return
// are nanoseconds on the monotonic clock since the history began.
type Operation struct {
	Client int    `json:"client"` // porcupine's client: a sequence of operations that never overlap
	Kind   Kind   `json:"kind"`
	Key    string `json:"key"`
	// Value is the value a put writes, and the value a txn writes when
	// its compare holds. Written values are unique and never empty.
	Value string `json:"value,omitempty"`
	// Compare is the value a txn expects the key to hold; "" matches
	// nothing, since etcd fails a value compare on a missing key.
	Compare string `json:"compare,omitempty"`
	Call    int64  `json:"call"`
	Return  int64  `json:"return"`
	Status  Status `json:"status"`
	Error   string `json:"error,omitempty"`

	// Results, when Status is OK.
	// Read is the value a get, or a txn whose compare failed, read; ""
	// when the key did not exist.
	Read      string `json:"read,omitempty"`
	Deleted   bool   `json:"deleted,omitempty"`   // a delete found the key
	Succeeded bool   `json:"succeeded,omitempty"` // a txn's compare held
	// Revision and Member are etcd's response header, for a person
	// reading the history next to member logs; the check ignores them.
	Revision int64  `json:"revision,omitempty"`
	Member   uint64 `json:"member,omitempty"`

	// Final marks the read of every key after the load stopped.
	Final bool `json:"final,omitempty"`
}

// History is everything the clients did, in the order of their calls.
type History struct {
	Prefix string   `json:"prefix"`
	Keys   []string `json:"keys"`
	// Began is the wall-clock time of Call 0, to line the history up with
	// logs; the operations' times are monotonic, not wall-clock.
	Began      time.Time   `json:"began"`
	Operations []Operation `json:"operations"`
}

// writes reports whether the operation may change the key.
func (op Operation) writes() bool {
	switch op.Kind {
	case Put, Delete:
		return true
	case Txn:
		return op.Status != OK || op.Succeeded
	}
	return false
}

// result is the value an operation that writes leaves in the key.
func (op Operation) result() string {
	if op.Kind == Delete {
		return ""
	}
	return op.Value
}

// String is how the operation shows in errors and the visualisation.
func (op Operation) String() string {
	var in, out string
	switch op.Kind {
	case Get:
		in = fmt.Sprintf("get(%s)", op.Key)
		out = show(op.Read)
	case Put:
		in = fmt.Sprintf("put(%s, %q)", op.Key, op.Value)
		out = "ok"
	case Delete:
		in = fmt.Sprintf("delete(%s)", op.Key)
		out = map[bool]string{true: "deleted", false: "not found"}[op.Deleted]
	case Txn:
		in = fmt.Sprintf("txn(%s: if %s then put %q)", op.Key, show(op.Compare), op.Value)
		out = "put " + show(op.Value)
		if !op.Succeeded {
			out = "compare failed, read " + show(op.Read)
		}
	}
	switch op.Status {
	case Unknown:
		out = "unknown (" + op.Error + ")"
	case Failed:
		out = "failed (" + op.Error + ")"
	}
	if op.Final {
		in = "final " + in
	}
	return in + " -> " + out
}

// show quotes a value and names the missing one.
func show(v string) string {
	if v == "" {
		return "<none>"
	}
	return fmt.Sprintf("%q", v)
}
