package controller

import (
	"fmt"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
	"github.com/quorum-operator/quorum/internal/etcd"
	"github.com/quorum-operator/quorum/internal/resources"
)

// The restore reconciler is not in the suite's manager: each spec runs its
// passes one at a time, each with a new reconciler, as an operator
// restarted between any two passes would. Whatever it remembers is in the
// API. The EtcdCluster reconciler runs in the manager as usual.
var _ = Describe("In-place restore (EtcdRestore)", func() {
	var (
		ns      string
		cluster *etcdv1alpha1.EtcdCluster
		seen    []string // events of every pass
		verify  func(*etcdv1alpha1.EtcdBackup) (string, bool)
	)

	BeforeEach(func() {
		ns = newTestNamespace("restore-")
		cluster = createTestCluster(ns, "main", etcdv1alpha1.EtcdClusterSpec{Size: 3, Version: "3.6.16"})
		Eventually(func() error { return k8sClient.Get(ctx, client.ObjectKeyFromObject(cluster), &appsv1.StatefulSet{}) }, timeout).Should(Succeed())
		seen, verify = nil, nil
	})

	pass := func(rs *etcdv1alpha1.EtcdRestore) *etcdv1alpha1.EtcdRestore {
		GinkgoHelper()
		rec := events.NewFakeRecorder(100)
		r := &EtcdRestoreReconciler{Client: k8sClient, Scheme: k8sClient.Scheme(), Recorder: rec, APIReader: k8sClient,
			ToolImage: "quorum:envtest", VerificationFailed: verify}
		_, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(rs)})
		Expect(err).NotTo(HaveOccurred())
		close(rec.Events)
		for e := range rec.Events {
			seen = append(seen, e)
		}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(rs), rs)).To(Succeed())
		return rs
	}
	newRestore := func(backup string) *etcdv1alpha1.EtcdRestore {
		GinkgoHelper()
		rs := &etcdv1alpha1.EtcdRestore{ObjectMeta: metav1.ObjectMeta{Name: "rollback", Namespace: ns},
			Spec: etcdv1alpha1.EtcdRestoreSpec{ClusterName: cluster.Name, Source: etcdv1alpha1.BackupSource{BackupName: backup}}}
		Expect(k8sClient.Create(ctx, rs)).To(Succeed())
		return rs
	}
	statefulSet := func() *appsv1.StatefulSet {
		GinkgoHelper()
		var sts appsv1.StatefulSet
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(cluster), &sts)).To(Succeed())
		return &sts
	}
	mark := func() string {
		GinkgoHelper()
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(cluster), cluster)).To(Succeed())
		return cluster.Annotations[etcdv1alpha1.AnnotationRestoring]
	}

	It("stops the members, restarts them on the snapshot under a new cluster ID, and says so", func() {
		startInitialMembers(cluster)
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(cluster), cluster)).To(Succeed())
			g.Expect(cluster.Status.Phase).To(Equal(etcdv1alpha1.PhaseRunning))
		}, timeout).Should(Succeed())
		backup := succeededBackup(ns, "nightly", cluster.Name, 42)
		rs := newRestore(backup.Name)

		By("marking the cluster and stopping its members with the restore in their template")
		Expect(pass(rs).Status.Phase).To(Equal(etcdv1alpha1.RestoreStopping), rs.Status.Message)
		Expect(rs.Status.FromRevision).To(BeEquivalentTo(42))
		Expect(rs.Status.StartedAt).NotTo(BeNil())
		Expect(mark()).To(Equal(rs.Name))
		sts := statefulSet()
		Expect(*sts.Spec.Replicas).To(BeZero())
		Expect(resources.InPlaceRestoreID(&sts.Spec.Template)).To(Equal(string(rs.UID)))
		first := sts.Spec.Template.Spec.InitContainers[0]
		Expect(first.Name).To(Equal("restore-in-place"), "the restore runs before the member guard")
		Expect(first.Args).To(ContainElements(
			"--in-place="+string(rs.UID),
			"--initial-cluster-state=new",
			fmt.Sprintf("--initial-cluster-token=main-%s-restore-%s", cluster.UID, rs.UID),
			"--initial-cluster="+resources.InitialCluster(cluster, resources.InitialMembers(cluster, 3)),
			"--sha256="+backup.Status.SHA256))
		var cm corev1.ConfigMap
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "main-config"}, &cm)).To(Succeed())
		Expect(resources.IsSealed(&cm)).To(BeTrue(), "no member may start empty: every one restores")
		Expect(seen).To(ContainElement(ContainSubstring("RestoreStarted")))

		By("the cluster's reconciler taking no step of its own meanwhile")
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(cluster), cluster)).To(Succeed())
			p := meta.FindStatusCondition(cluster.Status.Conditions, etcdv1alpha1.ConditionProgressing)
			g.Expect(p).NotTo(BeNil())
			g.Expect(p.Message).To(ContainSubstring("EtcdRestore rollback is restoring the cluster in place"))
			g.Expect(cluster.Status.Phase).To(Equal(etcdv1alpha1.PhaseRestoring))
			g.Expect(meta.IsStatusConditionTrue(cluster.Status.Conditions, etcdv1alpha1.ConditionStalled)).To(BeFalse(),
				"members stopped on purpose are no lost quorum a person must see to")
		}, timeout).Should(Succeed())
		Consistently(func(g Gomega) {
			sts := statefulSet()
			g.Expect(*sts.Spec.Replicas).To(BeZero())
			g.Expect(resources.InPlaceRestoreID(&sts.Spec.Template)).To(Equal(string(rs.UID)))
		}, 3*time.Second).Should(Succeed())

		By("waiting while member pods exist")
		Expect(pass(rs).Status.Phase).To(Equal(etcdv1alpha1.RestoreStopping))
		Expect(rs.Status.Message).To(ContainSubstring("3 member pods left"))
		stopAllMembers(cluster)
		markStatefulSetSeen(statefulSet(), "restoring")

		By("starting the members once none is left")
		Expect(pass(rs).Status.Phase).To(Equal(etcdv1alpha1.RestoreRestoring), rs.Status.Message)
		Expect(rs.Status.PreviousClusterID).To(Equal("feed"))
		Expect(*statefulSet().Spec.Replicas).To(BeZero(), "members start only once the stage is recorded")
		Expect(pass(rs).Status.Phase).To(Equal(etcdv1alpha1.RestoreRestoring))
		Expect(*statefulSet().Spec.Replicas).To(BeEquivalentTo(3))
		Expect(rs.Status.Message).To(ContainSubstring("form a new cluster"))

		By("reporting a member that cannot restore, without ending")
		failing := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "main-0", Namespace: ns, Labels: resources.SelectorLabels(cluster)},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "etcd", Image: "etcd"}}}}
		Expect(k8sClient.Create(ctx, failing)).To(Succeed())
		failing.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "restore-in-place", Image: "quorum:envtest",
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Message: "the snapshot's SHA-256 is 00"}}}}
		Expect(k8sClient.Status().Update(ctx, failing)).To(Succeed())
		Expect(pass(rs).Status.Phase).To(Equal(etcdv1alpha1.RestoreRestoring))
		Expect(rs.Status.Message).To(ContainSubstring("main-0 could not restore the snapshot (it retries; its data was not moved): the snapshot's SHA-256 is 00"))
		Expect(meta.IsStatusConditionTrue(rs.Status.Conditions, etcdv1alpha1.ConditionStalled)).To(BeTrue())
		Expect(k8sClient.Delete(ctx, failing)).To(Succeed())

		By("finishing once the restored members answer under a new cluster ID, with the cluster paused meanwhile")
		// Paused, the cluster's reconciler writes no template: the restore
		// must take its container out itself before it lifts the mark.
		setPaused(cluster, true)
		startRestoredMembers(cluster, 0xbeef)
		Eventually(func() etcdv1alpha1.RestorePhase { return pass(rs).Status.Phase }, timeout, 200*time.Millisecond).
			Should(Equal(etcdv1alpha1.RestoreSucceeded))
		Expect(rs.Status.NewClusterID).To(Equal("beef"))
		Expect(rs.Status.FinishedAt).NotTo(BeNil())
		Expect(rs.Status.Message).To(ContainSubstring("EtcdBackup nightly (revision 42)"))
		Expect(meta.IsStatusConditionTrue(rs.Status.Conditions, etcdv1alpha1.ConditionReady)).To(BeTrue())
		Expect(meta.IsStatusConditionTrue(rs.Status.Conditions, etcdv1alpha1.ConditionStalled)).To(BeFalse())
		Expect(rs.Status.ObservedGeneration).To(Equal(rs.Generation))
		Expect(mark()).To(BeEmpty())
		Expect(resources.InPlaceRestoreID(&statefulSet().Spec.Template)).To(BeEmpty(),
			"the restore left its container behind the mark: a member on a lost claim would restore the old snapshot")
		setPaused(cluster, false)
		Expect(seen).To(ContainElements(ContainSubstring("MembersStopped"), ContainSubstring("Restored")))

		By("the cluster's reconciler dropping the restore from the template, restarting nobody")
		hash := statefulSet().Annotations[resources.AnnotationTemplateHash]
		Eventually(func() bool { return resources.HasRestore(&statefulSet().Spec.Template) }, timeout).Should(BeFalse())
		Expect(statefulSet().Annotations).To(HaveKeyWithValue(resources.AnnotationTemplateHash, hash))
		Expect(statefulSet().Annotations).NotTo(HaveKey(resources.AnnotationRollingTo))
	})

	It("goes on after being killed between any two writes of its first stage", func() {
		backup := succeededBackup(ns, "nightly", cluster.Name, 7)
		rs := newRestore(backup.Name)
		By("a pass killed right after it marked the cluster")
		before := cluster.DeepCopy()
		cluster.Annotations = map[string]string{etcdv1alpha1.AnnotationRestoring: rs.Name}
		Expect(k8sClient.Patch(ctx, cluster, client.MergeFrom(before))).To(Succeed())
		Expect(pass(rs).Status.Phase).To(Equal(etcdv1alpha1.RestoreStopping), rs.Status.Message)

		By("a pass killed after it wrote the StatefulSet, before its status")
		before2 := rs.DeepCopy()
		rs.Status = etcdv1alpha1.EtcdRestoreStatus{}
		Expect(k8sClient.Status().Patch(ctx, rs, client.MergeFrom(before2))).To(Succeed())
		written := statefulSet().ResourceVersion
		Expect(pass(rs).Status.Phase).To(Equal(etcdv1alpha1.RestoreStopping), rs.Status.Message)
		Expect(rs.Status.FromRevision).To(BeEquivalentTo(7))
		Expect(statefulSet().ResourceVersion).To(Equal(written), "nothing written twice")
	})

	DescribeTable("refuses, changing nothing,",
		func(setup func() string, want string) {
			name := setup()
			rs := newRestore(name)
			Eventually(func() etcdv1alpha1.RestorePhase { return pass(rs).Status.Phase }, timeout, 200*time.Millisecond).
				Should(Equal(etcdv1alpha1.RestoreFailed))
			Expect(rs.Status.Message).To(And(ContainSubstring("Refused, nothing was changed"), ContainSubstring(want)))
			Expect(meta.IsStatusConditionTrue(rs.Status.Conditions, etcdv1alpha1.ConditionStalled)).To(BeTrue())
			Expect(seen).To(ContainElement(ContainSubstring("RestoreRefused")))
			Expect(mark()).NotTo(Equal(rs.Name))
			sts := statefulSet()
			Expect(*sts.Spec.Replicas).To(BeEquivalentTo(3))
			Expect(resources.HasRestore(&sts.Spec.Template)).To(BeFalse())
		},
		Entry("a backup that does not exist", func() string { return "missing" }, `EtcdBackup "missing" does not exist`),
		Entry("a backup that failed", func() string {
			// A backup of a cluster that does not exist fails by itself.
			b := &etcdv1alpha1.EtcdBackup{ObjectMeta: metav1.ObjectMeta{Name: "broken", Namespace: ns},
				Spec: etcdv1alpha1.EtcdBackupSpec{ClusterName: "nope", Destination: pvcDestination()}}
			Expect(k8sClient.Create(ctx, b)).To(Succeed())
			Eventually(func() etcdv1alpha1.BackupPhase {
				Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(b), b)).To(Succeed())
				return b.Status.Phase
			}, timeout).Should(Equal(etcdv1alpha1.BackupFailed))
			return b.Name
		}, `EtcdBackup "broken" failed`),
		Entry("a backup whose verification failed", func() string {
			verify = func(*etcdv1alpha1.EtcdBackup) (string, bool) { return "the restored copy did not start", true }
			return succeededBackup(ns, "unverified", cluster.Name, 3).Name
		}, "failed its verification: the restored copy did not start"),
		Entry("a cluster another restore is restoring", func() string {
			before := cluster.DeepCopy()
			cluster.Annotations = map[string]string{etcdv1alpha1.AnnotationRestoring: "other"}
			Expect(k8sClient.Patch(ctx, cluster, client.MergeFrom(before))).To(Succeed())
			return succeededBackup(ns, "nightly", cluster.Name, 3).Name
		}, `EtcdRestore "other" is restoring EtcdCluster "main" now`),
	)

	It("refuses a cluster that does not exist", func() {
		rs := &etcdv1alpha1.EtcdRestore{ObjectMeta: metav1.ObjectMeta{Name: "nowhere", Namespace: ns},
			Spec: etcdv1alpha1.EtcdRestoreSpec{ClusterName: "absent", Source: etcdv1alpha1.BackupSource{BackupName: "x"}}}
		Expect(k8sClient.Create(ctx, rs)).To(Succeed())
		Expect(pass(rs).Status.Phase).To(Equal(etcdv1alpha1.RestoreFailed))
		Expect(rs.Status.Message).To(ContainSubstring(`EtcdCluster "absent" does not exist`))
	})

	It("refuses a cluster whose data lives in emptyDir volumes", func() {
		c := createTestCluster(ns, "scratch", etcdv1alpha1.EtcdClusterSpec{Size: 3, Version: "3.6.16",
			Storage: &etcdv1alpha1.StorageSpec{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
		Eventually(func() error { return k8sClient.Get(ctx, client.ObjectKeyFromObject(c), &appsv1.StatefulSet{}) }, timeout).Should(Succeed())
		rs := &etcdv1alpha1.EtcdRestore{ObjectMeta: metav1.ObjectMeta{Name: "scratch", Namespace: ns},
			Spec: etcdv1alpha1.EtcdRestoreSpec{ClusterName: c.Name, Source: etcdv1alpha1.BackupSource{BackupName: succeededBackup(ns, "b", c.Name, 1).Name}}}
		Expect(k8sClient.Create(ctx, rs)).To(Succeed())
		Expect(pass(rs).Status.Phase).To(Equal(etcdv1alpha1.RestoreFailed))
		Expect(rs.Status.Message).To(ContainSubstring("emptyDir"))
	})

	It("waits for a backup that has not finished", func() {
		b := &etcdv1alpha1.EtcdBackup{ObjectMeta: metav1.ObjectMeta{Name: "later", Namespace: ns},
			Spec: etcdv1alpha1.EtcdBackupSpec{ClusterName: cluster.Name, Destination: pvcDestination()}}
		Expect(k8sClient.Create(ctx, b)).To(Succeed())
		rs := newRestore(b.Name)
		Expect(pass(rs).Status.Phase).To(Equal(etcdv1alpha1.RestorePending))
		Expect(rs.Status.Message).To(ContainSubstring(`waiting for EtcdBackup "later" to complete`))
		Expect(meta.IsStatusConditionTrue(rs.Status.Conditions, etcdv1alpha1.ConditionReconciling)).To(BeTrue())
		Expect(mark()).To(BeEmpty())
		Expect(*statefulSet().Spec.Replicas).To(BeEquivalentTo(3))
	})
})

func pvcDestination() etcdv1alpha1.BackupDestination {
	return etcdv1alpha1.BackupDestination{PersistentVolumeClaim: &etcdv1alpha1.PVCLocation{ClaimName: "backups"}}
}

// succeededBackup is an EtcdBackup of the cluster recorded as succeeded at
// revision, with a SHA-256.
func succeededBackup(ns, name, clusterName string, revision int64) *etcdv1alpha1.EtcdBackup {
	GinkgoHelper()
	b := &etcdv1alpha1.EtcdBackup{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: etcdv1alpha1.EtcdBackupSpec{ClusterName: clusterName, Destination: pvcDestination()}}
	Expect(k8sClient.Create(ctx, b)).To(Succeed())
	Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(b), b)).To(Succeed())
		if b.Status.Phase != etcdv1alpha1.BackupSucceeded {
			b.Status = etcdv1alpha1.EtcdBackupStatus{Phase: etcdv1alpha1.BackupSucceeded, Revision: revision,
				SHA256: strings.Repeat("ab", 32), Location: "pvc://backups/" + name + ".db"}
			g.Expect(k8sClient.Status().Update(ctx, b)).To(Succeed())
		}
		g.Consistently(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(b), b)).To(Succeed())
			g.Expect(b.Status.Phase).To(Equal(etcdv1alpha1.BackupSucceeded))
		}, time.Second).Should(Succeed())
	}, timeout).Should(Succeed())
	return b
}

