// Command scale measures one operator at N clusters on a control plane
// without kubelets (see doc.go and docs/scale.md).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"

	"github.com/quorum-operator/quorum/hack/bench/scale/etcdsim"
)

type config struct {
	repo, assets, kubeBin, kwok, etcdsim string
	n, noise, sick, trials, tls          int
	idle                                 time.Duration
	// podStart and podReady are kwok's mean delays from scheduled to
	// running and from running to ready (each drawn from ½ to 1½ of it).
	podStart, podReady time.Duration
	baseline           string
	keep, failOnMiss   bool
	// calibrate runs on the local cluster kubeconfig names as well.
	calibrate               bool
	kubeconfig, etcdVersion string
}

func main() {
	var cfg config
	flag.StringVar(&cfg.repo, "repo", ".", "the repository (its working tree is the operator measured)")
	flag.StringVar(&cfg.assets, "assets", os.Getenv("KUBEBUILDER_ASSETS"), "directory with kube-apiserver and etcd")
	flag.StringVar(&cfg.kubeBin, "kube-bin", "", "directory with kube-controller-manager and kube-scheduler")
	flag.StringVar(&cfg.kwok, "kwok", "", "kwok binary")
	flag.StringVar(&cfg.etcdsim, "etcdsim", "", "etcdsim binary (built when empty)")
	flag.IntVar(&cfg.n, "n", 10, "number of 3-member clusters")
	flag.IntVar(&cfg.noise, "noise", 10000, "unrelated Pods, and as many ConfigMaps, in other namespaces")
	flag.IntVar(&cfg.tls, "tls", -1, "clusters with TLS (every other one, up to n/2); -1: a tenth of n, at least 1")
	flag.IntVar(&cfg.sick, "sick", 10, "clusters whose members stop answering in the sick phase (at most n/2)")
	flag.IntVar(&cfg.trials, "trials", 5, "size changes timed in each of the healthy and the sick phase")
	flag.DurationVar(&cfg.idle, "idle", 60*time.Second, "length of the idle window")
	flag.DurationVar(&cfg.podStart, "pod-start", defaultPodStart, "mean time kwok takes from a pod scheduled to its containers running (drawn from ½ to 1½ of it)")
	flag.DurationVar(&cfg.podReady, "pod-ready", defaultPodReady, "mean time kwok takes from running to ready (the readiness probe passing)")
	flag.StringVar(&cfg.baseline, "baseline", "698b703", "commit measured beside the working tree (empty: none)")
	flag.BoolVar(&cfg.calibrate, "calibrate", false, "compare the operator's requests on the local cluster (-local-kubeconfig) with the simulator's, at n clusters")
	flag.StringVar(&cfg.kubeconfig, "local-kubeconfig", "", "kubeconfig of the local cluster, for -calibrate")
	flag.StringVar(&cfg.etcdVersion, "etcd-version", "3.6.16", "etcd version of the local cluster's clusters, for -calibrate")
	flag.BoolVar(&cfg.failOnMiss, "fail-on-miss", false, "exit 1 when the working tree misses a goal (for CI)")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the temporary directory (logs)")
	flag.Parse()
	logf.SetLogger(zap.New(zap.WriteTo(io.Discard)))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "bench-scale:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg config) error {
	var err error
	if cfg.repo, err = filepath.Abs(cfg.repo); err != nil {
		return err
	}
	if cfg.tls < 0 {
		cfg.tls = max(1, cfg.n/10)
	}
	cfg.sick = min(cfg.sick, cfg.n/2)
	cfg.trials = max(1, min(cfg.trials, (cfg.n-cfg.sick)/2))
	dir, err := os.MkdirTemp("", "bench-scale-")
	if err != nil {
		return err
	}
	if cfg.keep {
		fmt.Fprintln(os.Stderr, "logs in", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	if cfg.etcdsim == "" {
		cfg.etcdsim = filepath.Join(dir, "etcdsim")
		build := exec.CommandContext(ctx, "go", "build", "-o", cfg.etcdsim, "./hack/bench/scale/cmd/etcdsim")
		build.Dir = cfg.repo
		if out, err := build.CombinedOutput(); err != nil {
			return fmt.Errorf("build etcdsim: %w: %s", err, out)
		}
	}
	if cfg.calibrate {
		return calibrate(ctx, cfg, dir)
	}
	if err := routeUp(); err != nil {
		return err
	}
	defer routeDown()

	builds := []string{""}
	if cfg.baseline != "" {
		builds = []string{cfg.baseline, ""}
	}
	results := map[string]*result{}
	for _, rev := range builds {
		name := rev
		if name == "" {
			name = "worktree"
		}
		fmt.Fprintf(os.Stderr, "== %s: building\n", name)
		bin, err := buildOperator(ctx, cfg.repo, rev, dir)
		if err != nil {
			return err
		}
		runDir := filepath.Join(dir, name)
		if err := os.MkdirAll(runDir, 0o755); err != nil {
			return err
		}
		r, err := measure(ctx, cfg, runDir, bin, name)
		if err != nil {
			if cfg.keep {
				fmt.Fprintln(os.Stderr, "logs of the failed run in", runDir)
			}
			return fmt.Errorf("%s: %w", name, err)
		}
		results[name] = r
	}
	if misses := printTable(os.Stdout, cfg, results, builds); misses > 0 && cfg.failOnMiss {
		return fmt.Errorf("the working tree misses %d goals", misses)
	}
	return nil
}

// result is what one build measured.
type result struct {
	createAll, restartAll time.Duration
	rss, heap             float64
	createAPI             map[string]float64 // requests per cluster, start to all Available
	createStatus          map[string]float64 // per cluster: status patches by what they changed
	createPasses          float64            // reconcile passes per cluster, start to all Available
	idleAPI               map[string]float64 // requests/s by "verb resource"
	idleAPITotal          float64            // requests/s
	idleRPC               map[string]float64 // RPCs/s by method
	idleRPCTotal          float64
	idleConns             float64 // new connections/s
	reconcileP50          float64 // seconds
	reconcileP99          float64
	stepAlone, stepSick   []time.Duration // spec change to first MemberAddAsLearner
	scaleAlone            []time.Duration // spec change 3→5 to its last promote
	stepMissed            int             // trials that saw no step within the timeout
}

func measure(ctx context.Context, cfg config, dir, bin, name string) (*result, error) {
	r := &result{}
	p, err := startPlane(ctx, cfg, dir)
	if p != nil {
		defer p.stop()
	}
	if err != nil {
		return nil, err
	}
	kube := p.kube
	if err := createNodes(ctx, kube, 4); err != nil {
		return nil, err
	}
	t := time.Now()
	if err := createNoise(ctx, kube, cfg.noise); err != nil {
		return nil, fmt.Errorf("unrelated objects: %w", err)
	}
	fmt.Fprintf(os.Stderr, "== %s: %d unrelated pods and configmaps in %s\n", name, cfg.noise, time.Since(t).Round(time.Second))
	namespaces := max(1, min(10, cfg.n/10))
	if err := createClusters(ctx, kube, cfg.n, namespaces, cfg.tls); err != nil {
		return nil, err
	}

	counter, err := startAPICounter(p.operatorConfig)
	if err != nil {
		return nil, err
	}
	defer counter.close()

	// Create: from the operator's start until every cluster is Available.
	t = time.Now()
	op, err := startOperator(dir, bin, "operator-1", counter)
	if err != nil {
		return nil, err
	}
	if err := waitAvailable(ctx, kube, cfg.n, 10*time.Minute); err != nil {
		op.stop()
		return nil, fmt.Errorf("create: %w", err)
	}
	r.createAll = time.Since(t)
	if err := r.recordCreate(ctx, counter, op, cfg.n); err != nil {
		op.stop()
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "== %s: %d clusters Available in %s\n", name, cfg.n, r.createAll.Round(100*time.Millisecond))

	// Restart: every cluster looked at (its member list read) again.
	op.stop()
	t = time.Now()
	if op, err = startOperator(dir, bin, "operator-2", counter); err != nil {
		return nil, err
	}
	defer func() { op.stop() }()
	if err := poll(ctx, 100*time.Millisecond, 10*time.Minute, func() (bool, error) {
		var n int
		err := simGet(ctx, p.sim, "/listed?since="+fmt.Sprint(t.UnixNano()), &n)
		return n >= cfg.n, err
	}); err != nil {
		return nil, fmt.Errorf("restart: %w", err)
	}
	r.restartAll = time.Since(t)
	if err := waitAvailable(ctx, kube, cfg.n, 5*time.Minute); err != nil {
		return nil, fmt.Errorf("after restart: %w", err)
	}
	fmt.Fprintf(os.Stderr, "== %s: all clusters reconciled %s after a restart\n", name, r.restartAll.Round(100*time.Millisecond))

	// Idle: a window of no change.
	if err := op.waitMetrics(ctx); err != nil {
		return nil, err
	}
	api0, sim0 := counter.snapshot(), etcdsim.Stats{}
	if err := simGet(ctx, p.sim, "/stats", &sim0); err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "== %s: idle for %s\n", name, cfg.idle)
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(cfg.idle):
	}
	api1, sim1 := counter.snapshot(), etcdsim.Stats{}
	if err := simGet(ctx, p.sim, "/stats", &sim1); err != nil {
		return nil, err
	}
	secs := sim1.Time.Sub(sim0.Time).Seconds()
	r.idleAPI = map[string]float64{}
	for k, v := range api1 {
		if d := float64(v - api0[k]); d > 0 {
			r.idleAPI[k] = d / secs
			r.idleAPITotal += d / secs
		}
	}
	r.idleRPC = map[string]float64{}
	for k, v := range sim1.RPCs {
		if d := float64(v - sim0.RPCs[k]); d > 0 {
			r.idleRPC[k] = d / secs
			r.idleRPCTotal += d / secs
		}
	}
	r.idleConns = float64(sim1.Conns-sim0.Conns) / secs
	rss, err := op.rssBytes()
	if err != nil {
		return nil, err
	}
	r.rss = float64(rss)
	samples, err := op.scrape(ctx)
	if err != nil {
		return nil, err
	}
	r.heap = sum(samples, "go_memstats_heap_inuse_bytes", nil)

	// Size changes, with every cluster healthy, then beside sick ones.
	next := 0
	trial := func(phase string) error {
		key := benchCluster(next, namespaces)
		next++
		d, changed, err := timeFirstStep(ctx, kube, p.sim, key)
		if err != nil {
			r.stepMissed++
			fmt.Fprintf(os.Stderr, "== %s: %s size change of %s: %v\n", name, phase, key, err)
			return nil
		}
		fmt.Fprintf(os.Stderr, "== %s: %s size change of %s: first step after %s\n", name, phase, key, d.Round(time.Millisecond))
		if phase == "alone" {
			r.stepAlone = append(r.stepAlone, d)
			// Alone, also until the two new members are voters: how soon
			// each next step follows the one before.
			if done, err := timeVoters(ctx, p.sim, key, changed, 5, 60*time.Second); err != nil {
				fmt.Fprintf(os.Stderr, "== %s: 3→5 of %s not done: %v\n", name, key, err)
			} else {
				r.scaleAlone = append(r.scaleAlone, done)
				fmt.Fprintf(os.Stderr, "== %s: 3→5 of %s done (5 voters) after %s\n", name, key, done.Round(time.Millisecond))
			}
		} else {
			r.stepSick = append(r.stepSick, d)
		}
		return nil
	}
	for range cfg.trials {
		if err := trial("alone"); err != nil {
			return nil, err
		}
	}
	for i := range cfg.sick {
		key := benchCluster(cfg.n-1-i, namespaces)
		q := url.Values{"ns": {key.Namespace}, "name": {key.Name}, "mode": {etcdsim.Hang}}
		if err := simPost(ctx, p.sim, "/sick?"+q.Encode()); err != nil {
			return nil, err
		}
		// A member that does not answer fails its readiness probe: the
		// kubelet would mark its pod not ready, and that is the event that
		// brings the operator to the cluster.
		if err := markNotReady(ctx, kube, key); err != nil {
			return nil, err
		}
	}
	if cfg.sick > 0 {
		// Let the operator meet the sick clusters before the first trial.
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(10 * time.Second):
		}
		for range cfg.trials {
			if err := trial("sick"); err != nil {
				return nil, err
			}
		}
	}

	samples, err = op.scrape(ctx)
	if err != nil {
		return nil, err
	}
	isCluster := func(l map[string]string) bool { return l["controller"] == "etcdcluster" }
	r.reconcileP50 = quantile(samples, "controller_runtime_reconcile_time_seconds", 0.5, isCluster)
	r.reconcileP99 = quantile(samples, "controller_runtime_reconcile_time_seconds", 0.99, isCluster)
	return r, nil
}

