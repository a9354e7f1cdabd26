// Command rollout measures rolling upgrades on the cluster KUBECONFIG names,
// with the operator deployed there: for each run it creates a 3-member
// EtcdCluster at -from, puts a key every 50 ms, edits spec.version to -to
// and waits until every member reports -to healthy with the rollout over.
// It prints, per run and as medians, the rollout time (edit to done) and
// the longest gap between two acknowledged writes, and checks that every
// acknowledged write is still readable. Member pods are dialled by IP, so
// the pod network must be reachable from here (as on the local cluster).
//
//	go run ./hack/bench/rollout -from 3.6.15 -to 3.6.16
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
	"github.com/quorum-operator/quorum/hack/bench/benchkube"
	"github.com/quorum-operator/quorum/internal/resources"
	"github.com/quorum-operator/quorum/test/writer"
)

func main() {
	from := flag.String("from", "3.6.15", "etcd version the cluster starts at")
	to := flag.String("to", "3.6.16", "etcd version spec.version is edited to")
	runs := flag.Int("runs", 3, "number of runs; medians are printed")
	flag.Parse()
	if err := run(*from, *to, *runs); err != nil {
		fmt.Fprintln(os.Stderr, "rollout bench:", err)
		os.Exit(1)
	}
}

// result is one run's figures.
type result struct {
	rollout, longestGap time.Duration
	acked, failed       int
}

func run(from, to string, runs int) error {
	ctx := context.Background()
	kube, err := benchkube.Client()
	if err != nil {
		return err
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "quorum-bench-rollout-"}}
	if err := kube.Create(ctx, ns); err != nil {
		return err
	}
	defer kube.Delete(ctx, ns) //nolint:errcheck // best effort at exit

	var results []result
	for i := range runs {
		r, err := measure(ctx, kube, ns.Name, fmt.Sprintf("rollout-%d", i), from, to)
		if err != nil {
			return fmt.Errorf("run %d: %w", i+1, err)
		}
		fmt.Printf("run %d: rollout %s -> %s of 3 members %.1fs, longest write gap %dms (%d writes acknowledged, %d failed, none lost)\n",
			i+1, from, to, r.rollout.Seconds(), r.longestGap.Milliseconds(), r.acked, r.failed)
		results = append(results, r)
	}
	fmt.Printf("median of %d: rollout %.1fs, longest write gap %dms\n", runs,
		median(results, func(r result) time.Duration { return r.rollout }).Seconds(),
		median(results, func(r result) time.Duration { return r.longestGap }).Milliseconds())
	return nil
}

// measure runs one upgrade under a writer and removes the cluster after.
func measure(ctx context.Context, kube client.Client, namespace, name, from, to string) (result, error) {
	c := &etcdv1alpha1.EtcdCluster{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		// memberSpread None: the local cluster has one node.
		Spec: etcdv1alpha1.EtcdClusterSpec{Size: 3, Version: from, DeletionPolicy: etcdv1alpha1.DeletionPolicyDelete,
			PodTemplate: &etcdv1alpha1.PodTemplate{MemberSpread: etcdv1alpha1.MemberSpreadNone}},
	}
	if err := kube.Create(ctx, c); err != nil {
		return result{}, err
	}
	defer removeCluster(ctx, kube, c)
	if err := waitFor(ctx, kube, c, func() bool { return upgraded(c, from) }); err != nil {
		return result{}, fmt.Errorf("waiting for the cluster at %s: %w", from, err)
	}

	endpoints := func(ctx context.Context) ([]string, error) { return benchkube.MemberEndpoints(ctx, kube, c.DeepCopy()) }
	w, err := writer.Start(ctx, endpoints, nil, "/bench", 50*time.Millisecond)
	if err != nil {
		return result{}, err
	}
	start := time.Now()
	before := c.DeepCopy()
	c.Spec.Version = to
	if err := kube.Patch(ctx, c, client.MergeFrom(before)); err != nil {
		return result{}, err
	}
	if err := waitFor(ctx, kube, c, func() bool { return upgraded(c, to) }); err != nil {
		return result{}, fmt.Errorf("waiting for the rollout to %s: %w", to, err)
	}
	took := time.Since(start)
	stats, missing, err := w.StopAndVerify(ctx)
	if err != nil {
		return result{}, err
	}
	if len(missing) > 0 {
		return result{}, fmt.Errorf("%d acknowledged writes are lost, the first %s", len(missing), missing[0])
	}
	return result{rollout: took, longestGap: stats.LongestGap, acked: stats.Acked, failed: stats.Failed}, nil
}

// upgraded says whether every member runs version, healthy, on the
// current template, with no rollout under way.
func upgraded(c *etcdv1alpha1.EtcdCluster, version string) bool {
	if c.Status.ObservedGeneration != c.Generation || c.Status.Phase != etcdv1alpha1.PhaseRunning ||
		!meta.IsStatusConditionFalse(c.Status.Conditions, etcdv1alpha1.ConditionUpgrading) ||
		c.Status.UpdatedMembers != c.Spec.Size || len(c.Status.Members) != int(c.Spec.Size) {
		return false
	}
	for _, m := range c.Status.Members {
		if !m.Healthy || m.Version != version {
			return false
		}
	}
	return true
}

// waitFor polls the cluster every 200 ms until done says so, for at most
// ten minutes.
func waitFor(ctx context.Context, kube client.Client, c *etcdv1alpha1.EtcdCluster, done func() bool) error {
	deadline := time.Now().Add(10 * time.Minute)
	for time.Now().Before(deadline) {
		if err := kube.Get(ctx, client.ObjectKeyFromObject(c), c); err != nil {
			return err
		}
		if done() {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("timed out; phase %s, conditions %+v", c.Status.Phase, c.Status.Conditions)
}

// removeCluster deletes the cluster (its claims with it) and waits until
// its pods and claims are gone, so runs do not overlap.
func removeCluster(ctx context.Context, kube client.Client, c *etcdv1alpha1.EtcdCluster) {
	_ = kube.Delete(ctx, c)
	selector := client.MatchingLabels(resources.SelectorLabels(c))
	for deadline := time.Now().Add(5 * time.Minute); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		var pods corev1.PodList
		var claims corev1.PersistentVolumeClaimList
		if kube.List(ctx, &pods, client.InNamespace(c.Namespace), selector) == nil &&
			kube.List(ctx, &claims, client.InNamespace(c.Namespace), selector) == nil &&
			len(pods.Items) == 0 && len(claims.Items) == 0 {
			return
		}
	}
}

func median(rs []result, f func(result) time.Duration) time.Duration {
	v := make([]time.Duration, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	sort.Slice(v, func(i, j int) bool { return v[i] < v[j] })
	return v[(len(v)-1)/2]
}
