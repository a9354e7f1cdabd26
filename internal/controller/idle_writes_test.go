package controller

import (
	"fmt"
	"strings"
	"testing"
	"time"

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

// A pass over a cluster that is as its spec says, with etcd answering the
// same as before, has nothing to write: every write would be a request
// for nothing (and a watch event and an audit entry where it changes the
// stored object).
var _ = Describe("An idle pass", func() {
	var cluster *etcdv1alpha1.EtcdCluster

	create := func(tls *etcdv1alpha1.TLSSpec) {
		cluster = createTestCluster(newTestNamespace("idle-"), "main", etcdv1alpha1.EtcdClusterSpec{Size: 3, Version: "3.6.16", TLS: tls})
	}

	It("writes nothing to a steady cluster", func() {
		create(nil)
		bringToSteadyState(cluster)
		expectIdlePasses(cluster)
	})

	It("writes nothing to a steady cluster with operator-issued TLS, and reads no Secret", func() {
		create(&etcdv1alpha1.TLSSpec{})
		bringToSteadyState(cluster)
		reads := secretReads.gets.Load()
		expectIdlePasses(cluster)
		Expect(secretReads.gets.Load()-reads).To(BeZero(), "Secrets read from the API server in idle passes")
	})

	It("does not write status when only the members' revisions and database sizes moved", func() {
		create(nil)
		bringToSteadyState(cluster)
		// Writes to etcd move every member's revision and database size.
		fake := fakeEtcdOf(cluster)
		fake.Lock()
		for _, s := range fake.Statuses {
			s.Revision += 1000
			s.DBSize += 1 << 20
		}
		fake.Unlock()
		expectIdlePasses(cluster)
	})
})

// bringToSteadyState stands in for the kubelet, etcd and the StatefulSet
// controller until the cluster is settled: every member healthy, the
// bootstrap settings sealed, every pod on the current template, and the
// operator saying the cluster matches its spec.
func bringToSteadyState(c *etcdv1alpha1.EtcdCluster) {
	GinkgoHelper()
	key := client.ObjectKeyFromObject(c)
	var sts appsv1.StatefulSet
	Eventually(func() error { return k8sClient.Get(ctx, key, &sts) }, timeout).Should(Succeed())
	startInitialMembers(c)
	if c.Spec.TLS != nil {
		answerOverTLS(c)
	}
	labelPods(c, "rev-1")
	Eventually(func(g Gomega) {
		// The operator changes the StatefulSet's replicas while the
		// members come up one by one; the StatefulSet controller sees
		// each change.
		g.Expect(k8sClient.Get(ctx, key, &sts)).To(Succeed())
		if sts.Status.ObservedGeneration != sts.Generation {
			markStatefulSetSeen(&sts, "rev-1")
		}
		g.Expect(k8sClient.Get(ctx, key, c)).To(Succeed())
		g.Expect(c.Status.Phase).To(Equal(etcdv1alpha1.PhaseRunning))
		progressing := meta.FindStatusCondition(c.Status.Conditions, etcdv1alpha1.ConditionProgressing)
		g.Expect(progressing).NotTo(BeNil())
		g.Expect(progressing.Reason).To(Equal(etcdv1alpha1.ReasonReconciled), progressing.Message)
		var cm corev1.ConfigMap
		g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: resources.ConfigMapName(c)}, &cm)).To(Succeed())
		g.Expect(resources.IsSealed(&cm)).To(BeTrue())
	}, timeout).Should(Succeed())
}

// answerOverTLS has the fake's members answer on https:// as well: the
// operator dials TLS members with that scheme.
func answerOverTLS(c *etcdv1alpha1.EtcdCluster) {
	fake := fakeEtcdOf(c)
	fake.Lock()
	defer fake.Unlock()
	for endpoint, s := range fake.Statuses {
		if rest, ok := strings.CutPrefix(endpoint, "http://"); ok {
			fake.Statuses["https://"+rest] = s
		}
	}
}

// expectIdlePasses has the operator look at the cluster twice more and
// expects no write at all: not to the cluster's status, nor to any object
// in its namespace.
func expectIdlePasses(c *etcdv1alpha1.EtcdCluster) {
	GinkgoHelper()
	mark := apiCalls.mark()
	for i := range 2 {
		triggerPass(c, fmt.Sprintf("idle-%d", i))
	}
	// The first pass has ended when the second starts (passes over one
	// object never overlap); the second gets time to end as well.
	writes := func() []string { return apiCalls.writesSince(mark, c.Namespace) }
	Consistently(writes, 3*time.Second).Should(BeEmpty(), "writes in an idle pass")
}

