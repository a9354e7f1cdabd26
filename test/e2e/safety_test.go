package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrlclient "sigs.k8s.io/controller-runtime/pkg/client"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
	"github.com/quorum-operator/quorum/internal/memberguard"
	"github.com/quorum-operator/quorum/internal/resources"
)

var _ = Describe("A new cluster", Label("basic"), func() {
	It("is Available only when a client can write through the client Service, and Creating, never Degraded, before", func() {
		ns := newNamespace()
		cluster := &etcdv1alpha1.EtcdCluster{ObjectMeta: metav1.ObjectMeta{Name: "svc", Namespace: ns},
			Spec: etcdv1alpha1.EtcdClusterSpec{Size: 3, Version: etcdVersion, PodTemplate: oneNode()}}
		// Service IPs are reachable from pods, not from the host: the
		// client is a pod, started before the cluster so that nothing but
		// the cluster is waited for.
		client := startClientPod(ns, resources.Image(cluster))
		Expect(k8sClient.Create(ctx, cluster)).To(Succeed())

		By("watching the status until Available, every phase it shows on the way")
		var phases []etcdv1alpha1.ClusterPhase
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, ctrlclient.ObjectKeyFromObject(cluster), cluster)).To(Succeed())
			if n := len(phases); cluster.Status.Phase != "" && (n == 0 || phases[n-1] != cluster.Status.Phase) {
				phases = append(phases, cluster.Status.Phase)
			}
			g.Expect(meta.IsStatusConditionTrue(cluster.Status.Conditions, etcdv1alpha1.ConditionAvailable)).To(BeTrue())
		}, 5*time.Minute, 100*time.Millisecond).Should(Succeed())

		By("writing through the client Service at once, as README tells a user to")
		out, err := exec.Command(kubectl, "-n", ns, "exec", client, "--", "/usr/local/bin/etcdctl",
			"--endpoints="+resources.ClientEndpoint(cluster), "--dial-timeout=2s", "--command-timeout=2s",
			"put", "/available/first", "written the moment the cluster said Available").CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "a put through the client Service right after Available (phases seen: %v): %s", phases, out)
		Expect(string(out)).To(ContainSubstring("OK"))
		Expect(phases).NotTo(ContainElement(etcdv1alpha1.PhaseDegraded), "phases seen while creating: %v", phases)
	})
})

// startClientPod runs a pod with etcdctl in the namespace, for talking to a
// cluster as a workload does, and returns its name once it runs. The image
// has no shell, so the process that keeps it running is a throwaway etcd
// on loopback.
func startClientPod(ns, image string) string {
	GinkgoHelper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "client", Namespace: ns},
		Spec: corev1.PodSpec{
			SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](65532),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			Containers: []corev1.Container{{
				Name: "etcdctl", Image: image,
				Command: []string{"/usr/local/bin/etcd", "--data-dir=/tmp/idle",
					"--listen-client-urls=http://127.0.0.1:12379", "--advertise-client-urls=http://127.0.0.1:12379",
					"--listen-peer-urls=http://127.0.0.1:12380", "--initial-advertise-peer-urls=http://127.0.0.1:12380",
					"--initial-cluster=default=http://127.0.0.1:12380"},
				SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false),
					Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
			}},
		},
	}
	Expect(k8sClient.Create(ctx, pod)).To(Succeed())
	Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, ctrlclient.ObjectKeyFromObject(pod), pod)).To(Succeed())
		g.Expect(pod.Status.Phase).To(Equal(corev1.PodRunning))
	}, 2*time.Minute, time.Second).Should(Succeed())
	return pod.Name
}

