package controller

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
	"github.com/quorum-operator/quorum/internal/resources"
)

// runningCluster creates a 3-member cluster and waits until it runs.
func runningCluster(prefix string, spec etcdv1alpha1.EtcdClusterSpec) *etcdv1alpha1.EtcdCluster {
	GinkgoHelper()
	cluster := createTestCluster(newTestNamespace(prefix), "main", spec)
	startInitialMembers(cluster)
	Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(cluster), cluster)).To(Succeed())
		g.Expect(cluster.Status.Phase).To(Equal(etcdv1alpha1.PhaseRunning))
	}, timeout).Should(Succeed())
	return cluster
}

// clusterCondition is the cluster's condition of type t, once it exists.
func clusterCondition(g Gomega, cluster *etcdv1alpha1.EtcdCluster, t string) metav1.Condition {
	g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(cluster), cluster)).To(Succeed())
	cond := meta.FindStatusCondition(cluster.Status.Conditions, t)
	g.Expect(cond).NotTo(BeNil(), "no %s condition", t)
	return *cond
}

var _ = Describe("Member placement", func() {
	It("keeps a new cluster's members on separate nodes and spreads them over zones, and records that choice", func() {
		cluster := runningCluster("spread-", etcdv1alpha1.EtcdClusterSpec{Size: 3, Version: "3.6.16"})
		var sts appsv1.StatefulSet
		Eventually(k8sClient.Get).WithArguments(ctx, client.ObjectKeyFromObject(cluster), &sts).WithTimeout(timeout).Should(Succeed())
		Expect(sts.Annotations).To(HaveKeyWithValue(resources.AnnotationMemberSpread, "Required"))
		pod := sts.Spec.Template.Spec
		Expect(pod.Affinity).NotTo(BeNil())
		Expect(pod.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution).To(ConsistOf(corev1.PodAffinityTerm{
			LabelSelector: &metav1.LabelSelector{MatchLabels: resources.SelectorLabels(cluster)}, TopologyKey: "kubernetes.io/hostname"}))
		Expect(pod.TopologySpreadConstraints).To(HaveLen(1))
		Expect(pod.TopologySpreadConstraints[0].TopologyKey).To(Equal("topology.kubernetes.io/zone"))
		Expect(pod.TopologySpreadConstraints[0].WhenUnsatisfiable).To(Equal(corev1.ScheduleAnyway))
	})

	It("keeps the template of a cluster whose StatefulSet an operator without memberSpread made: no member restarts", func() {
		cluster := runningCluster("spread-upgrade-", etcdv1alpha1.EtcdClusterSpec{Size: 3, Version: "3.6.16"})
		key := client.ObjectKeyFromObject(cluster)

		By("writing the StatefulSet and pods as the previous operator did: no spread, no record of one")
		legacy := resources.TemplateHash(resources.PodTemplate(resources.WithMemberSpread(cluster, etcdv1alpha1.MemberSpreadNone), nil))
		var sts appsv1.StatefulSet
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, key, &sts)).To(Succeed())
			sts.Spec.Template.Spec.Affinity = nil
			sts.Spec.Template.Spec.TopologySpreadConstraints = nil
			sts.Spec.Template.Annotations[resources.AnnotationTemplateHash] = legacy
			sts.Annotations[resources.AnnotationTemplateHash] = legacy
			delete(sts.Annotations, resources.AnnotationMemberSpread)
			g.Expect(k8sClient.Update(ctx, &sts)).To(Succeed())
		}, timeout).Should(Succeed())
		labelPods(cluster, "rev-legacy")
		markStatefulSetSeen(&sts, "rev-legacy")

		By("the new operator looks again: the template stays, no rollout starts")
		Expect(k8sClient.Get(ctx, key, cluster)).To(Succeed())
		before := cluster.DeepCopy()
		cluster.Spec.DeletionPolicy = etcdv1alpha1.DeletionPolicyDelete // a spec edit outside the template, so a pass runs now
		Expect(k8sClient.Patch(ctx, cluster, client.MergeFrom(before))).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, key, cluster)).To(Succeed())
			g.Expect(cluster.Status.ObservedGeneration).To(Equal(cluster.Generation))
		}, timeout).Should(Succeed())
		Consistently(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, key, &sts)).To(Succeed())
			g.Expect(sts.Annotations[resources.AnnotationTemplateHash]).To(Equal(legacy))
			g.Expect(sts.Annotations).NotTo(HaveKey(resources.AnnotationRollingTo))
			g.Expect(sts.Spec.Template.Spec.Affinity).To(BeNil())
		}, "3s").Should(Succeed())
		Expect(podNames(cluster)()).To(HaveLen(3), "a member was restarted")

		By("an explicit memberSpread is the user's choice and rolls the members")
		before = cluster.DeepCopy()
		cluster.Spec.PodTemplate = &etcdv1alpha1.PodTemplate{MemberSpread: etcdv1alpha1.MemberSpreadPreferred}
		Expect(k8sClient.Patch(ctx, cluster, client.MergeFrom(before))).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, key, &sts)).To(Succeed())
			g.Expect(sts.Annotations[resources.AnnotationTemplateHash]).NotTo(Equal(legacy))
			g.Expect(sts.Spec.Template.Spec.Affinity.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution).To(HaveLen(1))
		}, timeout).Should(Succeed())
	})

	It("says when two voters share a node, from the pods' nodes", func() {
		cluster := runningCluster("shared-node-", etcdv1alpha1.EtcdClusterSpec{Size: 3, Version: "3.6.16"})
		nodes := []string{cluster.Namespace + "-a", cluster.Namespace + "-b", cluster.Namespace + "-c"}
		for _, n := range nodes {
			node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n}}
			Expect(k8sClient.Create(ctx, node)).To(Succeed())
			DeferCleanup(func() { Expect(k8sClient.Delete(ctx, node)).To(Succeed()) })
		}
		bind := func(ordinal int, node string) {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: resources.MemberName(cluster, ordinal), Namespace: cluster.Namespace}}
			Expect(k8sClient.SubResource("binding").Create(ctx, pod, &corev1.Binding{
				ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace},
				Target:     corev1.ObjectReference{Kind: "Node", Name: node}})).To(Succeed())
		}
		bind(0, nodes[0])
		bind(1, nodes[1])
		Eventually(func(g Gomega) {
			cond := clusterCondition(g, cluster, etcdv1alpha1.ConditionVotersShareNode)
			g.Expect(cond.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(cond.Reason).To(Equal(etcdv1alpha1.ReasonSeparateNodes))
		}, timeout).Should(Succeed())

		bind(2, nodes[0])
		Eventually(func(g Gomega) {
			cond := clusterCondition(g, cluster, etcdv1alpha1.ConditionVotersShareNode)
			g.Expect(cond.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(cond.Reason).To(Equal(etcdv1alpha1.ReasonSharedNode))
			g.Expect(cond.Message).To(HavePrefix("main-0, main-2 run on node " + nodes[0] + ": losing such a node loses several of the 3 votes"))
		}, timeout).Should(Succeed())
	})

	It("gives the scheduler's reason for a member that cannot be scheduled", func() {
		cluster := runningCluster("pending-", etcdv1alpha1.EtcdClusterSpec{Size: 3, Version: "3.6.16"})
		var pod corev1.Pod
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: cluster.Namespace, Name: "main-2"}, &pod)).To(Succeed())
		why := "0/1 nodes are available: 1 node(s) didn't match pod anti-affinity rules."
		pod.Status.Conditions = append(pod.Status.Conditions, corev1.PodCondition{
			Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable, Message: why})
		Expect(k8sClient.Status().Update(ctx, &pod)).To(Succeed())
		Eventually(func(g Gomega) {
			cond := clusterCondition(g, cluster, etcdv1alpha1.ConditionMembersUnschedulable)
			g.Expect(cond.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(cond.Message).To(Equal("pending, the scheduler says: main-2: " + why))
		}, timeout).Should(Succeed())
	})
})