// markNotReady sets the cluster's member pods not ready, as the kubelet
// does when their readiness probes fail; kwok leaves running pods alone.
func markNotReady(ctx context.Context, kube client.Client, key client.ObjectKey) error {
	var pods corev1.PodList
	if err := kube.List(ctx, &pods, client.InNamespace(key.Namespace), client.MatchingLabels{"etcd.quorum.dev/cluster": key.Name}); err != nil {
		return err
	}
	patch := []byte(`{"status":{"conditions":[{"type":"Ready","status":"False","reason":"ReadinessProbeFailed"},` +
		`{"type":"ContainersReady","status":"False"}],"containerStatuses":[{"name":"etcd","ready":false}]}}`)
	for i := range pods.Items {
		if err := kube.Status().Patch(ctx, &pods.Items[i], client.RawPatch(types.StrategicMergePatchType, patch)); err != nil {
			return err
		}
	}
	return nil
}

func waitAvailable(ctx context.Context, kube client.Client, n int, timeout time.Duration) error {
	last := -1
	return poll(ctx, time.Second, timeout, func() (bool, error) {
		got, err := countAvailable(ctx, kube)
		if got != last {
			fmt.Fprintf(os.Stderr, "   %d/%d Available\n", got, n)
			last = got
		}
		return got >= n, err
	})
}

