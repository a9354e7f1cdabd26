package resources

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
)

// AnnotationMemberSpread on the StatefulSet records the member spread a
// cluster whose spec names none runs with, decided once when the
// StatefulSet is created: the spec's, or Required. A StatefulSet without
// it was created by an operator that spread nothing, so its cluster keeps
// None: upgrading the operator restarts no member and cannot leave one
// unschedulable on a cluster with fewer nodes than members.
const AnnotationMemberSpread = "etcd.quorum.dev/member-spread"

// Topology keys of the default spread.
const (
	hostnameKey = "kubernetes.io/hostname"
	zoneKey     = "topology.kubernetes.io/zone"
)

// CreationMemberSpread is the spread recorded on a new StatefulSet.
func CreationMemberSpread(c *etcdv1alpha1.EtcdCluster) etcdv1alpha1.MemberSpread {
	if t := c.Spec.PodTemplate; t != nil && t.MemberSpread != "" {
		return t.MemberSpread
	}
	return etcdv1alpha1.MemberSpreadRequired
}

// EffectiveMemberSpread is the spread members run with: the spec's, else
// the one recorded on the StatefulSet, else (a StatefulSet from before the
// field) None. Without a StatefulSet it is the one the cluster is created
// with.
func EffectiveMemberSpread(c *etcdv1alpha1.EtcdCluster, sts *appsv1.StatefulSet) etcdv1alpha1.MemberSpread {
	if t := c.Spec.PodTemplate; t != nil && t.MemberSpread != "" {
		return t.MemberSpread
	}
	if sts == nil {
		return CreationMemberSpread(c)
	}
	if s, ok := sts.Annotations[AnnotationMemberSpread]; ok {
		return etcdv1alpha1.MemberSpread(s)
	}
	return etcdv1alpha1.MemberSpreadNone
}

// WithMemberSpread is c with its spec naming spread, for building the pod
// template of a cluster whose spec leaves it to the recorded default.
func WithMemberSpread(c *etcdv1alpha1.EtcdCluster, spread etcdv1alpha1.MemberSpread) *etcdv1alpha1.EtcdCluster {
	out := c.DeepCopy()
	if out.Spec.PodTemplate == nil {
		out.Spec.PodTemplate = &etcdv1alpha1.PodTemplate{}
	}
	out.Spec.PodTemplate.MemberSpread = spread
	return out
}

// placeMembers sets the affinity and topology spread of member pods: the
// user's, with the spread of spec.podTemplate.memberSpread (Required when
// unset) where the user set none. Callers resolve an unset spread first
// (EffectiveMemberSpread), so a cluster from before the field keeps None.
func placeMembers(spec *corev1.PodSpec, c *etcdv1alpha1.EtcdCluster) {
	t := c.Spec.PodTemplate
	if t == nil {
		t = &etcdv1alpha1.PodTemplate{}
	}
	spec.Affinity = t.Affinity
	spec.TopologySpreadConstraints = t.TopologySpreadConstraints
	spread := t.MemberSpread
	if spread == "" {
		spread = etcdv1alpha1.MemberSpreadRequired
	}
	if spread == etcdv1alpha1.MemberSpreadNone {
		return
	}
	members := &metav1.LabelSelector{MatchLabels: SelectorLabels(c)}
	if t.Affinity == nil || t.Affinity.PodAntiAffinity == nil {
		affinity := &corev1.Affinity{}
		if t.Affinity != nil {
			affinity = t.Affinity.DeepCopy()
		}
		affinity.PodAntiAffinity = memberAntiAffinity(spread, members)
		spec.Affinity = affinity
	}
	if len(t.TopologySpreadConstraints) == 0 {
		// ScheduleAnyway: a cluster in one zone, or on nodes without zone
		// labels, still schedules.
		spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{
			MaxSkew: 1, TopologyKey: zoneKey, WhenUnsatisfiable: corev1.ScheduleAnyway, LabelSelector: members,
		}}
	}
}

// memberAntiAffinity keeps members off each other's nodes: a member that
// shares a node with another loses its vote with that node too.
func memberAntiAffinity(spread etcdv1alpha1.MemberSpread, members *metav1.LabelSelector) *corev1.PodAntiAffinity {
	term := corev1.PodAffinityTerm{LabelSelector: members, TopologyKey: hostnameKey}
	if spread == etcdv1alpha1.MemberSpreadPreferred {
		return &corev1.PodAntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{Weight: 100, PodAffinityTerm: term}}}
	}
	return &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{term}}
}

// extraArgs are spec.options.extraArgs as etcd's command-line arguments.
func extraArgs(o *etcdv1alpha1.EtcdOptions) []string {
	if o == nil || len(o.ExtraArgs) == 0 {
		return nil
	}
	args := make([]string, len(o.ExtraArgs))
	for i, a := range o.ExtraArgs {
		args[i] = string(a)
	}
	return args
}

// applyJobTemplate puts a backup's Job settings on the pod of a Job that
// takes or deletes its snapshot.
func applyJobTemplate(pod *corev1.PodSpec, t *etcdv1alpha1.BackupJobTemplate) {
	if t == nil {
		return
	}
	pod.ImagePullSecrets = t.ImagePullSecrets
	pod.Tolerations = t.Tolerations
	pod.NodeSelector = t.NodeSelector
	pod.PriorityClassName = t.PriorityClassName
	pod.Containers[0].Resources = t.Resources
}

// ClaimSize is what each member's claim should request, and false for
// emptyDir storage, which has no claims.
func ClaimSize(c *etcdv1alpha1.EtcdCluster) (resource.Quantity, bool) {
	claim := dataClaim(c)
	if claim == nil {
		return resource.Quantity{}, false
	}
	return claim.Spec.Resources.Requests[corev1.ResourceStorage], true
}
