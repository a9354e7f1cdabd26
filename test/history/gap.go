package history

import (
	"slices"
	"time"
)

// LongestWriteGap is the longest time the clients went without an
// acknowledged write: between the start of the load, the return of each
// acknowledged put, delete or successful txn, and the last operation's
// return. It is how long a fault kept writers waiting.
func (h *History) LongestWriteGap() time.Duration {
	var acked []int64
	var end int64
	for _, op := range h.Operations {
		if op.Final {
			continue
		}
		end = max(end, op.Return)
		if op.Status == OK && op.writes() {
			acked = append(acked, op.Return)
		}
	}
	slices.Sort(acked)
	var longest, last int64
	for _, t := range append(acked, end) {
		longest = max(longest, t-last)
		last = t
	}
	return time.Duration(longest)
}
