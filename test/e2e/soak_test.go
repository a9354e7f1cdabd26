package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
	"github.com/quorum-operator/quorum/test/history"
)

// The soak (issue #15): a random sequence of user actions and faults
// against several clusters at once, the history of a recorded load and the
// invariants checked after each step. SOAK_DURATION bounds it (default 3m,
// the CI size) and SOAK_SEED reproduces a run's sequence (make soak).
var _ = Describe("A soak of random actions and faults", Label("soak"), func() {
	It("keeps every history linearizable and every invariant, step after step", func() {
		duration := envDuration("SOAK_DURATION", 3*time.Minute)
		seed := envInt("SOAK_SEED", time.Now().UnixNano()%1_000_000)
		GinkgoWriter.Printf("soak: seed %d, duration %s (SOAK_SEED=%d reproduces the sequence)\n", seed, duration, seed)
		rng := rand.New(rand.NewPCG(uint64(seed), 0))

		ns := newNamespace()
		s := &soak{ns: ns, dest: newS3Destination(ns), table: map[string]*soakRow{}}
		for _, name := range []string{"soak-a", "soak-b"} {
			s.clusters = append(s.clusters, createCluster(ns, name, 3))
		}
		DeferCleanup(func() { s.print(seed) })

		deadline := time.Now().Add(duration)
		for step := 1; time.Now().Before(deadline); step++ {
			c := s.clusters[rng.IntN(len(s.clusters))]
			ev := soakEvents[rng.IntN(len(soakEvents))]
			By(fmt.Sprintf("step %d: %s on %s", step, ev.name, c.Name))
			s.step(c, ev, rng)
		}
		Expect(s.violations()).To(BeZero(), "violations: see the table")
	})
})

// soakEvent is a user action or a fault that leaves the cluster to
// converge; run returns once it did.
type soakEvent struct {
	name string
	run  func(s *soak, c *etcdv1alpha1.EtcdCluster, rng *rand.Rand)
}