// timeFirstStep raises the cluster's size 3→5 and times it until the
// simulator sees its first MemberAddAsLearner.
// timeVoters waits until the cluster has n voters and no learner at the
// simulator, and returns the time from the size change (since) to the
// last membership change.
func timeVoters(ctx context.Context, sim string, key client.ObjectKey, since time.Time, n int, timeout time.Duration) (time.Duration, error) {
	var d time.Duration
	err := poll(ctx, 20*time.Millisecond, timeout, func() (bool, error) {
		var info etcdsim.ClusterInfo
		q := url.Values{"ns": {key.Namespace}, "name": {key.Name}}
		if err := simGet(ctx, sim, "/cluster?"+q.Encode(), &info); err != nil {
			return false, err
		}
		if info.Members != n || info.Learners != 0 || len(info.Calls) == 0 {
			return false, nil
		}
		d = info.Calls[len(info.Calls)-1].Time.Sub(since)
		return true, nil
	})
	return d, err
}

func timeFirstStep(ctx context.Context, kube client.Client, sim string, key client.ObjectKey) (time.Duration, time.Time, error) {
	var c etcdv1alpha1.EtcdCluster
	if err := kube.Get(ctx, key, &c); err != nil {
		return 0, time.Time{}, err
	}
	patch := client.MergeFrom(c.DeepCopy())
	c.Spec.Size = 5
	t := time.Now()
	if err := kube.Patch(ctx, &c, patch); err != nil {
		return 0, time.Time{}, err
	}
	var first time.Time
	err := poll(ctx, 20*time.Millisecond, 120*time.Second, func() (bool, error) {
		var info etcdsim.ClusterInfo
		q := url.Values{"ns": {key.Namespace}, "name": {key.Name}}
		if err := simGet(ctx, sim, "/cluster?"+q.Encode(), &info); err != nil {
			return false, err
		}
		for _, call := range info.Calls {
			if call.Method == "MemberAddAsLearner" && call.Time.After(t) {
				first = call.Time
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return 0, time.Time{}, err
	}
	return first.Sub(t), t, nil
}

func simGet(ctx context.Context, base, path string, into any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("etcdsim %s: %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(into)
}

func simPost(ctx context.Context, base, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New("etcdsim " + path + ": " + resp.Status)
	}
	return nil
}

func percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return -1
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

func sortedKeys(m map[string]float64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return m[keys[i]] > m[keys[j]] || m[keys[i]] == m[keys[j]] && keys[i] < keys[j] })
	return keys
}
