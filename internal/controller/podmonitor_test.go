package controller

import (
	"os"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
	"github.com/quorum-operator/quorum/internal/resources"
)

// The PodMonitor kind is installed partway through: first the operator
// runs where the Prometheus Operator is absent, then where it is present.
var _ = Describe("spec.monitoring.podMonitor", Ordered, func() {
	var ns string
	var cluster *etcdv1alpha1.EtcdCluster

	BeforeAll(func() {
		ns = newTestNamespace("podmonitor-")
		cluster = createTestCluster(ns, "mon", etcdv1alpha1.EtcdClusterSpec{
			Size: 3, Version: "3.6.16", Monitoring: &etcdv1alpha1.MonitoringSpec{PodMonitor: true},
		})
		// The kind goes when these specs end, as it came.
		DeferCleanup(func() {
			crd := &unstructured.Unstructured{}
			crd.SetAPIVersion("apiextensions.k8s.io/v1")
			crd.SetKind("CustomResourceDefinition")
			crd.SetName("podmonitors.monitoring.coreos.com")
			Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, crd))).To(Succeed())
		})
	})

	podMonitorKey := func() client.ObjectKey { return client.ObjectKey{Namespace: ns, Name: "mon"} }

	It("without the PodMonitor kind, says so in an event and runs the cluster all the same", func() {
		Eventually(func(g Gomega) {
			var list eventsv1.EventList
			g.Expect(k8sClient.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
			g.Expect(list.Items).To(ContainElement(And(
				HaveField("Reason", "PodMonitorUnavailable"),
				HaveField("Type", "Warning"),
				HaveField("Regarding.Name", "mon"),
				HaveField("Note", ContainSubstring("monitoring.coreos.com/v1")),
			)))
		}, timeout).Should(Succeed())
		var sts appsv1.StatefulSet
		Eventually(func() error { return k8sClient.Get(ctx, podMonitorKey(), &sts) }, timeout).Should(Succeed())
	})

	It("creates the PodMonitor, owned by the cluster, once the kind is installed", func() {
		installPodMonitorCRD()
		var pm monitoringv1.PodMonitor
		Eventually(func() error { return k8sClient.Get(ctx, podMonitorKey(), &pm) }, timeout).Should(Succeed())
		Expect(metav1.IsControlledBy(&pm, cluster)).To(BeTrue())
		Expect(pm.Spec.Selector.MatchLabels).To(Equal(resources.SelectorLabels(cluster)))
		Expect(pm.Spec.PodMetricsEndpoints).To(HaveLen(1))
		Expect(*pm.Spec.PodMetricsEndpoints[0].Port).To(Equal("metrics"))
	})

	It("puts back a PodMonitor deleted by hand", func() {
		var pm monitoringv1.PodMonitor
		Expect(k8sClient.Get(ctx, podMonitorKey(), &pm)).To(Succeed())
		Expect(k8sClient.Delete(ctx, &pm)).To(Succeed())
		Eventually(func(g Gomega) {
			var again monitoringv1.PodMonitor
			g.Expect(k8sClient.Get(ctx, podMonitorKey(), &again)).To(Succeed())
			g.Expect(again.UID).NotTo(Equal(pm.UID))
		}, timeout).Should(Succeed())
	})

	It("deletes the PodMonitor when turned off, and leaves a user's PodMonitor of that name alone", func() {
		setPodMonitor(cluster, false)
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, podMonitorKey(), &monitoringv1.PodMonitor{}))
		}, timeout).Should(BeTrue())

		// The user's own PodMonitor, not owned by the cluster.
		port := "metrics"
		mine := &monitoringv1.PodMonitor{
			ObjectMeta: metav1.ObjectMeta{Name: "mon", Namespace: ns},
			Spec: monitoringv1.PodMonitorSpec{
				Selector:            metav1.LabelSelector{MatchLabels: map[string]string{"app": "mine"}},
				PodMetricsEndpoints: []monitoringv1.PodMetricsEndpoint{{Port: &port}},
			},
		}
		Expect(k8sClient.Create(ctx, mine)).To(Succeed())
		setPodMonitor(cluster, true)
		Eventually(func(g Gomega) {
			var list eventsv1.EventList
			g.Expect(k8sClient.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
			g.Expect(list.Items).To(ContainElement(HaveField("Reason", "PodMonitorNotOwned")))
		}, timeout).Should(Succeed())
		setPodMonitor(cluster, false)
		Consistently(func(g Gomega) {
			var pm monitoringv1.PodMonitor
			g.Expect(k8sClient.Get(ctx, podMonitorKey(), &pm)).To(Succeed())
			g.Expect(pm.Spec.Selector.MatchLabels).To(Equal(map[string]string{"app": "mine"}))
		}, "3s").Should(Succeed())
	})
})

// setPodMonitor turns spec.monitoring.podMonitor on or off.
func setPodMonitor(c *etcdv1alpha1.EtcdCluster, on bool) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(c), c)).To(Succeed())
		c.Spec.Monitoring = &etcdv1alpha1.MonitoringSpec{PodMonitor: on}
		g.Expect(k8sClient.Update(ctx, c)).To(Succeed())
	}, timeout).Should(Succeed())
}

// installPodMonitorCRD installs testdata/podmonitor-crd.yaml and waits
// until the API server serves the kind.
func installPodMonitorCRD() {
	GinkgoHelper()
	data, err := os.ReadFile("testdata/podmonitor-crd.yaml")
	Expect(err).NotTo(HaveOccurred())
	crd := &unstructured.Unstructured{}
	Expect(yaml.Unmarshal(data, &crd.Object)).To(Succeed())
	Expect(k8sClient.Create(ctx, crd)).To(Succeed())
	Eventually(func() error {
		return k8sClient.List(ctx, &monitoringv1.PodMonitorList{}, client.InNamespace("default"))
	}, timeout).Should(Succeed())
}
