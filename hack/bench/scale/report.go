package main

import (
	"fmt"
	"io"
	"math"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

// goal is one of issue #14's goals: judged on the working tree's figure.
type goal struct {
	text string
	ok   func(r *result) bool
}

type row struct {
	name  string
	value func(r *result) string
	goal  *goal
}

func mib(b float64) string { return fmt.Sprintf("%.0f MiB", b/(1<<20)) }

func dur(d time.Duration) string {
	if d < 0 {
		return "-"
	}
	return d.Round(10 * time.Millisecond).String()
}

func secs(s float64) string {
	if math.IsNaN(s) {
		return "-"
	}
	return (time.Duration(s * float64(time.Second))).Round(time.Millisecond).String()
}

// idleRPCBound is the most etcd RPCs/s per cluster an idle window may
// hold: the 30-second steady looks that fit in it, one more for where the
// window falls, and one for a stray event, of 4 RPCs each.
func idleRPCBound(window time.Duration) float64 {
	looks := math.Floor(window.Seconds()/30) + 2
	return 4 * looks / window.Seconds()
}

// printTable prints the figures and returns how many goals the working
// tree misses.
func printTable(out io.Writer, cfg config, results map[string]*result, builds []string) int {
	misses := 0
	n := float64(cfg.n)
	rows := []row{
		{name: "operator RSS (after idle)", value: func(r *result) string { return mib(r.rss) },
			goal: &goal{"≤ 256 MiB at N=500 with 10,000 unrelated objects", func(r *result) bool { return r.rss <= 256<<20 }}},
		{name: "operator heap in use", value: func(r *result) string { return mib(r.heap) }},
		{name: "idle API requests/s per cluster", value: func(r *result) string { return fmt.Sprintf("%.4f", r.idleAPITotal/n) },
			goal: &goal{"≤ 0.01", func(r *result) bool { return r.idleAPITotal/n <= 0.01 }}},
		{name: "idle new etcd connections/s per cluster", value: func(r *result) string { return fmt.Sprintf("%.4f", r.idleConns/n) },
			goal: &goal{"0 (no new connection per pass)", func(r *result) bool { return r.idleConns == 0 }}},
		// A look at a steady cluster asks its 3 members their status and one
		// the member list, once every 30 s. More means a cluster is looked
		// at while nothing changes (a kwok stage rewriting pods did that).
		{name: "idle etcd RPCs/s per cluster", value: func(r *result) string { return fmt.Sprintf("%.3f", r.idleRPCTotal/n) },
			goal: &goal{fmt.Sprintf("≤ %.3f (a look per 30 s, and one more)", idleRPCBound(cfg.idle)), func(r *result) bool { return r.idleRPCTotal/n <= idleRPCBound(cfg.idle) }}},
		{name: "create: all Available", value: func(r *result) string { return dur(r.createAll) }},
		{name: "restart: all reconciled", value: func(r *result) string { return dur(r.restartAll) },
			goal: &goal{"≤ 60s at N=500", func(r *result) bool { return r.restartAll <= time.Minute }}},
		{name: "reconcile time p50 (histogram)", value: func(r *result) string { return secs(r.reconcileP50) }},
		{name: "reconcile time p99 (histogram)", value: func(r *result) string { return secs(r.reconcileP99) }},
		{name: "size change → first learner add, alone p50", value: func(r *result) string { return dur(percentile(r.stepAlone, 0.5)) }},
		{name: "size change → first learner add, alone p99", value: func(r *result) string { return dur(percentile(r.stepAlone, 0.99)) }},
		{name: "size change 3→5 → 5 voters, alone p50", value: func(r *result) string { return dur(percentile(r.scaleAlone, 0.5)) }},
		{name: fmt.Sprintf("… beside %d sick clusters, p50", cfg.sick), value: func(r *result) string { return dur(percentile(r.stepSick, 0.5)) }},
		{name: fmt.Sprintf("… beside %d sick clusters, p99", cfg.sick), value: func(r *result) string { return dur(percentile(r.stepSick, 0.99)) },
			goal: &goal{"≤ 2s p99 beside 10 sick, at N=500", func(r *result) bool {
				return len(r.stepSick) > 0 && r.stepMissed == 0 && percentile(r.stepSick, 0.99) <= 2*time.Second
			}}},
		{name: "size changes with no step within 120s", value: func(r *result) string { return fmt.Sprint(r.stepMissed) }},
	}
	fmt.Fprintf(out, "\nScale bench: N=%d clusters of 3 members (%d with TLS), %d unrelated Pods and %d ConfigMaps, idle window %s, %d sick, %d trials per phase\n",
		cfg.n, min(cfg.tls, cfg.n/2), cfg.noise, cfg.noise, cfg.idle, cfg.sick, cfg.trials)
	fmt.Fprintf(out, "%s, %d CPUs, %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), runtime.NumCPU(), runtime.GOOS+"/"+runtime.GOARCH)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "measure\t")
	for _, b := range builds {
		fmt.Fprintf(tw, "%s\t", label(b))
	}
	fmt.Fprint(tw, "goal\tverdict\n")
	head := results["worktree"]
	for _, rw := range rows {
		fmt.Fprintf(tw, "%s\t", rw.name)
		for _, b := range builds {
			fmt.Fprintf(tw, "%s\t", rw.value(results[label(b)]))
		}
		if rw.goal != nil && head != nil {
			verdict := "PASS"
			if !rw.goal.ok(head) {
				verdict = "MISS"
				misses++
			}
			fmt.Fprintf(tw, "%s\t%s\n", rw.goal.text, verdict)
		} else {
			fmt.Fprint(tw, "\t\n")
		}
	}
	_ = tw.Flush()

	for _, b := range builds {
		r := results[label(b)]
		fmt.Fprintf(out, "\nAPI requests per cluster of %s from its start until every cluster was Available, by verb and resource:\n", label(b))
		breakdown(out, r.createAPI)
		fmt.Fprintf(out, "Idle API requests/s of %s, by verb and resource (all %d clusters):\n", label(b), cfg.n)
		breakdown(out, r.idleAPI)
		fmt.Fprintf(out, "Idle etcd RPCs/s of %s, by method (all %d clusters); new connections/s: %.3f\n", label(b), cfg.n, r.idleConns)
		breakdown(out, r.idleRPC)
	}
	return misses
}

func label(rev string) string {
	if rev == "" {
		return "worktree"
	}
	return rev
}

func breakdown(out io.Writer, m map[string]float64) {
	if len(m) == 0 {
		fmt.Fprintln(out, "  (none)")
		return
	}
	var b strings.Builder
	for _, k := range sortedKeys(m) {
		fmt.Fprintf(&b, "  %-40s %8.3f\n", k, m[k])
	}
	fmt.Fprint(out, b.String())
}