// stopAllMembers stands in for the StatefulSet controller scaling to 0:
// the member pods go, and etcd answers no more.
func stopAllMembers(c *etcdv1alpha1.EtcdCluster) {
	GinkgoHelper()
	Expect(k8sClient.DeleteAllOf(ctx, &corev1.Pod{}, client.InNamespace(c.Namespace), client.MatchingLabels(resources.SelectorLabels(c)))).To(Succeed())
	fake := fakeEtcdOf(c)
	fake.Lock()
	fake.Members, fake.Statuses = nil, map[string]*etcd.MemberStatus{}
	fake.Unlock()
}

// startRestoredMembers stands in for the members started on the restored
// data: pods that answer as members of a new cluster.
func startRestoredMembers(c *etcdv1alpha1.EtcdCluster, clusterID uint64) {
	GinkgoHelper()
	for i := range 3 {
		startMember(c, i, false)
	}
	fake := fakeEtcdOf(c)
	fake.Lock()
	defer fake.Unlock()
	for _, s := range fake.Statuses {
		s.ClusterID = clusterID
	}
}

// setPaused sets spec.paused of the cluster.
func setPaused(c *etcdv1alpha1.EtcdCluster, paused bool) {
	GinkgoHelper()
	Eventually(func() error {
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(c), c); err != nil {
			return err
		}
		c.Spec.Paused = paused
		return k8sClient.Update(ctx, c)
	}, timeout).Should(Succeed())
}
