package resources

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
)

// The PodMonitor scrapes exactly the cluster's member pods, on the port
// the etcd container names "metrics".
func TestPodMonitorSelectsTheMembersMetricsPort(t *testing.T) {
	c := &etcdv1alpha1.EtcdCluster{ObjectMeta: metav1.ObjectMeta{Name: "main", Namespace: "db"}, Spec: etcdv1alpha1.EtcdClusterSpec{Size: 3, Version: "3.6.16"}}
	pm := PodMonitor(c)
	if pm.Name != "main" || pm.Namespace != "db" {
		t.Fatalf("PodMonitor %s/%s", pm.Namespace, pm.Name)
	}
	sel, err := metav1.LabelSelectorAsSelector(&pm.Spec.Selector)
	if err != nil {
		t.Fatal(err)
	}
	sts := StatefulSet(c, 3, nil, "quorum:test")
	if !sel.Matches(labels.Set(sts.Spec.Template.Labels)) {
		t.Errorf("selector %s does not select the member pods (%v)", sel, sts.Spec.Template.Labels)
	}
	other := &etcdv1alpha1.EtcdCluster{ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: "db"}}
	if sel.Matches(labels.Set(SelectorLabels(other))) {
		t.Errorf("selector %s also selects another cluster's pods", sel)
	}
	if len(pm.Spec.PodMetricsEndpoints) != 1 || pm.Spec.PodMetricsEndpoints[0].Port == nil {
		t.Fatalf("endpoints %+v", pm.Spec.PodMetricsEndpoints)
	}
	port := *pm.Spec.PodMetricsEndpoints[0].Port
	if got := containerPort(t, sts.Spec.Template.Spec.Containers, port); got != MetricsPort {
		t.Errorf("port %q is %d on the etcd container, want %d", port, got, MetricsPort)
	}
}

// The peer Service names the metrics port too, for scrapers that find
// targets through Services.
func TestPeerServiceNamesTheMetricsPort(t *testing.T) {
	c := &etcdv1alpha1.EtcdCluster{ObjectMeta: metav1.ObjectMeta{Name: "main", Namespace: "db"}}
	for _, p := range PeerService(c).Spec.Ports {
		if p.Name == "metrics" {
			if p.Port != MetricsPort || p.TargetPort.IntValue() != MetricsPort {
				t.Errorf("metrics port %+v", p)
			}
			return
		}
	}
	t.Error("the peer Service has no metrics port")
}

func containerPort(t *testing.T, containers []corev1.Container, name string) int32 {
	t.Helper()
	for _, c := range containers {
		for _, p := range c.Ports {
			if p.Name == name {
				return p.ContainerPort
			}
		}
	}
	t.Fatalf("no container port named %q", name)
	return 0
}
