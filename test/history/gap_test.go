package history

import (
	"testing"
	"time"
)

func TestLongestWriteGapCountsOnlyAcknowledgedWrites(t *testing.T) {
	ms := int64(time.Millisecond)
	h := &History{Operations: []Operation{
		{Kind: Put, Status: OK, Call: 0, Return: 10 * ms},
		{Kind: Get, Status: OK, Call: 20 * ms, Return: 30 * ms},
		{Kind: Put, Status: Unknown, Call: 15 * ms, Return: 400 * ms},          // not acknowledged
		{Kind: Txn, Status: OK, Call: 40 * ms, Return: 50 * ms},                // compare failed: no write
		{Kind: Delete, Status: OK, Call: 300 * ms, Return: 310 * ms},           // 300 ms after the first put
		{Kind: Put, Status: OK, Call: 320 * ms, Return: 330 * ms},              // 20 ms
		{Kind: Get, Status: OK, Call: 900 * ms, Return: 950 * ms, Final: true}, // the final read is not load
	}}
	if got, want := h.LongestWriteGap(), 300*time.Millisecond; got != want {
		t.Errorf("LongestWriteGap() = %s, want %s", got, want)
	}
}
