package prometheus

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"
)

// repo is the repository root, from this module's directory.
const repo = "../../.."

const (
	rulesFile     = repo + "/config/prometheus/rules.yaml"
	rulesTestFile = repo + "/config/prometheus/rules_test.yaml"
	dashboardFile = repo + "/config/grafana/quorum-dashboard.json"
	docsFile      = repo + "/docs/monitoring.md"
	runbookBase   = "https://github.com/quorum-operator/quorum/blob/main/docs/monitoring.md#"
)

// controllerRuntimeMetrics are the controller-runtime metrics the queries
// may name: the reconcile metrics of pkg/internal/controller/metrics and
// the workqueue metrics of pkg/metrics/workqueue.go, as the operator's
// /metrics serves them.
var controllerRuntimeMetrics = []string{
	"controller_runtime_reconcile_total",
	"controller_runtime_reconcile_errors_total",
	"controller_runtime_terminal_reconcile_errors_total",
	"controller_runtime_reconcile_panics_total",
	"controller_runtime_reconcile_time_seconds_bucket",
	"controller_runtime_reconcile_time_seconds_sum",
	"controller_runtime_reconcile_time_seconds_count",
	"controller_runtime_max_concurrent_reconciles",
	"controller_runtime_active_workers",
	"workqueue_depth",
	"workqueue_adds_total",
	"workqueue_retries_total",
	"workqueue_queue_duration_seconds_bucket",
	"workqueue_work_duration_seconds_bucket",
	"workqueue_unfinished_work_seconds",
	"workqueue_longest_running_processor_seconds",
}

// query is one PromQL expression and where it comes from.
type query struct{ where, expr string }

// TestQueriesParseAndNameKnownMetrics parses every query of the rules and
// the dashboard with Prometheus's parser and checks that each metric it
// names is one the operator, controller-runtime or etcd exports (or up,
// which Prometheus records per target).
func TestQueriesParseAndNameKnownMetrics(t *testing.T) {
	known := map[string]string{"up": "Prometheus"}
	for _, n := range operatorMetrics(t) {
		known[n] = "the operator (internal/metrics)"
	}
	for _, n := range controllerRuntimeMetrics {
		known[n] = "controller-runtime"
	}
	for _, n := range etcdMetrics(t) {
		known[n] = "etcd"
	}

	queries := append(ruleQueries(t), dashboardQueries(t)...)
	if len(queries) < 30 {
		t.Fatalf("found only %d queries: the files were not read as expected", len(queries))
	}
	p := parser.NewParser(parser.Options{})
	used := map[string]bool{}
	for _, q := range queries {
		expr, err := p.ParseExpr(grafanaVariables(q.expr))
		if err != nil {
			t.Errorf("%s: %q does not parse: %v", q.where, q.expr, err)
			continue
		}
		for _, name := range metricNames(expr) {
			used[name] = true
			if known[name] == "" {
				t.Errorf("%s: %q names %s, which neither the operator, controller-runtime nor etcd exports", q.where, q.expr, name)
			}
		}
	}
	// The check must see the metrics the alerts are about.
	for _, must := range []string{"quorum_cluster_has_quorum", "etcd_server_has_leader", "controller_runtime_reconcile_total"} {
		if !used[must] {
			t.Errorf("no query names %s", must)
		}
	}
}

var (
	intervalVariable = regexp.MustCompile(`\$(__rate_interval|__interval|__range)\b`)
	otherVariable    = regexp.MustCompile(`\$\{[^}]+\}|\$[A-Za-z_][A-Za-z0-9_]*`)
)

// grafanaVariables replaces Grafana's variables by what they stand for:
// durations for the interval ones, a plain value for the others (all of
// which are label values here).
func grafanaVariables(expr string) string {
	expr = intervalVariable.ReplaceAllString(expr, "5m")
	return otherVariable.ReplaceAllString(expr, "x")
}

