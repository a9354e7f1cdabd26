package controller

import (
	"errors"
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
)

// What Flux, 'kubectl wait' and the other kstatus users conclude from an
// EtcdCluster as the API server serves it, while the reconcilers run
// against it (kstatus_compute_test.go covers each phase's status alone).
var _ = Describe("kstatus of an EtcdCluster on the API server", func() {
	It("is InProgress from its creation on, Current once Running, and InProgress after a spec change until it is acted on", func() {
		By("creating: the object the API server returns, before the operator wrote any status, is InProgress")
		created := &unstructured.Unstructured{}
		Expect(yaml.Unmarshal([]byte(`
apiVersion: etcd.quorum.dev/v1alpha1
kind: EtcdCluster
metadata: {name: main}
spec: {size: 3, version: "3.6.16"}`), &created.Object)).To(Succeed())
		created.SetNamespace(newTestNamespace("kstatus-"))
		Expect(k8sClient.Create(ctx, created)).To(Succeed())
		res, err := status.Compute(created)
		Expect(err).NotTo(HaveOccurred())
		Expect(res.Status).To(Equal(status.InProgressStatus), "a new cluster read as done before the operator saw it: %s", res.Message)
		cluster := &etcdv1alpha1.EtcdCluster{}
		key := client.ObjectKeyFromObject(created)
		Expect(k8sClient.Get(ctx, key, cluster)).To(Succeed())
		DeferCleanup(func() { Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, cluster))).To(Succeed()) })

		By("creating: the operator has written status, no member runs yet")
		Eventually(func(g Gomega) {
			u := served(g, key)
			phase, _, _ := unstructured.NestedString(u.Object, "status", "phase")
			g.Expect(phase).To(Equal(string(etcdv1alpha1.PhaseCreating)))
			g.Expect(compute(g, u)).To(Equal(status.InProgressStatus))
		}, timeout).Should(Succeed())

		By("running")
		bringToSteadyState(cluster)
		Eventually(func(g Gomega) {
			u := served(g, key)
			g.Expect(servedObservedGeneration(u)).To(Equal(u.GetGeneration()))
			g.Expect(compute(g, u)).To(Equal(status.CurrentStatus))
		}, timeout).Should(Succeed())

		By("changing the spec: the object the API server returns for the change, which every watcher sees, is InProgress")
		changed := &unstructured.Unstructured{}
		changed.SetGroupVersionKind(etcdv1alpha1.GroupVersion.WithKind("EtcdCluster"))
		changed.SetNamespace(key.Namespace)
		changed.SetName(key.Name)
		Expect(k8sClient.Patch(ctx, changed, client.RawPatch(client.Merge.Type(), []byte(`{"spec":{"deletionPolicy":"Delete"}}`)))).To(Succeed())
		Expect(changed.GetGeneration()).To(BeNumerically(">", servedObservedGeneration(changed)))
		res, err = status.Compute(changed)
		Expect(err).NotTo(HaveOccurred())
		Expect(res.Status).To(Equal(status.InProgressStatus), res.Message)

		By("once the operator acted on it: Current again, at the new generation")
		Eventually(func(g Gomega) {
			u := served(g, key)
			g.Expect(servedObservedGeneration(u)).To(Equal(changed.GetGeneration()))
			g.Expect(compute(g, u)).To(Equal(status.CurrentStatus))
		}, timeout).Should(Succeed())

		By("losing quorum (no member answers): Failed, as it waits for a person")
		fake := fakeEtcdOf(cluster)
		fake.Lock()
		fake.Err = errors.New("connection refused")
		fake.Unlock()
		triggerPass(cluster, "quorum-lost")
		Eventually(func(g Gomega) {
			u := served(g, key)
			phase, _, _ := unstructured.NestedString(u.Object, "status", "phase")
			g.Expect(phase).To(Equal(string(etcdv1alpha1.PhaseQuorumLost)))
			g.Expect(compute(g, u)).To(Equal(status.FailedStatus))
		}, timeout).Should(Succeed())

		By("members answering again: Current")
		fake.Lock()
		fake.Err = nil
		fake.Unlock()
		triggerPass(cluster, "answering")
		Eventually(func(g Gomega) {
			g.Expect(compute(g, served(g, key))).To(Equal(status.CurrentStatus))
		}, timeout).Should(Succeed())
	})

	// A pass that fails is retried with backoff, so the cluster stays in
	// progress, with the error as the reason; Failed is kept for what waits
	// for a person (QuorumLost above, RolloutHalted, RestoreFailed).
	It("is InProgress, saying why, while every pass fails", func() {
		ns := newTestNamespace("kstatus-failing-")
		// As in "A pass that fails": the peer Service's name is taken by
		// a Service another controller owns.
		owner := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "someone-else", Namespace: ns}}
		Expect(k8sClient.Create(ctx, owner)).To(Succeed())
		Expect(k8sClient.Create(ctx, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "main-peer", Namespace: ns, OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "v1", Kind: "ConfigMap", Name: owner.Name, UID: owner.UID, Controller: ptr.To(true)}}},
			Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Ports: []corev1.ServicePort{{Name: "peer", Port: 2380}}},
		})).To(Succeed())
		cluster := createTestCluster(ns, "main", etcdv1alpha1.EtcdClusterSpec{Size: 3, Version: "3.6.16"})
		key := client.ObjectKeyFromObject(cluster)
		Eventually(func(g Gomega) {
			u := served(g, key)
			res, err := status.Compute(u)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(res.Status).To(Equal(status.InProgressStatus), "%s: %v", res.Message, u.Object["status"])
			// kstatus's summary names the generation not yet acted on; the
			// Reconciling condition says why.
			reconciling := conditionMessage(u, "Reconciling")
			g.Expect(reconciling).To(ContainSubstring("main-peer"))
		}, timeout).Should(Succeed())
	})
})

