package resources

import (
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
	"github.com/quorum-operator/quorum/internal/memberguard"
)

// Initial cluster states, as etcd's --initial-cluster-state takes them.
const (
	InitialClusterStateNew      = "new"
	InitialClusterStateExisting = "existing"
)

// KeyMayStartEmpty names the members that may start with an empty data
// directory (comma-separated): the initial members while the cluster is
// created, or the one member being added. The member guard (an init
// container, see memberguard) stops every other member whose data
// directory is empty: etcd itself would let a member that lost its data
// rejoin under its old ID whenever the initial cluster names it.
const KeyMayStartEmpty = memberguard.EnvMayStartEmpty

// BootstrapConfigMap holds the settings a member reads only when its data
// directory is empty: who the cluster's members are and whether the cluster
// is new. Members with data ignore them, so the operator may change them
// before it adds a member. The keys are etcd's environment variables and
// reach the container through envFrom. For a new cluster every initial
// member may start empty.
func BootstrapConfigMap(c *etcdv1alpha1.EtcdCluster, members []string, state string) *corev1.ConfigMap {
	var mayStartEmpty []string
	if state == InitialClusterStateNew {
		mayStartEmpty = members
	}
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: ConfigMapName(c), Namespace: c.Namespace, Labels: Labels(c)},
		Data: map[string]string{
			"ETCD_INITIAL_CLUSTER":       InitialCluster(c, members),
			"ETCD_INITIAL_CLUSTER_STATE": state,
			"ETCD_INITIAL_CLUSTER_TOKEN": ClusterToken(c),
			KeyMayStartEmpty:             strings.Join(mayStartEmpty, ","),
		},
	}
}

// JoinConfigMap is what the member joiner, about to be added as a learner,
// reads to join the members: only it may start with an empty data
// directory.
func JoinConfigMap(c *etcdv1alpha1.EtcdCluster, members []string, joiner string) *corev1.ConfigMap {
	cm := BootstrapConfigMap(c, members, InitialClusterStateExisting)
	cm.Data[KeyMayStartEmpty] = joiner
	return cm
}

// MayStartEmpty lists the members the bootstrap settings let start with an
// empty data directory. Settings written before the list existed name none
// once the cluster exists, and every initial member while it is new.
func MayStartEmpty(cm *corev1.ConfigMap) []string {
	if cm == nil || IsSealed(cm) {
		return nil
	}
	list, set := cm.Data[KeyMayStartEmpty]
	return memberguard.MayStartEmpty(list, set, cm.Data["ETCD_INITIAL_CLUSTER_STATE"], cm.Data["ETCD_INITIAL_CLUSTER"])
}

// WithMayStartEmpty is cm letting only the named members start empty: the
// initial members that have not started yet, while the others already
// hold data that must never be replaced by an empty directory.
func WithMayStartEmpty(cm *corev1.ConfigMap, names []string) *corev1.ConfigMap {
	out := cm.DeepCopy()
	out.Data[KeyMayStartEmpty] = strings.Join(names, ",")
	return out
}

// IsCreating says whether the bootstrap settings are still those of a new
// cluster whose initial members have not all started once.
func IsCreating(cm *corev1.ConfigMap) bool {
	return cm != nil && !IsSealed(cm) && cm.Data["ETCD_INITIAL_CLUSTER_STATE"] == InitialClusterStateNew
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
	cm.Data[KeyMayStartEmpty] = ""
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
