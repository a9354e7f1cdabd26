package resources

import (
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
)

// Initial cluster states, as etcd's --initial-cluster-state takes them.
const (
	InitialClusterStateNew      = "new"
	InitialClusterStateExisting = "existing"
)

// BootstrapConfigMap holds the settings a member reads only when its data
// directory is empty: who the cluster's members are and whether the cluster
// is new. Members with data ignore them, so the operator may change them
// before it adds a member. The keys are etcd's environment variables and
// reach the container through envFrom.
func BootstrapConfigMap(c *etcdv1alpha1.EtcdCluster, members []string, state string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: ConfigMapName(c), Namespace: c.Namespace, Labels: Labels(c)},
		Data: map[string]string{
			"ETCD_INITIAL_CLUSTER":       InitialCluster(c, members),
			"ETCD_INITIAL_CLUSTER_STATE": state,
			"ETCD_INITIAL_CLUSTER_TOKEN": ClusterToken(c),
		},
	}
}

// SealedInitialCluster replaces the member list once every member has data.
// It names no member, so a member that starts with an empty data directory
// (its claim deleted, or an emptyDir pod deleted) stops at once with
// "couldn't find local name" instead of rejoining under its old member ID:
// raft does not allow that, the member would have forgotten its votes.
// Members with data never read these settings.
const SealedInitialCluster = "sealed=http://sealed.invalid:2380"

// AnnotationSealedAt records when the bootstrap settings were last sealed:
// a member's data volume created after that cannot hold its data.
const AnnotationSealedAt = "etcd.quorum.dev/sealed-at"

// SealedBootstrapConfigMap is the bootstrap ConfigMap once every member has
// data, sealed at the given time.
func SealedBootstrapConfigMap(c *etcdv1alpha1.EtcdCluster, at time.Time) *corev1.ConfigMap {
	cm := BootstrapConfigMap(c, nil, InitialClusterStateExisting)
	cm.Data["ETCD_INITIAL_CLUSTER"] = SealedInitialCluster
	cm.Annotations = map[string]string{AnnotationSealedAt: at.UTC().Format(time.RFC3339)}
	return cm
}

// SealedAt is when a sealed bootstrap ConfigMap was sealed.
func SealedAt(cm *corev1.ConfigMap) (time.Time, bool) {
	if !IsSealed(cm) {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339, cm.Annotations[AnnotationSealedAt])
	return t, err == nil
}

// IsSealed says whether a bootstrap ConfigMap lets no member with empty
// data start.
func IsSealed(cm *corev1.ConfigMap) bool {
	return cm != nil && cm.Data["ETCD_INITIAL_CLUSTER"] == SealedInitialCluster
}

// InitialCluster is etcd's --initial-cluster: name=peerURL for each member.
func InitialCluster(c *etcdv1alpha1.EtcdCluster, members []string) string {
	parts := make([]string, 0, len(members))
	for _, m := range members {
		parts = append(parts, m+"="+PeerURL(c, m))
	}
	return strings.Join(parts, ",")
}

// InitialMembers are the member names of a cluster bootstrapped at size n.
func InitialMembers(c *etcdv1alpha1.EtcdCluster, n int) []string {
	members := make([]string, n)
	for i := range members {
		members[i] = MemberName(c, i)
	}
	return members
}