var soakEvents = []soakEvent{
	{"action: scale", func(_ *soak, c *etcdv1alpha1.EtcdCluster, _ *rand.Rand) {
		size := map[int32]int32{3: 5, 5: 3}[getCluster(c).Spec.Size]
		resize(c, size)
		waitMembers(c, int(size))
	}},
	{"action: version change", func(_ *soak, c *etcdv1alpha1.EtcdCluster, _ *rand.Rand) {
		version := map[string]string{current(): previousPatch(), previousPatch(): current()}[getCluster(c).Spec.Version]
		editSpec(c, func(spec *etcdv1alpha1.EtcdClusterSpec) { spec.Version = version })
		waitUpgraded(c, version)
	}},
	{"action: backup", func(s *soak, c *etcdv1alpha1.EtcdCluster, _ *rand.Rand) {
		s.backups++
		b := createBackup(s.ns, fmt.Sprintf("%s-%d", c.Name, s.backups), c.Name, s.dest)
		waitBackupPhase(b, etcdv1alpha1.BackupSucceeded)
		s.lastBackup = b.Name
	}},
	{"action: restore into a new cluster", func(s *soak, c *etcdv1alpha1.EtcdCluster, _ *rand.Rand) {
		if s.lastBackup == "" {
			return
		}
		s.restores++
		r := createClusterSpec(s.ns, fmt.Sprintf("restored-%d", s.restores), etcdv1alpha1.EtcdClusterSpec{Size: 1, Version: etcdVersion,
			Bootstrap: &etcdv1alpha1.BootstrapSpec{FromBackup: &etcdv1alpha1.BackupSource{BackupName: s.lastBackup}}})
		deleteAndWaitGone(r)
	}},
	{"action: pause and resume", func(_ *soak, c *etcdv1alpha1.EtcdCluster, _ *rand.Rand) {
		editSpec(c, func(spec *etcdv1alpha1.EtcdClusterSpec) { spec.Paused = true })
		Eventually(func() etcdv1alpha1.ClusterPhase { return getCluster(c).Status.Phase }, time.Minute, time.Second).Should(Equal(etcdv1alpha1.PhasePaused))
		editSpec(c, func(spec *etcdv1alpha1.EtcdClusterSpec) { spec.Paused = false })
		waitMembers(c, int(c.Spec.Size))
	}},
	{"fault: SIGKILL a follower", func(_ *soak, c *etcdv1alpha1.EtcdCluster, _ *rand.Rand) {
		killAndWait(c, memberWithRole(c, false))
	}},
	{"fault: SIGKILL the leader", func(_ *soak, c *etcdv1alpha1.EtcdCluster, _ *rand.Rand) {
		killAndWait(c, memberWithRole(c, true))
	}},
	{"fault: leader partitioned 15s", func(_ *soak, c *etcdv1alpha1.EtcdCluster, _ *rand.Rand) {
		leader := memberWithRole(c, true)
		heal := dropPeerTraffic(c.Namespace, leader)
		time.Sleep(15 * time.Second) // the fault's length, not a wait for a condition
		heal()
		waitMembers(c, int(getCluster(c).Spec.Size))
	}},
	{"fault: 10% peer loss 20s", func(_ *soak, c *etcdv1alpha1.EtcdCluster, _ *rand.Rand) {
		var heals []func()
		for name := range memberEndpoints(c) {
			heals = append(heals, dropPeerTraffic(c.Namespace, name, "-m", "statistic", "--mode", "random", "--probability", "0.1"))
		}
		time.Sleep(20 * time.Second) // the fault's length
		for _, heal := range heals {
			heal()
		}
		waitMembers(c, int(getCluster(c).Spec.Size))
	}},
	{"fault: majority hung 15s", func(_ *soak, c *etcdv1alpha1.EtcdCluster, rng *rand.Rand) {
		names := sortedKeys(memberEndpoints(c))
		rng.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
		var resumes []func()
		for _, name := range names[:len(names)/2+1] {
			resumes = append(resumes, stopEtcd(c.Namespace, name))
		}
		time.Sleep(15 * time.Second) // the fault's length
		for _, resume := range resumes {
			resume()
		}
		waitMembers(c, int(getCluster(c).Spec.Size))
	}},
	{"fault: member pod deleted", func(_ *soak, c *etcdv1alpha1.EtcdCluster, rng *rand.Rand) {
		names := sortedKeys(memberEndpoints(c))
		name := names[rng.IntN(len(names))]
		uid := podUID(c.Namespace, name)
		Expect(k8sClient.Delete(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: c.Namespace, Name: name}})).To(Succeed())
		// Wait for the new pod, so the status seen next is not the one
		// from before the deletion.
		Eventually(func(g Gomega) {
			var p corev1.Pod
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: name}, &p)).To(Succeed())
			g.Expect(string(p.UID)).NotTo(Equal(uid))
			g.Expect(p.Status.PodIP).NotTo(BeEmpty())
		}, 2*time.Minute, time.Second).Should(Succeed())
		waitMemberHealthy(c, name)
	}},
	{"fault: operator restarted", func(_ *soak, c *etcdv1alpha1.EtcdCluster, _ *rand.Rand) {
		out, err := exec.Command(kubectl, "-n", operatorNamespace, "rollout", "restart", "deployment/"+operatorDeployment).CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "%s", out)
		out, err = exec.Command(kubectl, "-n", operatorNamespace, "rollout", "status", "deployment/"+operatorDeployment, "--timeout=180s").CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "%s", out)
		waitMembers(c, int(getCluster(c).Spec.Size))
	}},
}

type soak struct {
	ns         string
	dest       etcdv1alpha1.BackupDestination
	clusters   []*etcdv1alpha1.EtcdCluster
	backups    int
	restores   int
	lastBackup string
	table      map[string]*soakRow
}

type soakRow struct {
	count      int
	converge   []time.Duration
	longestGap time.Duration
	checked    int
	violations []string
}

// step runs one event under a recorded load, then checks the history and
// the invariants.
func (s *soak) step(c *etcdv1alpha1.EtcdCluster, ev soakEvent, rng *rand.Rand) {
	GinkgoHelper()
	row := s.table[ev.name]
	if row == nil {
		row = &soakRow{}
		s.table[ev.name] = row
	}
	settle(c)
	idsBefore := memberIDs(c)
	tlsConfig, err := clientTLS(ctx, c)
	Expect(err).NotTo(HaveOccurred())
	rec, err := history.Start(ctx, history.Config{
		Endpoints: func(ctx context.Context) ([]string, error) {
			m, err := listMemberEndpoints(ctx, c)
			return values(m), err
		},
		TLS: tlsConfig, Duration: 30 * time.Minute,
	})
	Expect(err).NotTo(HaveOccurred())
	defer rec.Stop()

	start := time.Now()
	ev.run(s, c, rng)
	settle(c)
	row.count++
	row.converge = append(row.converge, time.Since(start))

	rec.Stop()
	<-rec.Done()
	Eventually(func() error { return rec.ReadFinal(ctx) }, 2*time.Minute, 2*time.Second).Should(Succeed())
	h := rec.History()
	sum, err := history.Check(h, artifactsDir(), 2*time.Minute)
	row.checked += sum.Checked
	row.longestGap = max(row.longestGap, h.LongestWriteGap())
	if err != nil {
		row.violations = append(row.violations, err.Error())
	}
	row.violations = append(row.violations, invariantViolations(c, idsBefore)...)
}

