package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
)

// statusLog keeps what every status patch of an EtcdCluster changed, so
// the calibration can say where the two sides' status writes differ, not
// only that they do. A merge patch names only what changed: its keys are
// the changed fields, and a changed condition list is compared with the
// cluster's previous one to name the conditions that moved.
type statusLog struct {
	mu      sync.Mutex
	changes map[string]int                       // "field" or "condition Type" → patches that changed it
	patches int                                  // status patches seen
	last    map[string]map[string]conditionState // cluster → condition type → last state
}

type conditionState struct{ Status, Reason, Message string }

func newStatusLog() *statusLog {
	return &statusLog{changes: map[string]int{}, last: map[string]map[string]conditionState{}}
}

// observe records r when it patches an EtcdCluster's status; it puts the
// body back for the proxy.
func (l *statusLog) observe(r *http.Request) {
	if l == nil || r.Method != http.MethodPatch || !strings.HasSuffix(r.URL.Path, "/status") ||
		!strings.Contains(r.URL.Path, "/etcdclusters/") {
		return
	}
	body, err := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return
	}
	var patch struct {
		Status map[string]json.RawMessage `json:"status"`
	}
	if json.Unmarshal(body, &patch) != nil {
		return
	}
	cluster := strings.TrimSuffix(r.URL.Path, "/status")
	l.mu.Lock()
	defer l.mu.Unlock()
	l.patches++
	for field, raw := range patch.Status {
		if field != "conditions" {
			l.changes["status."+field]++
			continue
		}
		var conds []struct {
			Type, Status, Reason, Message string
		}
		if json.Unmarshal(raw, &conds) != nil {
			continue
		}
		prev := l.last[cluster]
		now := map[string]conditionState{}
		for _, c := range conds {
			now[c.Type] = conditionState{c.Status, c.Reason, c.Message}
			was, ok := prev[c.Type]
			switch {
			case !ok || was.Status != c.Status:
				l.changes["condition "+c.Type+" status"]++
			case was.Reason != c.Reason:
				l.changes["condition "+c.Type+" reason"]++
			case was.Message != c.Message:
				l.changes["condition "+c.Type+" message only"]++
			}
		}
		l.last[cluster] = now
	}
}

// perCluster is what the log holds, per cluster: patches that changed
// each field or condition, and "status patches" for all of them.
func (l *statusLog) perCluster(n int) map[string]float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]float64{"status patches": float64(l.patches) / float64(n)}
	for k, v := range l.changes {
		out[k] = float64(v) / float64(n)
	}
	return out
}

// printStatusChanges prints, side by side, what the status patches of the
// local cluster and of the simulator changed, per cluster. A patch
// changes several fields at once, so the rows add up to more than the
// patches.
func printStatusChanges(out io.Writer, local, sim map[string]float64) {
	keys := map[string]bool{}
	for k := range local {
		keys[k] = true
	}
	for k := range sim {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		if k != "status patches" {
			sorted = append(sorted, k)
		}
	}
	sort.Strings(sorted)
	fmt.Fprintf(out, "\nWhat the status patches changed while creating, per cluster (a patch changes several at once):\n")
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "field or condition\tlocal\tsimulator\n")
	fmt.Fprintf(tw, "(status patches)\t%.1f\t%.1f\n", local["status patches"], sim["status patches"])
	for _, k := range sorted {
		fmt.Fprintf(tw, "%s\t%.1f\t%.1f\n", k, local[k], sim[k])
	}
	_ = tw.Flush()
}

// recordCreate keeps, once every cluster is Available, the operator's API
// requests per cluster, what its status patches changed, and its
// reconcile passes per cluster (controller-runtime's own counter).
func (r *result) recordCreate(ctx context.Context, counter *apiCounter, op *operator, n int) error {
	r.createAPI = map[string]float64{}
	for k, v := range counter.snapshot() {
		r.createAPI[k] = float64(v) / float64(n)
	}
	r.createStatus = counter.status.perCluster(n)
	samples, err := op.scrape(ctx)
	if err != nil {
		return fmt.Errorf("operator metrics: %w", err)
	}
	r.createPasses = sum(samples, "controller_runtime_reconcile_total",
		func(l map[string]string) bool { return l["controller"] == "etcdcluster" }) / float64(n)
	return nil
}
