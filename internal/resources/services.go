package resources

import (
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
)

// PeerService is headless and publishes members before they are ready:
// members must find each other by DNS to become ready at all.
func PeerService(c *etcdv1alpha1.EtcdCluster) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: PeerServiceName(c), Namespace: c.Namespace, Labels: Labels(c)},
		Spec: corev1.ServiceSpec{
			ClusterIP:                corev1.ClusterIPNone,
			PublishNotReadyAddresses: true,
			Selector:                 SelectorLabels(c),
			Ports: []corev1.ServicePort{
				{Name: "peer", Port: PeerPort, TargetPort: intstr.FromInt32(PeerPort)},
				{Name: "client", Port: ClientPort, TargetPort: intstr.FromInt32(ClientPort)},
			},
		},
	}
}

// ClientService balances clients over ready members.
func ClientService(c *etcdv1alpha1.EtcdCluster) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: ClientServiceName(c), Namespace: c.Namespace, Labels: Labels(c)},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: SelectorLabels(c),
			Ports: []corev1.ServicePort{
				{Name: "client", Port: ClientPort, TargetPort: intstr.FromInt32(ClientPort)},
			},
		},
	}
}

// PodDisruptionBudget lets a voluntary eviction (a node drain) take a member
// only while a quorum of the others stays up.
func PodDisruptionBudget(c *etcdv1alpha1.EtcdCluster) *policyv1.PodDisruptionBudget {
	minAvailable := intstr.FromInt32(int32(Quorum(int(c.Spec.Size))))
	return &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: PodDisruptionBudgetName(c), Namespace: c.Namespace, Labels: Labels(c)},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MinAvailable: &minAvailable,
			Selector:     &metav1.LabelSelector{MatchLabels: SelectorLabels(c)},
		},
	}
}
