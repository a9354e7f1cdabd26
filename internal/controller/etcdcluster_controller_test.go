package controller

import (
	"fmt"
	"slices"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
	"github.com/quorum-operator/quorum/internal/etcd"
	"github.com/quorum-operator/quorum/internal/resources"
)

const timeout = 20 * time.Second

var _ = Describe("EtcdCluster reconciler", func() {
	var cluster *etcdv1alpha1.EtcdCluster

	BeforeEach(func() {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "reconcile-"}}
		Expect(k8sClient.Create(ctx, ns)).To(Succeed())
		DeferCleanup(func() { Expect(k8sClient.Delete(ctx, ns)).To(Succeed()) })
		cluster = &etcdv1alpha1.EtcdCluster{
			ObjectMeta: metav1.ObjectMeta{Name: "main", Namespace: ns.Name},
			Spec:       etcdv1alpha1.EtcdClusterSpec{Size: 3, Version: "3.6.16"},
		}
		Expect(k8sClient.Create(ctx, cluster)).To(Succeed())
		// envtest has no garbage collector and deletes no namespace: remove
		// the cluster so it stops reconciling against the shared fake.
		DeferCleanup(func() { Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, cluster))).To(Succeed()) })
	})

	key := func(name string) client.ObjectKey { return client.ObjectKey{Namespace: cluster.Namespace, Name: name} }

	It("creates the members' objects, owned by the cluster, and reports Creating", func() {
		var sts appsv1.StatefulSet
		Eventually(func() error { return k8sClient.Get(ctx, key("main"), &sts) }, timeout).Should(Succeed())
		Expect(*sts.Spec.Replicas).To(BeEquivalentTo(3))
		Expect(metav1.IsControlledBy(&sts, cluster)).To(BeTrue())

		var cm corev1.ConfigMap
		Expect(k8sClient.Get(ctx, key("main-config"), &cm)).To(Succeed())
		Expect(cm.Data).To(HaveKeyWithValue("ETCD_INITIAL_CLUSTER_STATE", "new"))
		Expect(cm.Data).To(HaveKeyWithValue("ETCD_INITIAL_CLUSTER_TOKEN", fmt.Sprintf("main-%s", cluster.UID)))
		Expect(cm.Data["ETCD_INITIAL_CLUSTER"]).To(ContainSubstring("main-2=http://main-2.main-peer." + cluster.Namespace + ".svc:2380"))

		var peer, clientSvc corev1.Service
		Expect(k8sClient.Get(ctx, key("main-peer"), &peer)).To(Succeed())
		Expect(peer.Spec.ClusterIP).To(Equal(corev1.ClusterIPNone))
		Expect(k8sClient.Get(ctx, key("main"), &clientSvc)).To(Succeed())
		Expect(clientSvc.Spec.ClusterIP).NotTo(BeEmpty())

		var pdb policyv1.PodDisruptionBudget
		Expect(k8sClient.Get(ctx, key("main"), &pdb)).To(Succeed())
		Expect(pdb.Spec.MinAvailable.IntValue()).To(Equal(2))

		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, key("main"), cluster)).To(Succeed())
			g.Expect(cluster.Status.Phase).To(Equal(etcdv1alpha1.PhaseCreating))
			g.Expect(meta.IsStatusConditionTrue(cluster.Status.Conditions, etcdv1alpha1.ConditionProgressing)).To(BeTrue())
			g.Expect(cluster.Status.ObservedGeneration).To(Equal(cluster.Generation))
			g.Expect(cluster.Status.ClientEndpoint).To(Equal("http://main." + cluster.Namespace + ".svc:2379"))
		}, timeout).Should(Succeed())
	})

	It("reports Available with every member once etcd answers", func() {
		startInitialMembers(cluster)

		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, key("main"), cluster)).To(Succeed())
			g.Expect(cluster.Status.Phase).To(Equal(etcdv1alpha1.PhaseRunning))
			g.Expect(meta.IsStatusConditionTrue(cluster.Status.Conditions, etcdv1alpha1.ConditionAvailable)).To(BeTrue())
			g.Expect(meta.IsStatusConditionFalse(cluster.Status.Conditions, etcdv1alpha1.ConditionDegraded)).To(BeTrue())
			g.Expect(cluster.Status.ReadyMembers).To(BeEquivalentTo(3))
			g.Expect(cluster.Status.ClusterID).To(Equal("feed"))
			g.Expect(cluster.Status.CurrentVersion).To(Equal("3.6.16"))
			g.Expect(cluster.Status.Members).To(HaveLen(3))
			g.Expect(cluster.Status.Members[1].Leader).To(BeTrue())
		}, timeout).Should(Succeed())
	})

	It("changes nothing while paused", func() {
		var sts appsv1.StatefulSet
		Eventually(func() error { return k8sClient.Get(ctx, key("main"), &sts) }, timeout).Should(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, key("main"), cluster)).To(Succeed())
			cluster.Spec.Paused = true
			g.Expect(k8sClient.Update(ctx, cluster)).To(Succeed())
		}, timeout).Should(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, key("main"), cluster)).To(Succeed())
			g.Expect(cluster.Status.Phase).To(Equal(etcdv1alpha1.PhasePaused))
			g.Expect(cluster.Status.ObservedGeneration).To(Equal(cluster.Generation))
		}, timeout).Should(Succeed())

		// A missing StatefulSet is not recreated while paused...
		Expect(k8sClient.Delete(ctx, &sts)).To(Succeed())
		Consistently(func() error { return k8sClient.Get(ctx, key("main"), &sts) }, 3*time.Second).ShouldNot(Succeed())

		// ...and is once the pause is lifted.
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, key("main"), cluster)).To(Succeed())
			cluster.Spec.Paused = false
			g.Expect(k8sClient.Update(ctx, cluster)).To(Succeed())
		}, timeout).Should(Succeed())
		Eventually(func() error { return k8sClient.Get(ctx, key("main"), &sts) }, timeout).Should(Succeed())
	})

	It("keeps the members' claims when deleted by default, and deletes them with deletionPolicy Delete", func() {
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, key("main"), cluster)).To(Succeed())
			g.Expect(cluster.Finalizers).To(ContainElement(Finalizer))
			g.Expect(cluster.Spec.DeletionPolicy).To(Equal(etcdv1alpha1.DeletionPolicyRetain), "the API default")
		}, timeout).Should(Succeed())
		var sts appsv1.StatefulSet
		Eventually(func() error { return k8sClient.Get(ctx, key("main"), &sts) }, timeout).Should(Succeed())
		Expect(sts.Spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted).To(Equal(appsv1.RetainPersistentVolumeClaimRetentionPolicyType),
			"the StatefulSet must never delete claims behind the policy's back")
		claim := createClaim(cluster, "data-main-0")

		Expect(k8sClient.Delete(ctx, cluster)).To(Succeed())
		Eventually(func() bool { return apierrors.IsNotFound(k8sClient.Get(ctx, key("main"), cluster)) }, timeout).Should(BeTrue())
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(claim), claim)).To(Succeed(), "Retain deleted a claim")
		Expect(claim.DeletionTimestamp).To(BeNil())

		other := &etcdv1alpha1.EtcdCluster{
			ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: cluster.Namespace},
			Spec:       etcdv1alpha1.EtcdClusterSpec{Size: 1, Version: "3.6.16", DeletionPolicy: etcdv1alpha1.DeletionPolicyDelete},
		}
		Expect(k8sClient.Create(ctx, other)).To(Succeed())
		otherClaim := createClaim(other, "data-other-0")
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(other), other)).To(Succeed())
			g.Expect(other.Finalizers).To(ContainElement(Finalizer))
		}, timeout).Should(Succeed())
		Expect(k8sClient.Delete(ctx, other)).To(Succeed())
		// The API server's pvc-protection finalizer holds a deleted claim
		// until a controller sees it unused; envtest runs none, so the
		// claim stays marked for deletion.
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(otherClaim), otherClaim)).To(Succeed())
			g.Expect(otherClaim.DeletionTimestamp).NotTo(BeNil(), "Delete kept the claim")
		}, timeout).Should(Succeed())
		Eventually(func() bool { return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(other), other)) }, timeout).Should(BeTrue())
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(claim), claim)).To(Succeed(), "another cluster's claim was deleted")
	})

	It("rolls a version edit into the template, then restarts followers first, one at a time", func() {
		startInitialMembers(cluster)
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, key("main"), cluster)).To(Succeed())
			g.Expect(cluster.Status.Phase).To(Equal(etcdv1alpha1.PhaseRunning))
		}, timeout).Should(Succeed())
		var sts appsv1.StatefulSet
		Expect(k8sClient.Get(ctx, key("main"), &sts)).To(Succeed())
		Expect(sts.Annotations).NotTo(HaveKey(resources.AnnotationRollingTo))
		labelPods(cluster, "rev-1")
		markStatefulSetSeen(&sts, "rev-1")

		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, key("main"), cluster)).To(Succeed())
			cluster.Spec.Version = "3.6.15"
			g.Expect(k8sClient.Update(ctx, cluster)).To(Succeed())
		}, timeout).Should(Succeed())

		By("writing the new image into the template and marking the rollout, restarting nothing yet")
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, key("main"), &sts)).To(Succeed())
			g.Expect(sts.Spec.Template.Spec.Containers[0].Image).To(Equal("gcr.io/etcd-development/etcd:v3.6.15"))
			g.Expect(sts.Annotations).To(HaveKey(resources.AnnotationRollingTo))
		}, timeout).Should(Succeed())
		Consistently(podNames(cluster), 2*time.Second).Should(HaveLen(3), "a pod was restarted before the StatefulSet controller saw the template")

		By("restarting the highest follower once the StatefulSet controller has the new revision")
		markStatefulSetSeen(&sts, "rev-2")
		Eventually(podNames(cluster), timeout).Should(ConsistOf("main-0", "main-1"))
		Consistently(podNames(cluster), 2*time.Second).Should(ConsistOf("main-0", "main-1"), "restarted a second member before the first came back")
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, key("main"), cluster)).To(Succeed())
			g.Expect(cluster.Status.Phase).To(Equal(etcdv1alpha1.PhaseUpgrading))
			g.Expect(meta.IsStatusConditionTrue(cluster.Status.Conditions, etcdv1alpha1.ConditionUpgrading)).To(BeTrue())
		}, timeout).Should(Succeed())
	})

	It("scales out one learner at a time: member add, then its pod, then promote", func() {
		startInitialMembers(cluster)
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, key("main"), cluster)).To(Succeed())
			g.Expect(cluster.Status.Phase).To(Equal(etcdv1alpha1.PhaseRunning))
		}, timeout).Should(Succeed())

		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, key("main"), cluster)).To(Succeed())
			cluster.Spec.Size = 4
			g.Expect(k8sClient.Update(ctx, cluster)).To(Succeed())
		}, timeout).Should(Succeed())

		By("adding main-3 to etcd as a learner and only then starting its pod")
		peerURL := resources.PeerURL(cluster, "main-3")
		Eventually(fakeCalls(cluster), timeout).Should(ContainElement("add " + peerURL))
		var sts appsv1.StatefulSet
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, key("main"), &sts)).To(Succeed())
			g.Expect(*sts.Spec.Replicas).To(BeEquivalentTo(4))
		}, timeout).Should(Succeed())
		var cm corev1.ConfigMap
		Expect(k8sClient.Get(ctx, key("main-config"), &cm)).To(Succeed())
		Expect(cm.Data).To(HaveKeyWithValue("ETCD_INITIAL_CLUSTER_STATE", "existing"))
		Expect(cm.Data["ETCD_INITIAL_CLUSTER"]).To(ContainSubstring("main-3=" + peerURL))
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, key("main"), cluster)).To(Succeed())
			g.Expect(cluster.Status.Phase).To(Equal(etcdv1alpha1.PhaseScaling))
		}, timeout).Should(Succeed())
		Consistently(fakeCalls(cluster), 2*time.Second).ShouldNot(ContainElement(HavePrefix("promote")), "promoted a learner that never started")

		By("promoting main-3 once its pod answers")
		startMember(cluster, 3, true)
		Eventually(fakeCalls(cluster), timeout).Should(ContainElement(HavePrefix("promote")))
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, key("main"), cluster)).To(Succeed())
			g.Expect(cluster.Status.Phase).To(Equal(etcdv1alpha1.PhaseRunning))
			g.Expect(cluster.Status.ReadyMembers).To(BeEquivalentTo(4))
		}, timeout).Should(Succeed())
		Expect(fakeCalls(cluster)()).To(HaveLen(2), "one add and one promote, nothing else")
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, key("main-config"), &cm)).To(Succeed())
			g.Expect(resources.IsSealed(&cm)).To(BeTrue(), "bootstrap settings not sealed after the promotion: %v", cm.Data)
		}, timeout).Should(Succeed())
	})
})

