package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
	"github.com/quorum-operator/quorum/test/history"
)

// The faults of the suite are real: signals to a member's etcd process,
// firewall rules inside its pod's network namespace, the local cluster's
// own processes stopped. The local cluster runs on this machine, so a
// member's processes are found among this machine's by its pod's UID.

// recordedLoad is the history recorder's load on a cluster for one spec:
// puts, gets, deletes and txns through every member, each recorded.
type recordedLoad struct {
	rec    *history.Recorder
	cancel context.CancelFunc
}

// recordLoad starts the load; verify checks it.
func recordLoad(c *etcdv1alpha1.EtcdCluster) *recordedLoad {
	GinkgoHelper()
	tlsConfig, err := clientTLS(ctx, c)
	Expect(err).NotTo(HaveOccurred())
	recCtx, cancel := context.WithCancel(ctx)
	rec, err := history.Start(recCtx, history.Config{
		Endpoints: func(ctx context.Context) ([]string, error) {
			m, err := listMemberEndpoints(ctx, c)
			return values(m), err
		},
		TLS:      tlsConfig,
		Duration: 20 * time.Minute, // an upper bound: verify stops it
	})
	Expect(err).NotTo(HaveOccurred())
	l := &recordedLoad{rec: rec, cancel: cancel}
	DeferCleanup(func() { rec.Stop(); cancel() })
	return l
}

// verify stops the load, reads every key back and checks the history:
// linearizable, and every acknowledged write there. A failed check leaves
// history.json and porcupine's history.html under the artifacts directory.
func (l *recordedLoad) verify() history.Summary {
	GinkgoHelper()
	l.rec.Stop()
	<-l.rec.Done()
	Eventually(func() error { return l.rec.ReadFinal(ctx) }, 2*time.Minute, 2*time.Second).Should(Succeed(), "the final read")
	dir := artifactsDir()
	sum, err := history.Check(l.rec.History(), dir, 2*time.Minute)
	GinkgoWriter.Printf("history: %s\n", sum)
	Expect(err).NotTo(HaveOccurred(), "history check (files under %s)", dir)
	Expect(sum.Checked).To(BeNumerically(">", 100), "too few operations to say anything")
	return sum
}

// artifactsDir is where a spec leaves files for a person: E2E_ARTIFACTS
// (the Makefile sets it), one directory per spec. It is made only when a
// check writes into it, so passing steps leave no empty directories.
func artifactsDir() string {
	GinkgoHelper()
	root := envOr("E2E_ARTIFACTS", os.TempDir())
	name := strings.Map(func(r rune) rune {
		if r == ' ' || r == '/' || r == ',' || r == ':' {
			return '-'
		}
		return r
	}, CurrentSpecReport().LeafNodeText)
	return filepath.Join(root, fmt.Sprintf("%.80s-%d", name, time.Now().Unix()))
}

// etcdPID is the PID, on this machine, of a member pod's etcd process.
func etcdPID(namespace, pod string) int {
	GinkgoHelper()
	var p corev1.Pod
	Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: namespace, Name: pod}, &p)).To(Succeed())
	uid := string(p.UID)
	procs, err := filepath.Glob("/proc/[0-9]*/comm")
	Expect(err).NotTo(HaveOccurred())
	var pids []int
	for _, comm := range procs {
		name, err := os.ReadFile(comm)
		if err != nil || strings.TrimSpace(string(name)) != "etcd" {
			continue
		}
		dir := filepath.Dir(comm)
		cgroup, err := os.ReadFile(filepath.Join(dir, "cgroup"))
		if err != nil || !inPod(string(cgroup), uid) {
			continue
		}
		var pid int
		_, err = fmt.Sscanf(filepath.Base(dir), "%d", &pid)
		Expect(err).NotTo(HaveOccurred())
		pids = append(pids, pid)
	}
	Expect(pids).To(HaveLen(1), "etcd processes of pod %s/%s on this machine", namespace, pod)
	return pids[0]
}

// signalEtcd sends sig to a member pod's etcd process.
func signalEtcd(namespace, pod string, sig syscall.Signal) {
	GinkgoHelper()
	Expect(syscall.Kill(etcdPID(namespace, pod), sig)).To(Succeed())
}

// killEtcd sends SIGKILL to the etcd process of a member pod.
func killEtcd(namespace, pod string) { GinkgoHelper(); signalEtcd(namespace, pod, syscall.SIGKILL) }

// stopEtcd freezes a member's etcd process (SIGSTOP): a hung member that
// keeps its data, its pod and its connections. The returned function, also
// run after the spec, resumes it.
func stopEtcd(namespace, pod string) (resume func()) {
	GinkgoHelper()
	pid := etcdPID(namespace, pod)
	Expect(syscall.Kill(pid, syscall.SIGSTOP)).To(Succeed())
	resumed := false
	resume = func() {
		if !resumed {
			resumed = true
			_ = syscall.Kill(pid, syscall.SIGCONT)
		}
	}
	DeferCleanup(resume)
	return resume
}

// inPod says whether a process's cgroup file names the pod with that UID,
// as the cgroupfs (pod<uid>) or systemd (pod<uid with _>) driver writes it.
func inPod(cgroup, uid string) bool {
	return strings.Contains(cgroup, "pod"+uid) || strings.Contains(cgroup, "pod"+strings.ReplaceAll(uid, "-", "_"))
}

// inPodNetwork runs a command in the network namespace of a member pod
// (entered through its etcd process), as this machine's root.
func inPodNetwork(namespace, pod string, args ...string) {
	GinkgoHelper()
	pid := etcdPID(namespace, pod)
	cmd := exec.Command("nsenter", append([]string{"-t", fmt.Sprint(pid), "-n", "--"}, args...)...)
	out, err := cmd.CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "%s in %s/%s: %s", strings.Join(args, " "), namespace, pod, out)
}

// peerRules are iptables rules, in a member's own network namespace, that
// match its peer traffic both ways: what it receives on its peer port and
// what it sends to its peers' peer ports. Client traffic is untouched.
func peerRules(match ...string) [][]string {
	port := "2380"
	return [][]string{
		append([]string{"INPUT", "-p", "tcp", "--dport", port}, match...),
		append([]string{"OUTPUT", "-p", "tcp", "--dport", port}, match...),
		append([]string{"INPUT", "-p", "tcp", "--sport", port}, match...),
		append([]string{"OUTPUT", "-p", "tcp", "--sport", port}, match...),
	}
}

// dropPeerTraffic adds rules that drop the member's peer packets (all of
// them with no extra match, a share with a statistic match). The returned
// function, also run after the spec while the pod lives, removes them.
func dropPeerTraffic(namespace, pod string, match ...string) (heal func()) {
	GinkgoHelper()
	return insertRules(namespace, pod, peerRules(append(match, "-j", "DROP")...))
}

// insertRules inserts iptables rules, each first in its chain, in a
// member's network namespace, in order. The returned function, also run
// after the spec, deletes them.
func insertRules(namespace, pod string, rules [][]string) (remove func()) {
	GinkgoHelper()
	for _, r := range rules {
		inPodNetwork(namespace, pod, append([]string{"iptables", "-I"}, r...)...)
	}
	removed := false
	remove = func() {
		GinkgoHelper()
		if removed {
			return
		}
		removed = true
		for _, r := range rules {
			inPodNetwork(namespace, pod, append([]string{"iptables", "-D"}, r...)...)
		}
	}
	DeferCleanup(remove)
	return remove
}
