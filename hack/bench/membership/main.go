// Command membership measures creating and scaling an EtcdCluster on the
// cluster KUBECONFIG names (the operator deployed there), against a floor
// measured in the same run: the same pods without etcd membership.
//
//	create  apply of a 3-member EtcdCluster until etcd, asked from here by
//	        pod IP, lists 3 started voters that all answer status healthy
//	3to5    size 3 -> 5 until 5 such voters
//	5to3    size 5 -> 3 until 3 such voters and 3 pods
//
// The floor is a StatefulSet of the same image, claims and readiness probe
// whose pods each run a one-member etcd (no membership to change): created
// with 3 replicas, scaled to 5, back to 3, each until the pods are ready (or
// gone). For each member a 3 -> 5 adds, it prints when (from the patch) its
// claim was bound, its pod ran, etcd listed it as a learner, the learner
// started, and it was promoted. Member pods are dialled by IP, so the pod
// network must be reachable from here (as on the local cluster).
//
//	go run ./hack/bench/membership -runs 3 -version 3.6.16
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
	"github.com/quorum-operator/quorum/hack/bench/benchkube"
	"github.com/quorum-operator/quorum/internal/resources"
)

func main() {
	version := flag.String("version", "3.6.16", "etcd version of the clusters")
	runs := flag.Int("runs", 3, "number of runs; medians are printed")
	flag.Parse()
	if err := run(*version, *runs); err != nil {
		fmt.Fprintln(os.Stderr, "membership bench:", err)
		os.Exit(1)
	}
}

// pollEvery is how often the benchmark looks; figures are ± this.
const pollEvery = 100 * time.Millisecond

// figures are one run's times, by name ("create", "3to5", "floor create",
// "3to5 member-3 promoted", ...).
type figures map[string]time.Duration

func run(version string, runs int) error {
	ctx := context.Background()
	kube, err := benchkube.Client()
	if err != nil {
		return err
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "quorum-bench-membership-"}}
	if err := kube.Create(ctx, ns); err != nil {
		return err
	}
	defer kube.Delete(ctx, ns) //nolint:errcheck // best effort at exit
	b := &bench{kube: kube, ns: ns.Name, version: version}

	var all []figures
	for i := range runs {
		f := figures{}
		if err := b.quorumRun(ctx, fmt.Sprintf("bench-%d", i), f); err != nil {
			return err
		}
		if err := b.floorRun(ctx, fmt.Sprintf("plain-%d", i), f); err != nil {
			return err
		}
		all = append(all, f)
		printRun(i, f)
	}
	printMedians(all)
	return nil
}

type bench struct {
	kube    client.Client
	ns      string
	version string
}

func (b *bench) quorumRun(ctx context.Context, name string, f figures) error {
	c := &etcdv1alpha1.EtcdCluster{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: b.ns},
		// memberSpread None: the local cluster has one node.
		Spec: etcdv1alpha1.EtcdClusterSpec{Size: 3, Version: b.version,
			PodTemplate: &etcdv1alpha1.PodTemplate{MemberSpread: etcdv1alpha1.MemberSpreadNone}},
	}
	start := time.Now()
	if err := b.kube.Create(ctx, c); err != nil {
		return err
	}
	if err := b.waitVoters(ctx, c, 3, start, nil); err != nil {
		return fmt.Errorf("create: %w", err)
	}
	f["create"] = time.Since(start)

	start = time.Now()
	if err := b.resize(ctx, c, 5); err != nil {
		return err
	}
	if err := b.waitVoters(ctx, c, 5, start, f); err != nil {
		return fmt.Errorf("3 to 5: %w", err)
	}
	f["3to5"] = time.Since(start)

	start = time.Now()
	if err := b.resize(ctx, c, 3); err != nil {
		return err
	}
	if err := b.waitVoters(ctx, c, 3, start, nil); err != nil {
		return fmt.Errorf("5 to 3: %w", err)
	}
	f["5to3"] = time.Since(start)
	return b.remove(ctx, c, resources.SelectorLabels(c))
}