// metricNames are the metric names an expression selects.
func metricNames(expr parser.Expr) []string {
	var names []string
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		for _, m := range vs.LabelMatchers {
			if m.Name == model.MetricNameLabel {
				name = m.Value
			}
		}
		names = append(names, name)
		return nil
	})
	return names
}

func ruleQueries(t *testing.T) []query {
	t.Helper()
	var out []query
	for _, g := range loadRules(t).Groups {
		for _, r := range g.Rules {
			out = append(out, query{where: fmt.Sprintf("rules.yaml %s/%s", g.Name, r.Alert), expr: r.Expr})
		}
	}
	return out
}

func loadRules(t *testing.T) *rulefmt.RuleGroups {
	t.Helper()
	groups, errs := rulefmt.ParseFile(rulesFile, false, model.UTF8Validation, parser.NewParser(parser.Options{}), slog.New(slog.DiscardHandler))
	if len(errs) > 0 {
		t.Fatalf("rules.yaml: %v", errs)
	}
	return groups
}

// dashboard is the part of a Grafana dashboard the test reads.
type dashboard struct {
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string          `json:"name"`
			Type  string          `json:"type"`
			Query json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	Title   string  `json:"title"`
	Type    string  `json:"type"`
	Panels  []panel `json:"panels"` // a collapsed row's
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	raw, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("%s is not valid JSON: %v", dashboardFile, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		t.Fatalf("%s has more than one JSON value", dashboardFile)
	}
	return d
}

// allPanels flattens rows.
func allPanels(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

var labelValues = regexp.MustCompile(`^label_values\((.*),\s*[A-Za-z_][A-Za-z0-9_]*\)$`)

func dashboardQueries(t *testing.T) []query {
	t.Helper()
	d := loadDashboard(t)
	var out []query
	for _, p := range allPanels(d.Panels) {
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("dashboard panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			if tg.Expr == "" {
				t.Errorf("dashboard panel %q has a target without expr", p.Title)
			}
			out = append(out, query{where: "dashboard panel " + p.Title, expr: tg.Expr})
		}
	}
	// Query variables use Grafana's label_values(selector, label): the
	// selector is PromQL.
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q); err != nil {
			t.Fatalf("variable %s: %v", v.Name, err)
		}
		m := labelValues.FindStringSubmatch(q.Query)
		if m == nil {
			t.Errorf("variable %s: %q is not label_values(selector, label)", v.Name, q.Query)
			continue
		}
		out = append(out, query{where: "dashboard variable " + v.Name, expr: m[1]})
	}
	return out
}

var quorumMetric = regexp.MustCompile(`"(quorum_[a-z0-9_]+)"`)

// operatorMetrics are the quorum_* names defined in internal/metrics.
func operatorMetrics(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(repo + "/internal/metrics/*.go")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range quorumMetric.FindAllStringSubmatch(string(src), -1) {
			names = append(names, m[1])
		}
	}
	if len(names) < 10 {
		t.Fatalf("found %d quorum_* metrics in internal/metrics: %v", len(names), names)
	}
	return names
}