var _ = Describe("Claim expansion", func() {
	// claimedCluster runs a cluster on the given class with a claim per
	// member, bound at 1Gi, as the StatefulSet controller and a
	// provisioner would have made them.
	claimedCluster := func(prefix string, expandable bool) (*etcdv1alpha1.EtcdCluster, string) {
		GinkgoHelper()
		class := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix}, Provisioner: "example.com/disk"}
		if expandable {
			class.AllowVolumeExpansion = ptr.To(true)
		}
		Expect(k8sClient.Create(ctx, class)).To(Succeed())
		DeferCleanup(func() { Expect(k8sClient.Delete(ctx, class)).To(Succeed()) })
		cluster := runningCluster(prefix, etcdv1alpha1.EtcdClusterSpec{Size: 3, Version: "3.6.16",
			Storage: &etcdv1alpha1.StorageSpec{StorageClassName: ptr.To(class.Name), Size: ptr.To(resource.MustParse("1Gi"))}})
		for i := range 3 {
			pvc := &corev1.PersistentVolumeClaim{
				ObjectMeta: metav1.ObjectMeta{Name: "data-" + resources.MemberName(cluster, i), Namespace: cluster.Namespace, Labels: resources.Labels(cluster)},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}, StorageClassName: ptr.To(class.Name),
					Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
				},
			}
			Expect(k8sClient.Create(ctx, pvc)).To(Succeed())
			pvc.Status.Phase = corev1.ClaimBound
			pvc.Status.Capacity = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}
			Expect(k8sClient.Status().Update(ctx, pvc)).To(Succeed())
		}
		return cluster, class.Name
	}
	requests := func(cluster *etcdv1alpha1.EtcdCluster) func() []string {
		return func() []string {
			var claims corev1.PersistentVolumeClaimList
			Expect(k8sClient.List(ctx, &claims, client.InNamespace(cluster.Namespace))).To(Succeed())
			var out []string
			for _, c := range claims.Items {
				q := c.Spec.Resources.Requests[corev1.ResourceStorage]
				out = append(out, q.String())
			}
			return out
		}
	}
	grow := func(cluster *etcdv1alpha1.EtcdCluster) {
		GinkgoHelper()
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(cluster), cluster)).To(Succeed())
			cluster.Spec.Storage.Size = ptr.To(resource.MustParse("2Gi"))
			g.Expect(k8sClient.Update(ctx, cluster)).To(Succeed())
		}, timeout).Should(Succeed())
	}

	It("raises each member's claim where the StorageClass allows expansion, and says so until the volumes grew", func() {
		cluster, _ := claimedCluster("expandable-", true)
		Eventually(func(g Gomega) {
			g.Expect(clusterCondition(g, cluster, etcdv1alpha1.ConditionStorageResizing).Reason).To(Equal(etcdv1alpha1.ReasonClaimsMatchSpec))
		}, timeout).Should(Succeed())
		grow(cluster)
		Eventually(requests(cluster), timeout).Should(Equal([]string{"2Gi", "2Gi", "2Gi"}))
		Eventually(func(g Gomega) {
			cond := clusterCondition(g, cluster, etcdv1alpha1.ConditionStorageResizing)
			g.Expect(cond.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(cond.Reason).To(Equal(etcdv1alpha1.ReasonExpanding))
			g.Expect(cond.Message).To(ContainSubstring("data-main-0 has 1Gi of 2Gi"))
		}, timeout).Should(Succeed())
	})

	It("changes nothing where the StorageClass cannot expand, and says why", func() {
		cluster, class := claimedCluster("fixed-", false)
		grow(cluster)
		Eventually(func(g Gomega) {
			cond := clusterCondition(g, cluster, etcdv1alpha1.ConditionStorageResizing)
			g.Expect(cond.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(cond.Reason).To(Equal(etcdv1alpha1.ReasonExpansionNotSupported))
			g.Expect(cond.Message).To(ContainSubstring("data-main-0: its StorageClass " + class + " does not allow volume expansion"))
		}, timeout).Should(Succeed())
		Consistently(requests(cluster), "2s").Should(Equal([]string{"1Gi", "1Gi", "1Gi"}))
	})
})