func (b *bench) resize(ctx context.Context, c *etcdv1alpha1.EtcdCluster, size int32) error {
	before := c.DeepCopy()
	c.Spec.Size = size
	return b.kube.Patch(ctx, c, client.MergeFrom(before))
}

// waitVoters polls until etcd lists exactly n started voters, every one
// answering status without errors, and n member pods exist. With steps not
// nil it records when each member beyond the third passed each stage.
func (b *bench) waitVoters(ctx context.Context, c *etcdv1alpha1.EtcdCluster, n int, start time.Time, steps figures) error {
	deadline := start.Add(10 * time.Minute)
	for ; time.Now().Before(deadline); time.Sleep(pollEvery) {
		pods, claims, err := b.membersOf(ctx, c)
		if err != nil {
			return err
		}
		members, healthy := askEtcd(ctx, pods)
		if steps != nil {
			recordStages(steps, time.Since(start), pods, claims, members)
		}
		if healthy == n && len(members) == n && len(pods) == n {
			return nil
		}
	}
	return fmt.Errorf("not %d healthy voters after %s", n, time.Since(start).Round(time.Second))
}

func (b *bench) membersOf(ctx context.Context, c *etcdv1alpha1.EtcdCluster) ([]corev1.Pod, []corev1.PersistentVolumeClaim, error) {
	sel := client.MatchingLabels(resources.SelectorLabels(c))
	var pods corev1.PodList
	var claims corev1.PersistentVolumeClaimList
	if err := b.kube.List(ctx, &pods, client.InNamespace(c.Namespace), sel); err != nil {
		return nil, nil, err
	}
	if err := b.kube.List(ctx, &claims, client.InNamespace(c.Namespace), sel); err != nil {
		return nil, nil, err
	}
	return pods.Items, claims.Items, nil
}

// askEtcd returns the member list (name "" for a learner not started)
// and how many started voters answer status without errors.
func askEtcd(ctx context.Context, pods []corev1.Pod) ([]*member, int) {
	var endpoints []string
	for _, p := range pods {
		if p.Status.PodIP != "" && p.DeletionTimestamp == nil {
			endpoints = append(endpoints, fmt.Sprintf("http://%s:%d", p.Status.PodIP, resources.ClientPort))
		}
	}
	if len(endpoints) == 0 {
		return nil, 0
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: time.Second, Logger: zap.NewNop()})
	if err != nil {
		return nil, 0
	}
	defer cli.Close()
	callCtx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	resp, err := cli.MemberList(callCtx)
	if err != nil {
		return nil, 0
	}
	var members []*member
	healthy := 0
	for _, m := range resp.Members {
		mm := &member{name: m.Name, learner: m.IsLearner}
		if mm.name == "" && len(m.PeerURLs) > 0 {
			mm.peer = strings.SplitN(strings.TrimPrefix(m.PeerURLs[0], "http://"), ".", 2)[0]
		}
		members = append(members, mm)
		if m.IsLearner || m.Name == "" || len(m.ClientURLs) == 0 {
			continue
		}
		for _, ep := range endpoints {
			if st, err := cli.Status(callCtx, ep); err == nil && st.Header.MemberId == m.ID && len(st.Errors) == 0 {
				healthy++
				break
			}
		}
	}
	return members, healthy
}

type member struct {
	name    string // its own, once started
	peer    string // the pod name in its peer URL, while not started
	learner bool
}