// served is the cluster as the API server serves it, untyped as kstatus
// users read it.
func served(g Gomega, key client.ObjectKey) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(etcdv1alpha1.GroupVersion.WithKind("EtcdCluster"))
	g.Expect(k8sClient.Get(ctx, key, u)).To(Succeed())
	return u
}

func compute(g Gomega, u *unstructured.Unstructured) status.Status {
	res, err := status.Compute(u)
	g.Expect(err).NotTo(HaveOccurred())
	return res.Status
}

func servedObservedGeneration(u *unstructured.Unstructured) int64 {
	n, _, _ := unstructured.NestedInt64(u.Object, "status", "observedGeneration")
	return n
}

// GitOps tools apply the same manifest again and again: an unchanged one
// must change nothing, and must not set the operator writing.
var _ = Describe("Applying an unchanged EtcdCluster again", func() {
	It("changes no resourceVersion and sets off no write, once the cluster is steady", func() {
		data, err := os.ReadFile(filepath.Join("..", "..", "config", "samples", "etcd_v1alpha1_etcdcluster.yaml"))
		Expect(err).NotTo(HaveOccurred())
		ns := newTestNamespace("apply-")
		apply := func() string {
			GinkgoHelper()
			u := &unstructured.Unstructured{}
			Expect(yaml.Unmarshal(data, &u.Object)).To(Succeed())
			u.SetNamespace(ns)
			Expect(k8sClient.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner("gitops"), client.ForceOwnership)).To(Succeed())
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(u), u)).To(Succeed())
			return u.GetResourceVersion()
		}
		first := apply()
		cluster := &etcdv1alpha1.EtcdCluster{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "example"}, cluster)).To(Succeed())
		DeferCleanup(func() { Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, cluster))).To(Succeed()) })
		bringToSteadyState(cluster)

		steady := served(Default, client.ObjectKeyFromObject(cluster)).GetResourceVersion()
		Expect(steady).NotTo(Equal(first), "the operator wrote status and its finalizer in between")
		mark := apiCalls.mark()
		Expect(apply()).To(Equal(steady), "an unchanged apply changed the stored object")
		Consistently(func() []string { return apiCalls.writesSince(mark, ns) }, 3*time.Second).Should(BeEmpty(), "writes after an unchanged apply")
		Expect(served(Default, client.ObjectKeyFromObject(cluster)).GetResourceVersion()).To(Equal(steady))
		expectIdlePasses(cluster)
	})
})

// conditionMessage is the message of the condition of that type in the
// served object's status, or "".
func conditionMessage(u *unstructured.Unstructured, condType string) string {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok && m["type"] == condType {
			msg, _ := m["message"].(string)
			return msg
		}
	}
	return ""
}
