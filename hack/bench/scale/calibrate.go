package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"text/tabwriter"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
)

// The operator as make deploy installs it on the local cluster.
const (
	deployedNamespace  = "quorum-system"
	deployedDeployment = "quorum-controller-manager"
	calibrateNamespace = "bench-calibrate"
)

// calibrate measures the same operator build on the real local cluster and
// on the simulator, with the same number of clusters, and prints the API
// requests per cluster of each side by side: creating every cluster until
// it is Available, and the idle window after. The operator runs on this
// machine in both, through the counting proxy; on the local cluster the
// deployed operator is scaled to zero meanwhile and restored after.
func calibrate(ctx context.Context, cfg config, dir string) error {
	local, err := measureReal(ctx, cfg, dir)
	if err != nil {
		return fmt.Errorf("local cluster: %w", err)
	}
	simCfg := cfg
	// The same clusters as on the local cluster: no TLS, nothing else.
	simCfg.noise, simCfg.sick, simCfg.trials, simCfg.tls = 0, 0, 1, 0
	if err := routeUp(); err != nil {
		return err
	}
	defer routeDown()
	bin, err := buildOperator(ctx, cfg.repo, "", dir)
	if err != nil {
		return err
	}
	simDir := filepath.Join(dir, "simulated")
	if err := os.MkdirAll(simDir, 0o755); err != nil {
		return err
	}
	sim, err := measure(ctx, simCfg, simDir, bin, "simulated")
	if err != nil {
		return fmt.Errorf("simulator: %w", err)
	}
	printCalibration(os.Stdout, cfg, local, sim)
	return nil
}

func measureReal(ctx context.Context, cfg config, dir string) (*result, error) {
	restCfg, err := clientcmd.BuildConfigFromFlags("", cfg.kubeconfig)
	if err != nil {
		return nil, err
	}
	kube, err := newClient(restCfg)
	if err != nil {
		return nil, err
	}
	bin, err := buildOperator(ctx, cfg.repo, "", dir)
	if err != nil {
		return nil, err
	}
	restore, err := scaleDeployed(ctx, kube, 0)
	if err != nil {
		return nil, err
	}
	defer restore()

	counter, err := startAPICounter(restCfg)
	if err != nil {
		return nil, err
	}
	defer counter.close()
	realDir := filepath.Join(dir, "local-cluster")
	if err := os.MkdirAll(realDir, 0o755); err != nil {
		return nil, err
	}
	if err := createNamespace(ctx, kube, calibrateNamespace); err != nil {
		return nil, err
	}
	r := &result{}
	t := time.Now()
	op, err := startOperator(realDir, bin, "operator", counter)
	if err != nil {
		return nil, err
	}
	defer op.stop()
	// The clusters are deleted while the operator runs: it removes their
	// finalizers.
	defer deleteCalibrationClusters(kube, cfg.n)
	if err := parallel(cfg.n, 4, func(i int) error {
		c := &etcdv1alpha1.EtcdCluster{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("etcd-%d", i), Namespace: calibrateNamespace},
			Spec: etcdv1alpha1.EtcdClusterSpec{Size: 3, Version: cfg.etcdVersion,
				Storage: &etcdv1alpha1.StorageSpec{EmptyDir: &corev1.EmptyDirVolumeSource{}},
				// The local cluster has one node.
				PodTemplate: &etcdv1alpha1.PodTemplate{MemberSpread: etcdv1alpha1.MemberSpreadNone}},
		}
		return client.IgnoreAlreadyExists(kube.Create(ctx, c))
	}); err != nil {
		return nil, err
	}
	if err := waitAvailable(ctx, kube, cfg.n, 20*time.Minute); err != nil {
		return nil, err
	}
	r.createAll = time.Since(t)
	if err := r.recordCreate(ctx, counter, op, cfg.n); err != nil {
		return nil, err
	}
	api0, t0 := counter.snapshot(), time.Now()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(cfg.idle):
	}
	api1, secs := counter.snapshot(), time.Since(t0).Seconds()
	r.idleAPI = map[string]float64{}
	for k, v := range api1 {
		if d := float64(v - api0[k]); d > 0 {
			r.idleAPI[k] = d / secs
			r.idleAPITotal += d / secs
		}
	}
	if rss, err := op.rssBytes(); err == nil {
		r.rss = float64(rss)
	}
	return r, nil
}