// recordStages notes the first time each member with ordinal 3 or 4 passed
// each stage.
func recordStages(f figures, at time.Duration, pods []corev1.Pod, claims []corev1.PersistentVolumeClaim, members []*member) {
	first := func(key string) {
		if _, seen := f[key]; !seen {
			f[key] = at
		}
	}
	isNew := func(name string) bool { return strings.HasSuffix(name, "-3") || strings.HasSuffix(name, "-4") }
	for _, cl := range claims {
		if pod := strings.TrimPrefix(cl.Name, resources.DataVolumeName+"-"); isNew(pod) && cl.Status.Phase == corev1.ClaimBound {
			first("3to5 " + suffix(pod) + " claim bound")
		}
	}
	for _, p := range pods {
		if isNew(p.Name) && p.Status.Phase == corev1.PodRunning {
			first("3to5 " + suffix(p.Name) + " pod running")
		}
	}
	for _, m := range members {
		switch {
		case m.name == "" && isNew(m.peer):
			first("3to5 " + suffix(m.peer) + " learner added")
		case isNew(m.name) && m.learner:
			first("3to5 " + suffix(m.name) + " learner added")
			first("3to5 " + suffix(m.name) + " learner started")
		case isNew(m.name):
			first("3to5 " + suffix(m.name) + " learner added")
			first("3to5 " + suffix(m.name) + " learner started")
			first("3to5 " + suffix(m.name) + " promoted")
		}
	}
}

func suffix(pod string) string { return "member-" + pod[strings.LastIndexByte(pod, '-')+1:] }

// remove deletes obj and waits until the pods and claims with labels are
// gone, so runs do not overlap.
func (b *bench) remove(ctx context.Context, obj client.Object, labels map[string]string) error {
	if err := b.kube.Delete(ctx, obj); err != nil {
		return err
	}
	for deadline := time.Now().Add(5 * time.Minute); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		var pods corev1.PodList
		var claims corev1.PersistentVolumeClaimList
		_ = b.kube.DeleteAllOf(ctx, &corev1.PersistentVolumeClaim{}, client.InNamespace(b.ns), client.MatchingLabels(labels))
		if b.kube.List(ctx, &pods, client.InNamespace(b.ns), client.MatchingLabels(labels)) == nil &&
			b.kube.List(ctx, &claims, client.InNamespace(b.ns), client.MatchingLabels(labels)) == nil &&
			len(pods.Items) == 0 && len(claims.Items) == 0 {
			return nil
		}
	}
	return fmt.Errorf("%s: pods or claims still there after 5 minutes", obj.GetName())
}

func printRun(i int, f figures) {
	fmt.Printf("run %d:\n", i+1)
	for _, k := range sortedKeys(f) {
		fmt.Printf("  %-32s %6.1f s\n", k, f[k].Seconds())
	}
}

func printMedians(all []figures) {
	med := func(key string) time.Duration {
		var v []time.Duration
		for _, f := range all {
			if d, ok := f[key]; ok {
				v = append(v, d)
			}
		}
		if len(v) == 0 {
			return 0
		}
		sort.Slice(v, func(i, j int) bool { return v[i] < v[j] })
		return v[(len(v)-1)/2]
	}
	fmt.Printf("\nmedians of %d runs (poll %s):\n", len(all), pollEvery)
	for _, k := range sortedKeys(all[0]) {
		fmt.Printf("  %-32s %6.1f s\n", k, med(k).Seconds())
	}
	fmt.Println()
	for _, g := range []struct {
		what, floor string
		goal        float64
	}{{"create", "floor create", 1.2}, {"3to5", "floor 3to5", 1.5}, {"5to3", "floor 5to3", 0}} {
		ratio := med(g.what).Seconds() / med(g.floor).Seconds()
		verdict := ""
		if g.goal > 0 {
			verdict = fmt.Sprintf("goal <= %.1f: %s", g.goal, map[bool]string{true: "MET", false: "MISSED"}[ratio <= g.goal])
		}
		fmt.Printf("  %-6s %6.1f s vs floor %6.1f s = %5.2f x  %s\n", g.what, med(g.what).Seconds(), med(g.floor).Seconds(), ratio, verdict)
	}
}

func sortedKeys(f figures) []string {
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
