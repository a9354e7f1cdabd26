package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	clientv3 "go.etcd.io/etcd/client/v3"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
)

// The operator killed again and again while it carries a cluster through
// a change that takes many steps (issue #15, item 4). The envtest
// "The operator killed at every step" kills it after every step kind; here
// the real operator pod is deleted every few seconds under the recorded
// load, and each change must still finish with the same members and no
// lost or non-linearizable write.
var _ = Describe("The operator killed every few seconds", Label("faults"), Serial, func() {
	const every = 8 * time.Second

	It("finishes a version rollout (current to the previous patch) with the same members", func() {
		ns := newNamespace()
		cluster := createClusterSpec(ns, "roll", etcdv1alpha1.EtcdClusterSpec{Size: 3, Version: current()})
		ids := memberIDs(cluster)
		load := recordLoad(cluster)

		killer := killOperatorEvery(every)
		editSpec(cluster, func(s *etcdv1alpha1.EtcdClusterSpec) { s.Version = previousPatch() })
		waitUpgraded(cluster, previousPatch())
		Expect(killer.halt()).To(BeNumerically(">", 0), "the operator was never killed")

		Expect(memberIDs(cluster)).To(Equal(ids), "the membership changed")
		expectVotersOnly(cluster, 3)
		load.verify()
	})

	It("restores a cluster from a backup", func() {
		ns := newNamespace()
		source := createCluster(ns, "source", 3)
		putKeys(source, "/restore/", 200)
		dest := newS3Destination(ns)
		load := recordLoad(source)

		killer := killOperatorEvery(every)
		b := createBackup(ns, "under-kills", source.Name, dest)
		waitBackupPhase(b, etcdv1alpha1.BackupSucceeded)
		restored := createClusterSpec(ns, "restored", etcdv1alpha1.EtcdClusterSpec{Size: 3, Version: etcdVersion,
			Bootstrap: &etcdv1alpha1.BootstrapSpec{FromBackup: &etcdv1alpha1.BackupSource{BackupName: b.Name}}})
		ids := memberIDs(restored)
		By("killing the operator a while longer: the restored members stay")
		Consistently(func(g Gomega) {
			eps, err := listMemberEndpoints(ctx, restored)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(memberIDsVia(g, restored, values(eps))).To(Equal(ids))
		}, 3*every, every/2).Should(Succeed(), "a restored member was replaced while the operator was killed")
		Expect(killer.halt()).To(BeNumerically(">", 0), "the operator was never killed")

		waitAvailable(restored, 3)
		Expect(memberIDs(restored)).To(Equal(ids), "a restored member was replaced")
		expectVotersOnly(restored, 3)
		expectKeys(restored, "/restore/", 200)
		load.verify()
	})

	It("rotates a TLS cluster's CA with the same members", func() {
		ns := newNamespace()
		cluster := createClusterSpec(ns, "tls", etcdv1alpha1.EtcdClusterSpec{Size: 3, Version: current(), TLS: &etcdv1alpha1.TLSSpec{}})
		load := recordLoad(cluster)

		killer := killOperatorEvery(every)
		rotateCA(cluster) // checks the membership, both rolls and its own writer
		Expect(killer.halt()).To(BeNumerically(">", 0), "the operator was never killed")

		expectVotersOnly(cluster, 3)
		load.verify()
	})
})

// operatorKiller deletes the operator pod that holds the leader lease
// every interval, once it has held it a moment (so every instance gets
// some work done). Two deletions in three are graceful (the manager
// cancels its passes mid-way and gives the lease up); every third is
// forced, grace 0: the process is killed and its successor waits out the
// lease.
type operatorKiller struct {
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
	kills atomic.Int32
}

// leaseName is the operator's leader election lease (cmd/main.go).
const leaseName = "quorum.etcd.quorum.dev"

func killOperatorEvery(interval time.Duration) *operatorKiller {
	k := &operatorKiller{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer GinkgoRecover()
		defer close(k.done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-k.stop:
				return
			case <-tick.C:
			}
			k.killLeader()
		}
	}()
	DeferCleanup(func() { k.halt() })
	return k
}

// killLeader deletes the pod holding the lease, if one has held it for two
// seconds or more.
func (k *operatorKiller) killLeader() {
	var lease coordinationv1.Lease
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: operatorNamespace, Name: leaseName}, &lease); err != nil {
		GinkgoWriter.Printf("reading the operator's lease: %v\n", err)
		return
	}
	if lease.Spec.HolderIdentity == nil || lease.Spec.AcquireTime == nil || time.Since(lease.Spec.AcquireTime.Time) < 2*time.Second {
		return
	}
	// controller-runtime's identity is <hostname>_<uuid>; the hostname is
	// the pod's name.
	name, _, _ := strings.Cut(*lease.Spec.HolderIdentity, "_")
	if name == "" {
		return // released, not yet taken
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: name}}
	n := k.kills.Add(1)
	var opts []client.DeleteOption
	if n%3 == 0 {
		opts = append(opts, client.GracePeriodSeconds(0))
	}
	if err := k8sClient.Delete(ctx, pod, opts...); err != nil {
		// NotFound: a holder killed before, whose lease has not run out.
		k.kills.Add(-1)
		if !apierrors.IsNotFound(err) {
			GinkgoWriter.Printf("deleting the operator pod %s: %v\n", name, err)
		}
		return
	}
	GinkgoWriter.Printf("%s killed the operator (%s, forced %v)\n", time.Now().Format(time.TimeOnly), name, n%3 == 0)
}

// halt stops the kills, waits for the operator to run again, and returns
// how many there were.
func (k *operatorKiller) halt() int {
	GinkgoHelper()
	k.once.Do(func() {
		close(k.stop)
		<-k.done
		deployment := "deployment/" + operatorDeployment
		out, err := exec.Command(kubectl, "-n", operatorNamespace, "rollout", "status", deployment, "--timeout=180s").CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "kubectl rollout status: %s", out)
	})
	return int(k.kills.Load())
}

// expectVotersOnly: etcd lists n members, every one a started voter (no
// learner left behind by a kill).
func expectVotersOnly(c *etcdv1alpha1.EtcdCluster, n int) {
	GinkgoHelper()
	cli, err := newEtcdClient(ctx, c, values(memberEndpoints(c)))
	Expect(err).NotTo(HaveOccurred())
	defer cli.Close()
	callCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	list, err := cli.MemberList(callCtx)
	Expect(err).NotTo(HaveOccurred())
	Expect(list.Members).To(HaveLen(n))
	for _, m := range list.Members {
		Expect(m.IsLearner).To(BeFalse(), "%s (%x) is still a learner", m.Name, m.ID)
		Expect(m.Name).NotTo(BeEmpty(), "member %x never started", m.ID)
	}
}

// expectKeys: the n keys putKeys wrote under prefix are all there.
func expectKeys(c *etcdv1alpha1.EtcdCluster, prefix string, n int) {
	GinkgoHelper()
	cli := etcdClient(c, values(memberEndpoints(c))...)
	getCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	resp, err := cli.Get(getCtx, prefix, clientv3.WithPrefix())
	Expect(err).NotTo(HaveOccurred())
	Expect(resp.Kvs).To(HaveLen(n))
	for i, kv := range resp.Kvs {
		Expect(string(kv.Key)).To(Equal(fmt.Sprintf("%s%04d", prefix, i)))
		Expect(string(kv.Value)).To(Equal(fmt.Sprintf("value-%d", i)))
	}
}