// startInitialMembers empties the fake etcd and stands in for the three
// bootstrapped members: their pods with IPs, answering as etcd members.
func startInitialMembers(c *etcdv1alpha1.EtcdCluster) {
	GinkgoHelper()
	fake := fakeEtcdOf(c)
	fake.Lock()
	fake.Members, fake.Statuses, fake.Calls = nil, map[string]*etcd.MemberStatus{}, nil
	fake.Unlock()
	for i := range 3 {
		startMember(c, i, false)
	}
}

// labelPods puts the cluster's pods on a StatefulSet revision, and on the
// StatefulSet's current template (its hash annotation), as the StatefulSet
// controller would have created them.
func labelPods(c *etcdv1alpha1.EtcdCluster, revision string) {
	GinkgoHelper()
	var sts appsv1.StatefulSet
	Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(c), &sts)).To(Succeed())
	var pods corev1.PodList
	Expect(k8sClient.List(ctx, &pods, client.InNamespace(c.Namespace), client.MatchingLabels(resources.SelectorLabels(c)))).To(Succeed())
	for i := range pods.Items {
		p := &pods.Items[i]
		before := p.DeepCopy()
		if p.Annotations == nil {
			p.Annotations = map[string]string{}
		}
		p.Annotations[resources.AnnotationTemplateHash] = sts.Annotations[resources.AnnotationTemplateHash]
		p.Labels[appsv1.ControllerRevisionHashLabelKey] = revision
		Expect(k8sClient.Patch(ctx, p, client.MergeFrom(before))).To(Succeed())
	}
}

