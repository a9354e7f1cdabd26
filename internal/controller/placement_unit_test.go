package controller

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
)

func TestALearnerSharingANodeIsNoSharedVote(t *testing.T) {
	obs := threeMembers("main-0", "main-1", "main-2")
	for i, node := range []string{"a", "b", "a"} {
		obs.pods[i].Spec.NodeName = node
	}
	members := memberStatuses(obs)
	if c := votersShareNode(obs, members); c.Status != metav1.ConditionTrue || !strings.HasPrefix(c.Message, "main-0, main-2 run on node a") {
		t.Errorf("two voters on node a: %+v", c)
	}
	members[2].Learner = true
	if c := votersShareNode(obs, members); c.Status != metav1.ConditionFalse {
		t.Errorf("a learner shares node a, no voter does: %+v", c)
	}
}

func claim(name, class string, request string, phase corev1.PersistentVolumeClaimPhase) corev1.PersistentVolumeClaim {
	pvc := corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if class != "" {
		pvc.Spec.StorageClassName = ptr.To(class)
	}
	pvc.Spec.Resources.Requests = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(request)}
	pvc.Status.Phase = phase
	return pvc
}

func TestPlanClaimGrowth(t *testing.T) {
	obs := threeMembers("main-0", "main-1", "main-2")
	obs.cluster.Spec.Storage = &etcdv1alpha1.StorageSpec{Size: ptr.To(resource.MustParse("2Gi"))}
	obs.claims = []corev1.PersistentVolumeClaim{
		claim("data-main-0", "fast", "1Gi", corev1.ClaimBound),
		claim("data-main-1", "fast", "1Gi", corev1.ClaimPending),
		claim("data-main-2", "fast", "2Gi", corev1.ClaimBound),
		claim("data-main-3", "fixed", "1Gi", corev1.ClaimBound),
		claim("data-main-4", "", "1Gi", corev1.ClaimBound),
		claim("data-main-5", "gone", "1Gi", corev1.ClaimBound),
	}
	obs.storageClasses = map[string]*storagev1.StorageClass{
		"fast": {AllowVolumeExpansion: ptr.To(true)}, "fixed": {}, "gone": nil,
	}
	g := planClaimGrowth(obs)
	if len(g.grow) != 1 || g.grow[0].Name != "data-main-0" {
		t.Errorf("grow %v, want data-main-0 only: data-main-1 is unbound, data-main-2 has its size", claimNames(g.grow))
	}
	if want := []string{"data-main-1 is not bound yet"}; strings.Join(g.expanding, "|") != strings.Join(want, "|") {
		t.Errorf("expanding %q", g.expanding)
	}
	if len(g.refused) != 3 || !strings.Contains(g.refused[0], "fixed does not allow volume expansion") ||
		g.refused[1] != "data-main-4 has no StorageClass" || !strings.Contains(g.refused[2], "gone does not exist") {
		t.Errorf("refused %q", g.refused)
	}
	if c := storageResizing(obs); c.Reason != etcdv1alpha1.ReasonExpansionNotSupported {
		t.Errorf("condition %+v", c)
	}
	obs.cluster.Spec.Storage = &etcdv1alpha1.StorageSpec{EmptyDir: &corev1.EmptyDirVolumeSource{}}
	if g := planClaimGrowth(obs); len(g.grow)+len(g.refused)+len(g.expanding) != 0 {
		t.Errorf("emptyDir storage has claims to grow: %+v", g)
	}
}
