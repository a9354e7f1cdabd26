package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// buildOperator builds the operator of the working tree (rev "") or of a
// commit, from a copy made with git archive, into dir.
func buildOperator(ctx context.Context, repo, rev, dir string) (string, error) {
	src, out := repo, filepath.Join(dir, "manager-worktree")
	if rev != "" {
		src, out = filepath.Join(dir, "src-"+rev), filepath.Join(dir, "manager-"+rev)
		if err := os.MkdirAll(src, 0o755); err != nil {
			return "", err
		}
		archive := exec.CommandContext(ctx, "sh", "-c", fmt.Sprintf("git -C %q archive %q | tar -x -C %q", repo, rev, src))
		if b, err := archive.CombinedOutput(); err != nil {
			return "", fmt.Errorf("git archive %s: %w: %s", rev, err, b)
		}
	}
	build := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd")
	build.Dir = src
	if b, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build the operator at %s: %w: %s", src, err, b)
	}
	return out, nil
}

// operator is one run of the operator binary against the counting proxy.
type operator struct {
	proc    *proc
	metrics string
}

func startOperator(dir, bin, name string, counter *apiCounter) (*operator, error) {
	cfg := counter.config()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["bench"] = &clientcmdapi.Cluster{Server: cfg.Host, InsecureSkipTLSVerify: true}
	kc.AuthInfos["bench"] = &clientcmdapi.AuthInfo{}
	kc.Contexts["bench"] = &clientcmdapi.Context{Cluster: "bench", AuthInfo: "bench"}
	kc.CurrentContext = "bench"
	path := filepath.Join(dir, "operator.kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		return nil, err
	}
	metricsPort := freePort()
	p, err := start(dir, name, bin, []string{"KUBECONFIG=" + path},
		fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", metricsPort), "--metrics-secure=false",
		fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", freePort()), "--leader-elect=false",
		"--job-image=quorum-operator/manager:dev")
	if err != nil {
		return nil, err
	}
	return &operator{proc: p, metrics: fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort)}, nil
}

// rssBytes is the operator's resident set (VmRSS).
func (o *operator) rssBytes() (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", o.proc.pid()))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no VmRSS")
}

// sample is one metric line: its name, labels and value.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

var (
	sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)`)
	labelPair  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)
)

// scrape reads the operator's Prometheus metrics (text format).
func (o *operator) scrape(ctx context.Context) ([]sample, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.metrics, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	var out []sample
	for _, line := range strings.Split(string(body), "\n") {
		m := sampleLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			continue
		}
		s := sample{name: m[1], labels: map[string]string{}, value: v}
		for _, l := range labelPair.FindAllStringSubmatch(m[2], -1) {
			s.labels[l[1]] = l[2]
		}
		out = append(out, s)
	}
	return out, nil
}

func sum(samples []sample, name string, match func(map[string]string) bool) float64 {
	var t float64
	for _, s := range samples {
		if s.name == name && (match == nil || match(s.labels)) {
			t += s.value
		}
	}
	return t
}

// quantile of a Prometheus histogram (summed over series that match), by
// linear interpolation inside the bucket, as histogram_quantile does.
func quantile(samples []sample, name string, q float64, match func(map[string]string) bool) float64 {
	buckets := map[float64]float64{}
	for _, s := range samples {
		if s.name != name+"_bucket" || (match != nil && !match(s.labels)) {
			continue
		}
		le, err := strconv.ParseFloat(s.labels["le"], 64)
		if err != nil {
			continue
		}
		buckets[le] += s.value
	}
	les := make([]float64, 0, len(buckets))
	for le := range buckets {
		les = append(les, le)
	}
	sort.Float64s(les)
	if len(les) == 0 || buckets[les[len(les)-1]] == 0 {
		return math.NaN()
	}
	rank := q * buckets[les[len(les)-1]]
	prevLe, prevCount := 0.0, 0.0
	for _, le := range les {
		c := buckets[le]
		if c >= rank {
			if math.IsInf(le, 1) {
				return prevLe
			}
			if c == prevCount {
				return le
			}
			return prevLe + (le-prevLe)*(rank-prevCount)/(c-prevCount)
		}
		prevLe, prevCount = le, c
	}
	return prevLe
}

func (o *operator) stop() { o.proc.stop() }

// waitMetrics waits until the metrics endpoint answers.
func (o *operator) waitMetrics(ctx context.Context) error {
	return poll(ctx, 200*time.Millisecond, 60*time.Second, func() (bool, error) {
		_, err := o.scrape(ctx)
		return err == nil, nil
	})
}
