package resources

import (
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
)

// PeerService is headless and publishes members before they are ready:
// members must find each other by DNS to become ready at all. It also
// names each member's metrics port.
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
				// etcd's own metrics (plain HTTP, also under TLS), for
				// scrapers that find targets through Services.
				{Name: "metrics", Port: MetricsPort, TargetPort: intstr.FromInt32(MetricsPort)},
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
// only while a quorum of the voters stays up; minAvailable comes from
// MinAvailable.
func PodDisruptionBudget(c *etcdv1alpha1.EtcdCluster, minAvailable int32) *policyv1.PodDisruptionBudget {
	value := intstr.FromInt32(minAvailable)
	return &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: PodDisruptionBudgetName(c), Namespace: c.Namespace, Labels: Labels(c)},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MinAvailable: &value,
			Selector:     &metav1.LabelSelector{MatchLabels: SelectorLabels(c)},
		},
	}
}

// MinAvailable is the disruption budget's minAvailable for a cluster
// whose etcd has that many voters, with nonVoters more member pods that
// cast no vote (learners, and removed members whose pods still run). The
// budget counts ready pods, not votes: it allows an eviction while more
// than minAvailable member pods are ready, whichever they are. A drain
// may pick voters only, so every pod without a vote is added on top of
// the voters' quorum.
//
// Neither spec.size nor the membership planned next is used. Scaling in,
// etcd still has every voter until it removes one, and a budget at the
// smaller size's quorum would let a drain take more voters than the
// cluster can lose. Scaling out, the new member is a learner until it is
// promoted, and the quorum of the larger size can be too few: from 2 to 3
// members it is 2, yet 2 voters need both of theirs.
func MinAvailable(voters, nonVoters int) int32 {
	return int32(Quorum(voters) + nonVoters)
}
