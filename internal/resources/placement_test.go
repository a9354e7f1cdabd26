package resources

import (
	"reflect"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
)

func TestMemberSpreadIsDecidedOnceAndOldStatefulSetsKeepNone(t *testing.T) {
	c := testCluster()
	if got := EffectiveMemberSpread(c, nil); got != etcdv1alpha1.MemberSpreadRequired {
		t.Errorf("a new cluster spreads %s, want Required", got)
	}
	old := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{AnnotationTemplateHash: "x"}}}
	if got := EffectiveMemberSpread(c, old); got != etcdv1alpha1.MemberSpreadNone {
		t.Errorf("a StatefulSet of an operator before memberSpread spreads %s, want None (its template as it was)", got)
	}
	recorded := StatefulSet(c, 3, nil, "quorum:test")
	if got := EffectiveMemberSpread(c, recorded); got != etcdv1alpha1.MemberSpreadRequired {
		t.Errorf("a StatefulSet this operator made spreads %s, want the Required it recorded", got)
	}
	c.Spec.PodTemplate = &etcdv1alpha1.PodTemplate{MemberSpread: etcdv1alpha1.MemberSpreadNone}
	if got := EffectiveMemberSpread(c, recorded); got != etcdv1alpha1.MemberSpreadNone {
		t.Errorf("the spec's memberSpread None gives %s", got)
	}
	legacy := PodTemplate(WithMemberSpread(testCluster(), etcdv1alpha1.MemberSpreadNone), nil)
	if legacy.Spec.Affinity != nil || legacy.Spec.TopologySpreadConstraints != nil {
		t.Errorf("None adds placement: %+v %+v", legacy.Spec.Affinity, legacy.Spec.TopologySpreadConstraints)
	}
}

func TestUserPlacementReplacesTheDefaultAndKeepsNodeAffinity(t *testing.T) {
	c := testCluster()
	nodeAffinity := &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
		NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "disk", Operator: corev1.NodeSelectorOpExists}}}}}}
	c.Spec.PodTemplate = &etcdv1alpha1.PodTemplate{MemberSpread: etcdv1alpha1.MemberSpreadPreferred, Affinity: &corev1.Affinity{NodeAffinity: nodeAffinity}}
	spec := PodTemplate(c, nil).Spec
	if !reflect.DeepEqual(spec.Affinity.NodeAffinity, nodeAffinity) {
		t.Error("the user's node affinity was dropped")
	}
	if terms := spec.Affinity.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution; len(terms) != 1 || terms[0].PodAffinityTerm.TopologyKey != hostnameKey {
		t.Errorf("Preferred gives %+v", spec.Affinity.PodAntiAffinity)
	}
	if c.Spec.PodTemplate.Affinity.PodAntiAffinity != nil {
		t.Error("the spec was changed")
	}
	own := &corev1.PodAntiAffinity{}
	zones := []corev1.TopologySpreadConstraint{{MaxSkew: 2, TopologyKey: "rack", WhenUnsatisfiable: corev1.DoNotSchedule}}
	c.Spec.PodTemplate = &etcdv1alpha1.PodTemplate{Affinity: &corev1.Affinity{PodAntiAffinity: own}, TopologySpreadConstraints: zones}
	spec = PodTemplate(c, nil).Spec
	if spec.Affinity.PodAntiAffinity != own || !slices.EqualFunc(spec.TopologySpreadConstraints, zones, func(a, b corev1.TopologySpreadConstraint) bool { return a.TopologyKey == b.TopologyKey }) {
		t.Errorf("the user's anti-affinity and spread were replaced: %+v %+v", spec.Affinity, spec.TopologySpreadConstraints)
	}
}

func TestExtraArgsAndPullSecretsReachTheMemberPod(t *testing.T) {
	c := testCluster()
	c.Spec.Options = &etcdv1alpha1.EtcdOptions{ExtraArgs: []etcdv1alpha1.EtcdFlag{"--snapshot-count=50000", "--log-level=warn"}}
	c.Spec.PodTemplate = &etcdv1alpha1.PodTemplate{ImagePullSecrets: []corev1.LocalObjectReference{{Name: "registry"}}}
	spec := PodTemplate(c, nil).Spec
	if got := spec.Containers[0].Args; !slices.Equal(got, []string{"--snapshot-count=50000", "--log-level=warn"}) {
		t.Errorf("etcd args %q", got)
	}
	if len(spec.ImagePullSecrets) != 1 || spec.ImagePullSecrets[0].Name != "registry" {
		t.Errorf("pull secrets %+v", spec.ImagePullSecrets)
	}
	if args := PodTemplate(testCluster(), nil).Spec.Containers[0].Args; args != nil {
		t.Errorf("a cluster without extraArgs gets args %q, which would change its template hash", args)
	}
}

func TestBackupJobsTakeTheBackupsJobSettings(t *testing.T) {
	b := testBackup(etcdv1alpha1.BackupDestination{PersistentVolumeClaim: &etcdv1alpha1.PVCLocation{ClaimName: "backups"}})
	b.Spec.Job = &etcdv1alpha1.BackupJobTemplate{
		ImagePullSecrets:  []corev1.LocalObjectReference{{Name: "registry"}},
		NodeSelector:      map[string]string{"disk": "ssd"},
		Tolerations:       []corev1.Toleration{{Key: "backup", Operator: corev1.TolerationOpExists}},
		PriorityClassName: "low",
		Resources:         corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")}},
	}
	for _, pod := range []corev1.PodSpec{BackupJob(b, testCluster(), "quorum:test").Spec.Template.Spec, SnapshotDeleteJob(b, "quorum:test").Spec.Template.Spec} {
		if pod.ImagePullSecrets[0].Name != "registry" || pod.NodeSelector["disk"] != "ssd" || pod.Tolerations[0].Key != "backup" ||
			pod.PriorityClassName != "low" || !pod.Containers[0].Resources.Limits.Memory().Equal(resource.MustParse("128Mi")) {
			t.Errorf("job pod %+v", pod)
		}
	}
}
