package e2e

import (
	"context"
	"fmt"
	"os"
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

// Faults injected into real members while clients write and read, the
// history checked for linearizability and lost writes (issue #15, item 1).
var _ = Describe("Members killed under load", Label("faults"), func() {
	It("keep every acknowledged write, linearizably, when a follower and then the leader are SIGKILLed", func() {
		ns := newNamespace()
		cluster := createCluster(ns, "kill", 3)
		idsBefore := memberIDs(cluster)

		recCtx, cancel := context.WithCancel(ctx)
		defer cancel()
		rec, err := history.Start(recCtx, history.Config{
			Endpoints: func(ctx context.Context) ([]string, error) {
				m, err := listMemberEndpoints(ctx, cluster)
				return values(m), err
			},
			Duration: 5 * time.Minute, // an upper bound: the spec stops it
		})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(rec.Stop)

		for _, role := range []string{"follower", "leader"} {
			By("killing the etcd process of the " + role + " with SIGKILL")
			pod := memberWithRole(cluster, role == "leader")
			restarts := containerRestarts(ns, pod)
			killEtcd(ns, pod)
			By("waiting for " + pod + " to come back with its data, as the same member")
			Eventually(func() int32 { return containerRestarts(ns, pod) }, 2*time.Minute, time.Second).Should(BeNumerically(">", restarts))
			waitMemberHealthy(cluster, pod)
			waitAvailable(cluster, 3)
			Expect(memberIDs(cluster)).To(Equal(idsBefore), "a member was removed or replaced after a kill")
		}

		By("checking the history: linearizable, and every acknowledged write read back")
		rec.Stop()
		<-rec.Done()
		Expect(rec.ReadFinal(ctx)).To(Succeed())
		dir, err := os.MkdirTemp("", "quorum-e2e-history-")
		Expect(err).NotTo(HaveOccurred())
		sum, err := history.Check(rec.History(), dir, time.Minute)
		GinkgoWriter.Printf("history: %s\n", sum)
		Expect(err).NotTo(HaveOccurred(), "history check (files under %s)", dir)
		_ = os.RemoveAll(dir)
		Expect(sum.Checked).To(BeNumerically(">", 100), "too few operations to say anything")
	})
})

// memberWithRole is the pod name of the current leader, or of a follower.
func memberWithRole(c *etcdv1alpha1.EtcdCluster, leader bool) string {
	GinkgoHelper()
	var found string
	Eventually(func(g Gomega) {
		eps := memberEndpoints(c)
		cli, err := newEtcdClient(ctx, c, values(eps))
		g.Expect(err).NotTo(HaveOccurred())
		defer cli.Close()
		for name, ep := range eps {
			callCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
			st, err := cli.Status(callCtx, ep)
			cancel()
			g.Expect(err).NotTo(HaveOccurred())
			if (st.Leader == st.Header.MemberId) == leader {
				found = name
				return
			}
		}
		g.Expect(found).NotTo(BeEmpty(), "no member is the %s", map[bool]string{true: "leader", false: "follower"}[leader])
	}, time.Minute, time.Second).Should(Succeed())
	return found
}

// waitMemberHealthy waits until the member answers its status call itself,
// with a leader and no error: back in the cluster, not only running.
func waitMemberHealthy(c *etcdv1alpha1.EtcdCluster, pod string) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		ep, ok := memberEndpoints(c)[pod]
		g.Expect(ok).To(BeTrue(), "%s has no IP", pod)
		cli, err := newEtcdClient(ctx, c, []string{ep})
		g.Expect(err).NotTo(HaveOccurred())
		defer cli.Close()
		callCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		st, err := cli.Status(callCtx, ep)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(st.Errors).To(BeEmpty())
		g.Expect(st.Leader).NotTo(BeZero(), "%s has no leader", pod)
	}, 2*time.Minute, time.Second).Should(Succeed())
}

// containerRestarts is the restart count of a member pod's etcd container.
func containerRestarts(namespace, pod string) int32 {
	GinkgoHelper()
	var p corev1.Pod
	Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: namespace, Name: pod}, &p)).To(Succeed())
	for _, s := range p.Status.ContainerStatuses {
		if s.Name == "etcd" {
			return s.RestartCount
		}
	}
	return 0
}

// killEtcd sends SIGKILL to the etcd process of a member pod. The local
// cluster runs on this machine, so the process is found among this
// machine's by the pod's UID in its cgroup.
func killEtcd(namespace, pod string) {
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
	Expect(syscall.Kill(pids[0], syscall.SIGKILL)).To(Succeed())
}

// inPod says whether a process's cgroup file names the pod with that UID,
// as the cgroupfs (pod<uid>) or systemd (pod<uid with _>) driver writes it.
func inPod(cgroup, uid string) bool {
	return strings.Contains(cgroup, "pod"+uid) || strings.Contains(cgroup, "pod"+strings.ReplaceAll(uid, "-", "_"))
}