var _ = Describe("A member that lost its data while a learner is being added", Label("heal"), func() {
	It("is stopped by the member guard instead of rejoining under its old ID, then replaced", func() {
		ns := newNamespace()
		cluster := createCluster(ns, "open", 3)
		waitSealed(cluster)
		w := startWriter(cluster, "/open", 50*time.Millisecond)
		idsBefore := memberIDs(cluster)

		By("scaling to 4 and pausing the operator as soon as etcd lists the learner, which keeps the bootstrap settings open")
		resize(cluster, 4)
		Eventually(func() int { return len(memberIDs(cluster)) }, 2*time.Minute, 200*time.Millisecond).Should(Equal(4))
		editSpec(cluster, func(s *etcdv1alpha1.EtcdClusterSpec) { s.Paused = true })
		var cm corev1.ConfigMap
		Expect(k8sClient.Get(ctx, ctrlclient.ObjectKey{Namespace: ns, Name: resources.ConfigMapName(cluster)}, &cm)).To(Succeed())
		Expect(resources.IsSealed(&cm)).To(BeFalse(), "the settings were sealed before the test could lose a member's data")

		By("deleting the claim of open-1, then its pod")
		claim := deleteClaimAndPod(ns, "open-1")

		By("seeing the guard stop open-1 on its empty claim, with the operator paused")
		Eventually(func(g Gomega) {
			var pod corev1.Pod
			g.Expect(k8sClient.Get(ctx, ctrlclient.ObjectKey{Namespace: ns, Name: "open-1"}, &pod)).To(Succeed())
			g.Expect(pod.CreationTimestamp.Time).To(BeTemporally(">", claim.CreationTimestamp.Time))
			msg, refused := resources.GuardRefused(&pod)
			g.Expect(refused).To(BeTrue(), "open-1 was not stopped by the member guard: init %+v, containers %+v",
				pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses)
			g.Expect(msg).To(ContainSubstring(memberguard.ErrLostData.Error()))
		}, 2*time.Minute, time.Second).Should(Succeed())

		By("resuming the operator: open-1 is replaced under a new ID, the learner promoted")
		editSpec(cluster, func(s *etcdv1alpha1.EtcdClusterSpec) { s.Paused = false })
		waitReplaced(cluster, idsBefore, "open-1", 4)
		waitMembers(cluster, 4)
		Expect(eventReasons(ns, corev1.EventTypeWarning)).To(ContainElement("MemberReplaced"))
		w.stopAndVerify()
	})
})

var _ = Describe("A cluster whose database reaches its quota", Label("alarm"), func() {
	It("reports the NOSPACE alarm, not a loss of quorum, backs up, and is disarmed once a raised quota rolled out", func() {
		ns := newNamespace()
		cluster := createClusterSpec(ns, "full", etcdv1alpha1.EtcdClusterSpec{Size: 3, Version: etcdVersion,
			Options: &etcdv1alpha1.EtcdOptions{QuotaBackendBytes: ptr.To(resource.MustParse("16Mi"))}})
		w := startWriter(cluster, "/full", 50*time.Millisecond)

		By("filling the database until etcd refuses writes")
		fillToQuota(cluster)

		By("seeing the Alarm condition, with the cluster still Available and no member unhealthy")
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, ctrlclient.ObjectKeyFromObject(cluster), cluster)).To(Succeed())
			alarm := meta.FindStatusCondition(cluster.Status.Conditions, etcdv1alpha1.ConditionAlarm)
			g.Expect(alarm).NotTo(BeNil())
			g.Expect(alarm.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(alarm.Reason).To(Equal(etcdv1alpha1.ReasonNoSpace), alarm.Message)
			g.Expect(cluster.Status.Phase).To(Equal(etcdv1alpha1.PhaseRunning))
			g.Expect(cluster.Status.ReadyMembers).To(BeEquivalentTo(3))
			g.Expect(meta.IsStatusConditionTrue(cluster.Status.Conditions, etcdv1alpha1.ConditionAvailable)).To(BeTrue())
		}, time.Minute, time.Second).Should(Succeed())

		By("taking a backup under the alarm")
		b := createBackup(ns, "while-full", cluster.Name, newS3Destination(ns))
		waitBackupPhase(b, etcdv1alpha1.BackupSucceeded)

		By("raising the quota: the members restart on it and the operator disarms the alarm")
		editSpec(cluster, func(s *etcdv1alpha1.EtcdClusterSpec) {
			s.Options.QuotaBackendBytes = ptr.To(resource.MustParse("64Mi"))
		})
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, ctrlclient.ObjectKeyFromObject(cluster), cluster)).To(Succeed())
			g.Expect(meta.IsStatusConditionFalse(cluster.Status.Conditions, etcdv1alpha1.ConditionAlarm)).To(BeTrue(),
				"conditions: %+v", cluster.Status.Conditions)
		}, 4*time.Minute, 2*time.Second).Should(Succeed())
		Expect(eventReasons(ns, corev1.EventTypeNormal)).To(ContainElement("AlarmDisarmed"))
		cli := etcdClient(cluster, values(memberEndpoints(cluster))...)
		putCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, err := cli.Put(putCtx, "/full/after", "accepted again")
		Expect(err).NotTo(HaveOccurred())
		w.stopAndVerify()
	})
})

// fillToQuota puts 64 KiB values until etcd answers "database space
// exceeded".
func fillToQuota(c *etcdv1alpha1.EtcdCluster) {
	GinkgoHelper()
	cli := etcdClient(c, values(memberEndpoints(c))...)
	value := strings.Repeat("q", 64*1024)
	Eventually(func() error {
		putCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, err := cli.Put(putCtx, fmt.Sprintf("/fill/%d", time.Now().UnixNano()), value)
		return err
	}, 3*time.Minute, 10*time.Millisecond).Should(MatchError(ContainSubstring("database space exceeded")))
}