// scaleDeployed sets the deployed operator's replicas and returns what
// puts them back; without a deployed operator both do nothing.
func scaleDeployed(ctx context.Context, kube client.Client, replicas int32) (func(), error) {
	var d appsv1.Deployment
	key := client.ObjectKey{Namespace: deployedNamespace, Name: deployedDeployment}
	if err := kube.Get(ctx, key, &d); err != nil {
		return func() {}, client.IgnoreNotFound(err)
	}
	was := int32(1)
	if d.Spec.Replicas != nil {
		was = *d.Spec.Replicas
	}
	set := func(n int32) error {
		patch := client.MergeFrom(d.DeepCopy())
		d.Spec.Replicas = &n
		return kube.Patch(context.Background(), &d, patch)
	}
	if err := set(replicas); err != nil {
		return func() {}, err
	}
	fmt.Fprintf(os.Stderr, "== scaled %s/%s from %d to %d replicas for the calibration\n", deployedNamespace, deployedDeployment, was, replicas)
	// Wait for its pods to go, so two operators never act at once.
	if err := poll(ctx, time.Second, 2*time.Minute, func() (bool, error) {
		var pods corev1.PodList
		err := kube.List(ctx, &pods, client.InNamespace(deployedNamespace), client.MatchingLabels(d.Spec.Selector.MatchLabels))
		return len(pods.Items) == 0, err
	}); err != nil {
		return func() { _ = set(was) }, err
	}
	return func() {
		if err := set(was); err != nil {
			fmt.Fprintf(os.Stderr, "restore %s/%s to %d replicas: %v\n", deployedNamespace, deployedDeployment, was, err)
		}
	}, nil
}

func deleteCalibrationClusters(kube client.Client, n int) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for i := range n {
		c := &etcdv1alpha1.EtcdCluster{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("etcd-%d", i), Namespace: calibrateNamespace}}
		_ = client.IgnoreNotFound(kube.Delete(ctx, c))
	}
	_ = poll(ctx, time.Second, 5*time.Minute, func() (bool, error) {
		var list etcdv1alpha1.EtcdClusterList
		err := kube.List(ctx, &list, client.InNamespace(calibrateNamespace))
		return len(list.Items) == 0, err
	})
	_ = kube.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: calibrateNamespace}})
}

func printCalibration(out io.Writer, cfg config, local, sim *result) {
	fmt.Fprintf(out, "\nCalibration: the same operator build, %d clusters of 3 members (emptyDir), on the local cluster and on the simulator\n", cfg.n)
	fmt.Fprintf(out, "create: all Available in %s (local cluster), %s (simulator); idle window %s\n\n", dur(local.createAll), dur(sim.createAll), cfg.idle)
	keys := map[string]bool{}
	for _, m := range []map[string]float64{local.createAPI, sim.createAPI, local.idleAPI, sim.idleAPI} {
		for k := range m {
			keys[k] = true
		}
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	perPass := func(r *result, k string) float64 {
		if r.createPasses == 0 {
			return 0
		}
		return r.createAPI[k] / r.createPasses
	}
	fmt.Fprint(tw, "verb resource\tcreate, per cluster: local\tsimulator\tper pass: local\tsimulator\tidle, per s: local\tsimulator\n")
	for _, k := range sorted {
		fmt.Fprintf(tw, "%s\t%.1f\t%.1f\t%.2f\t%.2f\t%.3f\t%.3f\n", k, local.createAPI[k], sim.createAPI[k],
			perPass(local, k), perPass(sim, k), local.idleAPI[k], sim.idleAPI[k])
	}
	_ = tw.Flush()
	fmt.Fprintf(out, "\nreconcile passes per cluster while creating: %.1f (local cluster), %.1f (simulator)\n", local.createPasses, sim.createPasses)
	printStatusChanges(out, local.createStatus, sim.createStatus)
}