// markStatefulSetSeen stands in for the StatefulSet controller: it has
// seen the current template, whose revision is revision.
func markStatefulSetSeen(sts *appsv1.StatefulSet, revision string) {
	GinkgoHelper()
	// The operator writes the StatefulSet meanwhile: a conflict means read
	// again and retry, as the StatefulSet controller does.
	Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(sts), sts); err != nil {
			return err
		}
		sts.Status.ObservedGeneration = sts.Generation
		sts.Status.UpdateRevision = revision
		sts.Status.CurrentRevision = revision
		sts.Status.Replicas = *sts.Spec.Replicas
		return k8sClient.Status().Update(ctx, sts)
	})).To(Succeed())
}

func podNames(c *etcdv1alpha1.EtcdCluster) func() []string {
	return func() []string {
		var pods corev1.PodList
		Expect(k8sClient.List(ctx, &pods, client.InNamespace(c.Namespace), client.MatchingLabels(resources.SelectorLabels(c)))).To(Succeed())
		var names []string
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil {
				names = append(names, p.Name)
			}
		}
		return names
	}
}

// createClaim stands in for the StatefulSet controller: a member's claim
// carrying the cluster's labels.
func createClaim(c *etcdv1alpha1.EtcdCluster, name string) *corev1.PersistentVolumeClaim {
	GinkgoHelper()
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: c.Namespace, Labels: resources.SelectorLabels(c)},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
	Expect(k8sClient.Create(ctx, pvc)).To(Succeed())
	return pvc
}

