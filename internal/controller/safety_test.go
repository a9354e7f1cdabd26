package controller

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
	"github.com/quorum-operator/quorum/internal/resources"
)

func restoreContainers(sts *appsv1.StatefulSet) []string {
	var names []string
	for _, ic := range sts.Spec.Template.Spec.InitContainers {
		names = append(names, ic.Name)
	}
	return names
}

var _ = Describe("A cluster restored from a backup", func() {
	It("no longer depends on the restore source once its members have started, restarting nobody for it", func() {
		ns := newTestNamespace("restored-")
		cluster := createTestCluster(ns, "main", etcdv1alpha1.EtcdClusterSpec{Size: 3, Version: "3.6.16",
			Bootstrap: &etcdv1alpha1.BootstrapSpec{FromBackup: &etcdv1alpha1.BackupSource{
				S3: &etcdv1alpha1.S3Snapshot{S3Location: etcdv1alpha1.S3Location{Endpoint: "s3.example:9000", Bucket: "backups",
					CredentialsSecret: etcdv1alpha1.SecretReference{Name: "s3-credentials"}}, Key: "snap.db"},
				SHA256: "0000000000000000000000000000000000000000000000000000000000000000",
			}}})
		key := client.ObjectKeyFromObject(cluster)

		var sts appsv1.StatefulSet
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, key, &sts)).To(Succeed())
			g.Expect(restoreContainers(&sts)).To(Equal([]string{resources.GuardContainerName, "restore"}))
		}, timeout).Should(Succeed())
		hash := sts.Annotations[resources.AnnotationTemplateHash]

		By("starting the members: the settings are sealed and the restore source dropped from the template")
		startInitialMembers(cluster)
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, key, &sts)).To(Succeed())
			g.Expect(restoreContainers(&sts)).To(Equal([]string{resources.GuardContainerName}),
				"a member restarted now would need the restore source's Secret to start")
			g.Expect(sts.Spec.Template.Spec.Volumes).NotTo(ContainElement(HaveField("Name", "restore-source")))
		}, timeout).Should(Succeed())
		Expect(sts.Annotations[resources.AnnotationTemplateHash]).To(Equal(hash), "dropping the restore source changed the template hash")
		Expect(sts.Annotations).NotTo(HaveKey(resources.AnnotationRollingTo), "dropping the restore source started a rollout")
	})
})

var _ = Describe("A pass that fails", func() {
	It("says why in status, on every pass, and does not advance observedGeneration", func() {
		ns := newTestNamespace("failing-")
		By("taking the peer Service's name with a Service another controller owns")
		owner := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "someone-else", Namespace: ns}}
		Expect(k8sClient.Create(ctx, owner)).To(Succeed())
		taken := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "main-peer", Namespace: ns, OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "v1", Kind: "ConfigMap", Name: owner.Name, UID: owner.UID, Controller: ptr.To(true)}}},
			Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Ports: []corev1.ServicePort{{Name: "peer", Port: 2380}}},
		}
		Expect(k8sClient.Create(ctx, taken)).To(Succeed())

		cluster := createTestCluster(ns, "main", etcdv1alpha1.EtcdClusterSpec{Size: 3, Version: "3.6.16"})
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(cluster), cluster)).To(Succeed())
			progressing := meta.FindStatusCondition(cluster.Status.Conditions, etcdv1alpha1.ConditionProgressing)
			g.Expect(progressing).NotTo(BeNil(), "status says nothing about the failing pass")
			g.Expect(progressing.Reason).To(Equal(etcdv1alpha1.ReasonReconcileError))
			g.Expect(progressing.Message).To(ContainSubstring("main-peer"))
			g.Expect(cluster.Status.ObservedGeneration).To(BeZero(), "the spec was never acted on")
		}, timeout).Should(Succeed())
	})
})

var _ = Describe("An operator upgrade from a version without the member guard", func() {
	It("adds the guard to the template and restarts no member for it", func() {
		ns := newTestNamespace("upgrade-")
		cluster := createTestCluster(ns, "main", etcdv1alpha1.EtcdClusterSpec{Size: 3, Version: "3.6.16"})
		key := client.ObjectKeyFromObject(cluster)
		startInitialMembers(cluster)
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, key, cluster)).To(Succeed())
			g.Expect(cluster.Status.Phase).To(Equal(etcdv1alpha1.PhaseRunning))
		}, timeout).Should(Succeed())

		By("taking the guard out of the template, as the previous operator wrote it (its pods carry no template hash)")
		var sts appsv1.StatefulSet
		var hash string
		// Retried, saying why: the patch failed once in 21 runs on a loaded
		// machine, its error not kept; this is the setup, not what is
		// tested, and the log will tell the cause next time.
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, key, &sts)).To(Succeed())
			hash = sts.Annotations[resources.AnnotationTemplateHash]
			before := sts.DeepCopy()
			sts.Spec.Template.Spec.InitContainers = nil
			delete(sts.Spec.Template.Annotations, resources.AnnotationTemplateHash)
			err := k8sClient.Patch(ctx, &sts, client.MergeFrom(before))
			if err != nil {
				GinkgoWriter.Printf("patching the StatefulSet failed, retrying: %v\n", err)
			}
			g.Expect(err).NotTo(HaveOccurred())
		}, timeout).Should(Succeed())

		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, key, &sts)).To(Succeed())
			g.Expect(resources.HasGuard(&sts.Spec.Template)).To(BeTrue())
			g.Expect(sts.Annotations).To(HaveKeyWithValue(resources.AnnotationUnannotatedPodsHash, hash))
		}, timeout).Should(Succeed())
		Expect(sts.Annotations[resources.AnnotationTemplateHash]).To(Equal(hash))
		Expect(sts.Annotations).NotTo(HaveKey(resources.AnnotationRollingTo))

		By("letting the StatefulSet controller see the new revision: no member is restarted")
		markStatefulSetSeen(&sts, "rev-guard")
		Consistently(podNames(cluster), "3s").Should(HaveLen(3), "a member was restarted to get the guard")
	})
})
