package history

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// ReadFinal stops the load if it still runs, then reads every key once
// with a linearizable read, retrying for up to 30 s (a fault spec calls it
// after healing the cluster), and records the read in the history.
func (r *Recorder) ReadFinal(ctx context.Context) error {
	r.Stop()
	eps, err := r.cfg.Endpoints(ctx)
	if err != nil {
		return fmt.Errorf("history: endpoints: %w", err)
	}
	cli, err := newClient(eps, r.cfg.TLS)
	if err != nil {
		return err
	}
	defer cli.Close()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		call := r.now()
		getCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		resp, err := cli.Get(getCtx, r.cfg.Prefix+"/", clientv3.WithPrefix())
		cancel()
		if err == nil {
			r.recordFinal(call, r.now(), resp)
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("history: final read of %s/: %w", r.cfg.Prefix, err)
		}
	}
}

// recordFinal records one range read as a get of each key, each with the
// range's call and return: the range read every key at one point between
// them.
func (r *Recorder) recordFinal(call, ret int64, resp *clientv3.GetResponse) {
	values := map[string]string{}
	for _, kv := range resp.Kvs {
		values[string(kv.Key)] = string(kv.Value)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	client := r.streams
	r.streams++
	for _, key := range r.keys {
		op := Operation{Client: client, Kind: Get, Key: key, Call: call, Return: ret, Status: OK, Read: values[key], Final: true}
		op.setHeader(resp.Header)
		r.ops = append(r.ops, op)
	}
}

// Summary is what a check found.
type Summary struct {
	Operations int // recorded, the final read included
	Checked    int // given to porcupine: all but failed operations and unanswered gets
	Unknown    int
	Failed     int
	Result     porcupine.CheckResult
	Took       time.Duration // porcupine's time
	Files      []string      // written when the check did not pass
}

func (s Summary) String() string {
	return fmt.Sprintf("%d operations, %d checked (%d unknown, %d failed): %s in %s", s.Operations, s.Checked, s.Unknown, s.Failed, s.Result, s.Took.Round(time.Millisecond))
}

// Check checks h: that it is linearizable, within timeout, and that the
// final read found every acknowledged write. If either does not hold, or
// porcupine runs out of time (the result is then Unknown, not a pass), it
// writes history.json and history.html (porcupine's visualisation) under
// dir and returns an error that names them.
func Check(h *History, dir string, timeout time.Duration) (Summary, error) {
	ops := checked(h)
	sum := Summary{Operations: len(h.Operations), Checked: len(ops)}
	for _, op := range h.Operations {
		switch op.Status {
		case Unknown:
			sum.Unknown++
		case Failed:
			sum.Failed++
		}
	}
	start := time.Now()
	sum.Result = porcupine.CheckOperationsTimeout(model, ops, timeout)
	sum.Took = time.Since(start)
	var problems []string
	switch sum.Result {
	case porcupine.Illegal:
		problems = append(problems, "not linearizable")
	case porcupine.Unknown:
		problems = append(problems, fmt.Sprintf("linearizability unknown: porcupine gave up after %s", timeout))
	}
	problems = append(problems, lostWrites(h)...)
	if len(problems) == 0 {
		return sum, nil
	}
	files, err := writeFiles(h, ops, dir, timeout)
	sum.Files = files
	problem := fmt.Errorf("history of %s: %s", sum, strings.Join(firstOf(problems, 3), "; "))
	if err != nil {
		return sum, errors.Join(problem, err)
	}
	return sum, fmt.Errorf("%w; see %s", problem, strings.Join(files, " and "))
}

// firstOf keeps an error readable when many keys went wrong; the files
// hold the rest.
func firstOf(problems []string, n int) []string {
	if len(problems) <= n {
		return problems
	}
	return append(problems[:n:n], fmt.Sprintf("and %d more", len(problems)-n))
}

// lostWrites compares the final read with the acknowledged writes, key by
// key. The final read was called after every acknowledged write returned,
// so it must see the value of a write that no acknowledged write followed
// (one called after it returned), or of an unknown write, which may land
// at any time; with no acknowledged write, the key may also be missing.
func lostWrites(h *History) []string {
	final := map[string]*Operation{}
	for i, op := range h.Operations {
		if op.Final {
			final[op.Key] = &h.Operations[i]
		}
	}
	if len(final) == 0 {
		return []string{"no final read in the history (Recorder.ReadFinal)"}
	}
	var lost []string
	for _, key := range h.Keys {
		read, ok := final[key]
		if !ok {
			lost = append(lost, fmt.Sprintf("the final read did not read %s", key))
			continue
		}
		allowed, last := finalValues(h, key)
		switch {
		case allowed[read.Read]:
		case last.Kind == "":
			lost = append(lost, fmt.Sprintf("the final read of %s found %s, which no write left", key, show(read.Read)))
		default:
			lost = append(lost, fmt.Sprintf("lost write: the final read of %s found %s, but the acknowledged %s returned at %s and no acknowledged write followed it",
				key, show(read.Read), last, time.Duration(last.Return).Round(time.Millisecond)))
		}
	}
	return lost
}

// finalValues are the values the final read may find in key, and the
// acknowledged write that returned last.
func finalValues(h *History, key string) (map[string]bool, Operation) {
	// A write is followed by an acknowledged write if the acknowledged
	// write called last was called after it returned.
	lastCall := int64(math.MinInt64)
	var last Operation
	for _, op := range h.Operations {
		if op.Key == key && op.Status == OK && op.writes() {
			lastCall = max(lastCall, op.Call)
			if op.Return >= last.Return {
				last = op
			}
		}
	}
	allowed := map[string]bool{}
	if last.Kind == "" {
		allowed[""] = true
	}
	for _, op := range h.Operations {
		if op.Key == key && op.Status != Failed && op.writes() && (op.Status == Unknown || op.Return >= lastCall) {
			allowed[op.result()] = true
		}
	}
	return allowed, last
}

// writeFiles writes the history and porcupine's visualisation of it.
func writeFiles(h *History, ops []porcupine.Operation, dir string, timeout time.Duration) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	historyPath, htmlPath := filepath.Join(dir, "history.json"), filepath.Join(dir, "history.html")
	data, err := json.MarshalIndent(h, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(historyPath, data, 0o644); err != nil {
		return nil, err
	}
	// The quick check above stops at the first bad key; the verbose one
	// finds the longest linearizable prefix of every key to draw.
	_, info := porcupine.CheckOperationsVerbose(model, ops, timeout)
	if err := porcupine.VisualizePath(model, info, htmlPath); err != nil {
		return []string{historyPath}, fmt.Errorf("visualise the history: %w", err)
	}
	return []string{historyPath, htmlPath}, nil
}

// Run puts cfg's load on the cluster until its bound, reads the final
// values, and checks the history (see Check).
func Run(ctx context.Context, cfg Config, dir string, checkTimeout time.Duration) (*History, Summary, error) {
	r, err := Start(ctx, cfg)
	if err != nil {
		return nil, Summary{}, err
	}
	<-r.Done()
	if err := r.ReadFinal(ctx); err != nil {
		return r.History(), Summary{}, err
	}
	h := r.History()
	sum, err := Check(h, dir, checkTimeout)
	return h, sum, err
}