// invariantViolations checks a converged cluster: a quorum of healthy
// voters, status agreeing with etcd's member list, and no member that kept
// its name under a different ID (a member rejoining with an empty data
// directory under an old ID shows the other way round: the guard and the
// history catch it).
func invariantViolations(c *etcdv1alpha1.EtcdCluster, idsBefore map[string]uint64) []string {
	GinkgoHelper()
	var out []string
	ids := memberIDs(getCluster(c))
	if int(c.Status.ReadyMembers) < len(ids)/2+1 {
		out = append(out, fmt.Sprintf("%s: %d ready of %d members", c.Name, c.Status.ReadyMembers, len(ids)))
	}
	inStatus := map[string]string{}
	for _, m := range c.Status.Members {
		inStatus[m.Name] = m.ID
	}
	for name, id := range ids {
		if inStatus[name] != fmt.Sprintf("%x", id) {
			out = append(out, fmt.Sprintf("%s: status says %s has ID %q, etcd %x", c.Name, name, inStatus[name], id))
		}
		if before, ok := idsBefore[name]; ok && before != id {
			out = append(out, fmt.Sprintf("%s: %s changed its ID from %x to %x", c.Name, name, before, id))
		}
	}
	if len(inStatus) != len(ids) {
		out = append(out, fmt.Sprintf("%s: status lists %d members, etcd %d", c.Name, len(inStatus), len(ids)))
	}
	return out
}

func (s *soak) violations() int {
	n := 0
	for _, row := range s.table {
		n += len(row.violations)
	}
	return n
}

// print writes the table: per event, how often it ran, how long the
// cluster took to converge (median and longest), the longest time without
// an acknowledged write, the operations checked, and the violations.
func (s *soak) print(seed int64) {
	w := tabwriter.NewWriter(GinkgoWriter, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "\nsoak seed %d\nevent\tcount\tconverge median\tconverge max\tlongest write gap\toperations checked\tviolations\n", seed)
	for _, name := range sortedKeys(s.table) {
		row := s.table[name]
		sorted := append([]time.Duration(nil), row.converge...)
		sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
		var median, longest time.Duration
		if len(sorted) > 0 {
			median, longest = sorted[len(sorted)/2], sorted[len(sorted)-1]
		}
		fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%d\t%d\n", name, row.count, median.Round(time.Second), longest.Round(time.Second),
			row.longestGap.Round(time.Millisecond), row.checked, len(row.violations))
	}
	_ = w.Flush()
	for _, name := range sortedKeys(s.table) {
		for _, v := range s.table[name].violations {
			GinkgoWriter.Printf("violation after %s: %s\n", name, v)
		}
	}
}

// settle waits until the cluster has converged as etcd itself sees it, not
// only as a status written before the last event reached the operator:
// every member pod answers its status with a leader and no error, and the
// status the operator wrote says Running with every member ready.
func settle(c *etcdv1alpha1.EtcdCluster) {
	GinkgoHelper()
	for name := range memberEndpoints(c) {
		waitMemberHealthy(c, name)
	}
	waitMembers(c, int(getCluster(c).Spec.Size))
}

// killAndWait SIGKILLs a member's etcd and waits until it is back as the
// same member.
func killAndWait(c *etcdv1alpha1.EtcdCluster, pod string) {
	GinkgoHelper()
	restarts := containerRestarts(c.Namespace, pod)
	signalEtcd(c.Namespace, pod, syscall.SIGKILL)
	Eventually(func() int32 { return containerRestarts(c.Namespace, pod) }, 2*time.Minute, time.Second).Should(BeNumerically(">", restarts))
	waitMemberHealthy(c, pod)
	waitMembers(c, int(getCluster(c).Spec.Size))
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func envDuration(name string, fallback time.Duration) time.Duration {
	GinkgoHelper()
	v := os.Getenv(name)
	if v == "" {
		return fallback
	}
	d, err := time.ParseDuration(v)
	Expect(err).NotTo(HaveOccurred(), "%s=%q", name, v)
	return d
}

func envInt(name string, fallback int64) int64 {
	GinkgoHelper()
	v := strings.TrimSpace(os.Getenv(name))
	if v == "" {
		return fallback
	}
	n, err := strconv.ParseInt(v, 10, 64)
	Expect(err).NotTo(HaveOccurred(), "%s=%q", name, v)
	return n
}
