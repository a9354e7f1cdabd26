package resources

import (
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
)

// PodMonitorName is the PodMonitor of spec.monitoring.podMonitor.
func PodMonitorName(c *etcdv1alpha1.EtcdCluster) string { return c.Name }

// PodMonitor has the Prometheus Operator scrape every member pod on its
// metrics port, the plain-HTTP listener that serves /metrics also under
// TLS. Prometheus names the job <namespace>/<cluster>, so etcd's own
// series (and the etcd mixin's alerts, which group by job) tell clusters
// apart.
func PodMonitor(c *etcdv1alpha1.EtcdCluster) *monitoringv1.PodMonitor {
	port := "metrics"
	return &monitoringv1.PodMonitor{
		ObjectMeta: metav1.ObjectMeta{Name: PodMonitorName(c), Namespace: c.Namespace, Labels: Labels(c)},
		Spec: monitoringv1.PodMonitorSpec{
			Selector:            metav1.LabelSelector{MatchLabels: SelectorLabels(c)},
			PodMetricsEndpoints: []monitoringv1.PodMetricsEndpoint{{Port: &port, Path: "/metrics"}},
		},
	}
}
