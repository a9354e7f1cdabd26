package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
)

// fakeNodeTaint keeps everything but this file's members off the fake
// node: kwok only pretends to run what lands there.
const fakeNodeTaint = "quorum.dev/e2e-fake-node"

// startKwok runs kwok against the cluster for the nodes annotated
// kwok.x-k8s.io/node=fake: they report Ready and their pods Running.
func startKwok() {
	GinkgoHelper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	Expect(err).NotTo(HaveOccurred())
	bin := envOr("KWOK", filepath.Join(root, "bin", "kwok-v0.8.0", "kwok"))
	Expect(bin).To(BeAnExistingFile(), "kwok is built by make (bin/kwok-*)")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	port := l.Addr().(*net.TCPAddr).Port
	Expect(l.Close()).To(Succeed())
	// The config adds node leases, the heartbeat the local cluster's node
	// lifecycle controller reads. Checked against envtest with
	// kube-scheduler: the fake node turns Ready, its lease is renewed.
	cmd := exec.Command(bin, "--kubeconfig="+os.Getenv("KUBECONFIG"),
		"--config="+filepath.Join(root, "test", "e2e", "testdata", "kwok.yaml"),
		"--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
		"--cidr=10.251.0.0/24", "--node-ip=10.251.0.254", fmt.Sprintf("--server-address=127.0.0.1:%d", port))
	cmd.Stdout, cmd.Stderr = GinkgoWriter, GinkgoWriter
	Expect(cmd.Start()).To(Succeed())
	DeferCleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
}

// addFakeNode registers a second node, tainted so that only pods that
// tolerate fakeNodeTaint go there, and waits until kwok has it Ready. It
// carries the hostname label a kubelet would set: without it the
// scheduler ignores the node in hostname anti-affinity.
func addFakeNode(name string) string {
	GinkgoHelper()
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"},
			Labels: map[string]string{"type": "kwok", "kubernetes.io/hostname": name}},
		Spec: corev1.NodeSpec{Taints: []corev1.Taint{{Key: fakeNodeTaint, Value: "true", Effect: corev1.TaintEffectNoSchedule}}},
	}
	Expect(k8sClient.Create(ctx, node)).To(Succeed())
	DeferCleanup(func() { Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, node))).To(Succeed()) })
	Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(node), node)).To(Succeed())
		ready := false
		for _, c := range node.Status.Conditions {
			ready = ready || (c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue)
		}
		g.Expect(ready).To(BeTrue(), "kwok has not made the fake node Ready")
	}, time.Minute, time.Second).Should(Succeed())
	return node.Name
}

var _ = Describe("Member placement", Label("placement"), Serial, func() {
	It("leaves a third member Pending on two nodes with memberSpread Required, and status gives the scheduler's reason", func() {
		ns := newNamespace()
		startKwok()
		fake := addFakeNode("fake-" + ns)
		cluster := &etcdv1alpha1.EtcdCluster{ObjectMeta: metav1.ObjectMeta{Name: "spread", Namespace: ns},
			Spec: etcdv1alpha1.EtcdClusterSpec{Size: 3, Version: etcdVersion,
				// No claims: local-path cannot provision on a fake node.
				Storage: &etcdv1alpha1.StorageSpec{EmptyDir: &corev1.EmptyDirVolumeSource{}},
				PodTemplate: &etcdv1alpha1.PodTemplate{MemberSpread: etcdv1alpha1.MemberSpreadRequired,
					Tolerations: []corev1.Toleration{{Key: fakeNodeTaint, Operator: corev1.TolerationOpExists}}}}}
		Expect(k8sClient.Create(ctx, cluster)).To(Succeed())
		DeferCleanup(func() { Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, cluster))).To(Succeed()) })

		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(cluster), cluster)).To(Succeed())
			cond := meta.FindStatusCondition(cluster.Status.Conditions, etcdv1alpha1.ConditionMembersUnschedulable)
			g.Expect(cond).NotTo(BeNil())
			g.Expect(cond.Status).To(Equal(metav1.ConditionTrue), "conditions: %+v", cluster.Status.Conditions)
			g.Expect(cond.Reason).To(Equal(etcdv1alpha1.ReasonUnschedulable))
			g.Expect(cond.Message).To(MatchRegexp(`pending, the scheduler says: spread-[0-2]: 0/\d+ nodes are available: .*anti-affinity`))
		}, 3*time.Minute, 2*time.Second).Should(Succeed())

		var pods corev1.PodList
		Expect(k8sClient.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{"etcd.quorum.dev/cluster": "spread"})).To(Succeed())
		nodes := map[string]int{}
		for _, p := range pods.Items {
			nodes[p.Spec.NodeName]++
		}
		Expect(nodes).To(HaveKeyWithValue(fake, 1), "one member on the fake node")
		Expect(nodes).To(HaveKeyWithValue("", 1), "one member unscheduled")
		Expect(meta.IsStatusConditionTrue(cluster.Status.Conditions, etcdv1alpha1.ConditionVotersShareNode)).To(BeFalse())
	})
})

var _ = Describe("Claim expansion on local-path", Label("placement"), func() {
	It("refuses a larger storage.size, says why, and changes nothing", func() {
		ns := newNamespace()
		cluster := createClusterSpec(ns, "grow", etcdv1alpha1.EtcdClusterSpec{Size: 1, Version: etcdVersion,
			Storage: &etcdv1alpha1.StorageSpec{Size: ptr.To(resource.MustParse("1Gi"))}})
		before := cluster.DeepCopy()
		cluster.Spec.Storage.Size = ptr.To(resource.MustParse("2Gi"))
		Expect(k8sClient.Patch(ctx, cluster, client.MergeFrom(before))).To(Succeed())

		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(cluster), cluster)).To(Succeed())
			cond := meta.FindStatusCondition(cluster.Status.Conditions, etcdv1alpha1.ConditionStorageResizing)
			g.Expect(cond).NotTo(BeNil())
			g.Expect(cond.Reason).To(Equal(etcdv1alpha1.ReasonExpansionNotSupported), "conditions: %+v", cluster.Status.Conditions)
			g.Expect(cond.Message).To(ContainSubstring("grow-0: its StorageClass"))
			g.Expect(cond.Message).To(ContainSubstring("does not allow volume expansion"))
		}, 2*time.Minute, 2*time.Second).Should(Succeed())
		Consistently(func(g Gomega) {
			var pvc corev1.PersistentVolumeClaim
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "data-grow-0"}, &pvc)).To(Succeed())
			g.Expect(pvc.Spec.Resources.Requests.Storage().String()).To(Equal("1Gi"))
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(cluster), cluster)).To(Succeed())
			g.Expect(meta.IsStatusConditionTrue(cluster.Status.Conditions, etcdv1alpha1.ConditionAvailable)).To(BeTrue())
		}, 10*time.Second, time.Second).Should(Succeed())
	})
})