// etcdMetrics are the metric names a real etcd member serves: the etcd
// binary the tests use (ETCD, set by 'make test-rules') is started on
// loopback and its /metrics read.
func etcdMetrics(t *testing.T) []string {
	t.Helper()
	bin := os.Getenv("ETCD")
	if bin == "" {
		t.Fatal("ETCD must name an etcd binary (make test-rules sets it)")
	}
	client, peer, metrics := freePort(t), freePort(t), freePort(t)
	cmd := exec.Command(bin, "--name", "m", "--data-dir", t.TempDir(),
		"--listen-client-urls", "http://127.0.0.1:"+client, "--advertise-client-urls", "http://127.0.0.1:"+client,
		"--listen-peer-urls", "http://127.0.0.1:"+peer, "--initial-advertise-peer-urls", "http://127.0.0.1:"+peer,
		"--initial-cluster", "m=http://127.0.0.1:"+peer, "--listen-metrics-urls", "http://127.0.0.1:"+metrics)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	url := "http://127.0.0.1:" + metrics + "/metrics"
	put := "http://127.0.0.1:" + client + "/v3/kv/put"
	deadline := time.Now().Add(30 * time.Second)
	for {
		// Scrape only after a write went through gRPC (the gateway calls
		// it): etcd registers its gRPC server metrics once it serves
		// clients, some time after it has a leader.
		err := writeThroughGateway(put)
		if err == nil && leaderElected(url) {
			names, err := scrapeNames(url)
			if err == nil {
				return names
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("etcd at %s: no metrics after a write within 30s (last error: %v)", url, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// writeThroughGateway puts one key through etcd's JSON gateway.
func writeThroughGateway(url string) error {
	resp, err := http.Post(url, "application/json", strings.NewReader(`{"key":"cHJvYmU=","value":"MQ=="}`))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("put: %s: %s", resp.Status, body)
	}
	return nil
}

func leaderElected(url string) bool {
	resp, err := http.Get(url)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if sc.Text() == "etcd_server_has_leader 1" {
			return true
		}
	}
	return false
}

// scrapeNames reads the # TYPE lines of a text exposition: the sample
// names of a histogram or summary are its name with _bucket, _sum, _count.
func scrapeNames(url string) ([]string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var names []string
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 4 || f[0] != "#" || f[1] != "TYPE" {
			continue
		}
		switch f[3] {
		case "histogram":
			names = append(names, f[2]+"_bucket", f[2]+"_sum", f[2]+"_count")
		case "summary":
			names = append(names, f[2], f[2]+"_sum", f[2]+"_count")
		default:
			names = append(names, f[2])
		}
	}
	return names, sc.Err()
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
}

// TestEveryAlertIsTestedAndDocumented checks that rules_test.yaml has, for
// every alert, a case where it fires and one where it does not, and that
// its runbook_url points at its own heading in docs/monitoring.md.
func TestEveryAlertIsTestedAndDocumented(t *testing.T) {
	raw, err := os.ReadFile(rulesTestFile)
	if err != nil {
		t.Fatal(err)
	}
	var tests struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string           `yaml:"alertname"`
				ExpAlerts []map[string]any `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	if err := yaml.Unmarshal(raw, &tests); err != nil {
		t.Fatal(err)
	}
	fires, silent := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			} else {
				silent[a.Alertname] = true
			}
		}
	}
	docs, err := os.ReadFile(docsFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range loadRules(t).Groups {
		for _, r := range g.Rules {
			if !fires[r.Alert] {
				t.Errorf("alert %s: no test case in which it fires", r.Alert)
			}
			if !silent[r.Alert] {
				t.Errorf("alert %s: no test case in which it stays silent", r.Alert)
			}
			if want := runbookBase + strings.ToLower(r.Alert); r.Annotations["runbook_url"] != want {
				t.Errorf("alert %s: runbook_url %q, want %q", r.Alert, r.Annotations["runbook_url"], want)
			}
			for _, a := range []string{"summary", "description"} {
				if r.Annotations[a] == "" {
					t.Errorf("alert %s: no %s annotation", r.Alert, a)
				}
			}
			if !strings.Contains(string(docs), "\n### "+r.Alert+"\n") {
				t.Errorf("alert %s: docs/monitoring.md has no heading '### %s' for its runbook link", r.Alert, r.Alert)
			}
		}
	}
}

// TestEveryPanelIsDocumented checks that docs/monitoring.md names every
// dashboard panel.
func TestEveryPanelIsDocumented(t *testing.T) {
	docs, err := os.ReadFile(docsFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range allPanels(loadDashboard(t).Panels) {
		if p.Type != "row" && !strings.Contains(string(docs), "**"+p.Title+"**") {
			t.Errorf("dashboard panel %q is not described in docs/monitoring.md (as **%s**)", p.Title, p.Title)
		}
	}
}