// triggerPass changes an annotation of the cluster, which starts a pass
// (AnnotationChangedPredicate), and waits for that pass to read the
// cluster.
func triggerPass(c *etcdv1alpha1.EtcdCluster, value string) {
	GinkgoHelper()
	key := client.ObjectKeyFromObject(c)
	before := apiCalls.count("get", "EtcdCluster", key)
	patch := client.RawPatch(client.Merge.Type(), fmt.Appendf(nil, `{"metadata":{"annotations":{"test.quorum.dev/poke":%q}}}`, value))
	Expect(k8sClient.Patch(ctx, &etcdv1alpha1.EtcdCluster{ObjectMeta: metav1.ObjectMeta{Namespace: c.Namespace, Name: c.Name}}, patch)).To(Succeed())
	Eventually(func() int { return apiCalls.count("get", "EtcdCluster", key) }, timeout).Should(BeNumerically(">", before))
}

// storedService is a Service as the API server stores what the operator
// created: defaults and allocations filled in.
func storedService(desired *corev1.Service) *corev1.Service {
	svc := desired.DeepCopy()
	svc.ResourceVersion, svc.UID = "7", "uid"
	svc.Spec.ClusterIP, svc.Spec.ClusterIPs = "10.96.0.10", []string{"10.96.0.10"}
	svc.Spec.Type, svc.Spec.SessionAffinity = corev1.ServiceTypeClusterIP, corev1.ServiceAffinityNone
	svc.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
	svc.Spec.IPFamilyPolicy = ptr.To(corev1.IPFamilyPolicySingleStack)
	svc.Spec.InternalTrafficPolicy = ptr.To(corev1.ServiceInternalTrafficPolicyCluster)
	for i := range svc.Spec.Ports {
		svc.Spec.Ports[i].Protocol = corev1.ProtocolTCP
	}
	return svc
}

func TestOwnedFieldsEqualIgnoresWhatTheAPIServerFills(t *testing.T) {
	c := &etcdv1alpha1.EtcdCluster{ObjectMeta: metav1.ObjectMeta{Name: "m", Namespace: "db"}}
	desired := resources.ClientService(c)
	stored := storedService(desired)
	// As ensureServices' mutate leaves it: the builder's ports, without
	// the protocol the API server defaulted.
	same := stored.DeepCopy()
	same.Labels, same.Spec.Selector, same.Spec.Ports = desired.Labels, desired.Spec.Selector, desired.Spec.Ports
	if !ownedFieldsEqual(same, stored) {
		t.Errorf("a Service as built differs from the one stored with defaults")
	}

	for name, change := range map[string]func(*corev1.Service){
		"another port":             func(s *corev1.Service) { s.Spec.Ports[0].Port = 2400 },
		"another protocol":         func(s *corev1.Service) { s.Spec.Ports[0].Protocol = corev1.ProtocolUDP },
		"publishNotReadyAddresses": func(s *corev1.Service) { s.Spec.PublishNotReadyAddresses = true },
		"a label dropped":          func(s *corev1.Service) { s.Labels = map[string]string{"only": "this"} },
		"a selector key dropped":   func(s *corev1.Service) { delete(s.Spec.Selector, resources.LabelCluster) },
	} {
		mutated := same.DeepCopy()
		change(mutated)
		if ownedFieldsEqual(mutated, stored) {
			t.Errorf("%s: not seen as a change", name)
		}
	}
}

func TestOwnedFieldsEqualComparesMapsWhole(t *testing.T) {
	stored := &corev1.ConfigMap{Data: map[string]string{"a": "1", "b": "2"}}
	mutated := stored.DeepCopy()
	delete(mutated.Data, "b")
	if ownedFieldsEqual(mutated, stored) {
		t.Errorf("a dropped ConfigMap key is not seen as a change")
	}
	if !ownedFieldsEqual(stored.DeepCopy(), stored) {
		t.Errorf("an unchanged ConfigMap is seen as a change")
	}
}