// fakeCalls returns the membership calls c's fake etcd has answered so far.
func fakeCalls(c *etcdv1alpha1.EtcdCluster) func() []string {
	return func() []string {
		fake := fakeEtcdOf(c)
		fake.Lock()
		defer fake.Unlock()
		return append([]string(nil), fake.Calls...)
	}
}

// startMember stands in for the kubelet and etcd: a member pod with an IP,
// answering its status call as member main-<ordinal>. A learner the
// operator added is answered for under the ID the fake gave it.
func startMember(c *etcdv1alpha1.EtcdCluster, ordinal int, added bool) {
	GinkgoHelper()
	name := resources.MemberName(c, ordinal)
	ip := fmt.Sprintf("10.0.%d.%d", len(c.Namespace)%200, ordinal+1)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: c.Namespace, Labels: resources.SelectorLabels(c)},
		// With the quota the current template gives, as a pod the
		// StatefulSet made from it would run.
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "etcd", Image: "etcd", Env: []corev1.EnvVar{
			{Name: "ETCD_QUOTA_BACKEND_BYTES", Value: fmt.Sprint(resources.QuotaBackendBytes(c))}}}}},
	}
	Expect(k8sClient.Create(ctx, pod)).To(Succeed())
	pod.Status.PodIP = ip
	// Ready, as the kubelet reports a member whose /readyz answers.
	pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	Expect(k8sClient.Status().Update(ctx, pod)).To(Succeed())

	fake := fakeEtcdOf(c)
	fake.Lock()
	defer fake.Unlock()
	id := uint64(100 + ordinal)
	if added {
		for i, m := range fake.Members {
			if slices.Contains(m.PeerURLs, resources.PeerURL(c, name)) {
				fake.Members[i].Name = name
				id = m.ID
			}
		}
	} else {
		fake.Members = append(fake.Members, etcd.Member{ID: id, Name: name, PeerURLs: []string{resources.PeerURL(c, name)}})
	}
	fake.Statuses["http://"+ip+":2379"] = &etcd.MemberStatus{MemberID: id, ClusterID: 0xfeed, Leader: 101, Version: "3.6.16"}
}
