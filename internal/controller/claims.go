package controller

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
	"github.com/quorum-operator/quorum/internal/resources"
)

// Claim expansion. A StatefulSet's claim templates cannot change, so a
// larger spec.storage.size reaches each member's claim directly: its
// request is raised when its StorageClass allows expansion, and nothing
// happens otherwise (status says why). Claims are never recreated and
// never shrink (the API refuses a smaller size).
//
// +kubebuilder:rbac:groups=core,resources=persistentvolumeclaims,verbs=patch
// +kubebuilder:rbac:groups=storage.k8s.io,resources=storageclasses,verbs=get

// claimGrowth is what the spec's size asks of the member claims.
type claimGrowth struct {
	grow      []corev1.PersistentVolumeClaim // bound, expandable, requesting less
	refused   []string                       // why a claim cannot grow
	expanding []string                       // asked, not there yet
}

// shortClaims are the claims that request less than the spec's size.
func shortClaims(obs *observedCluster) []corev1.PersistentVolumeClaim {
	want, ok := resources.ClaimSize(obs.cluster)
	if !ok {
		return nil
	}
	var short []corev1.PersistentVolumeClaim
	for _, pvc := range obs.claims {
		req := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
		if pvc.DeletionTimestamp == nil && req.Cmp(want) < 0 {
			short = append(short, pvc)
		}
	}
	return short
}

// observeStorageClasses reads the classes of the claims that must grow,
// and only those: most passes read none. A class that does not exist is
// kept as nil.
func (r *EtcdClusterReconciler) observeStorageClasses(ctx context.Context, obs *observedCluster) error {
	for _, pvc := range shortClaims(obs) {
		name := ptrValue(pvc.Spec.StorageClassName)
		if _, seen := obs.storageClasses[name]; seen || name == "" {
			continue
		}
		if obs.storageClasses == nil {
			obs.storageClasses = map[string]*storagev1.StorageClass{}
		}
		var sc storagev1.StorageClass
		if err := r.APIReader.Get(ctx, client.ObjectKey{Name: name}, &sc); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("get StorageClass %s of claim %s: %w", name, pvc.Name, err)
		} else if err == nil {
			obs.storageClasses[name] = &sc
		} else {
			obs.storageClasses[name] = nil
		}
	}
	return nil
}

func ptrValue(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// planClaimGrowth sorts the member claims by what can be done for them.
func planClaimGrowth(obs *observedCluster) claimGrowth {
	var g claimGrowth
	want, ok := resources.ClaimSize(obs.cluster)
	if !ok {
		return g
	}
	for _, pvc := range shortClaims(obs) {
		name := ptrValue(pvc.Spec.StorageClassName)
		sc := obs.storageClasses[name]
		switch {
		case name == "":
			g.refused = append(g.refused, pvc.Name+" has no StorageClass")
		case sc == nil:
			g.refused = append(g.refused, fmt.Sprintf("%s: its StorageClass %s does not exist", pvc.Name, name))
		case sc.AllowVolumeExpansion == nil || !*sc.AllowVolumeExpansion:
			g.refused = append(g.refused, fmt.Sprintf("%s: its StorageClass %s does not allow volume expansion (allowVolumeExpansion is not true)", pvc.Name, name))
		case pvc.Status.Phase != corev1.ClaimBound:
			// Kubernetes resizes bound claims only; this one grows once bound.
			g.expanding = append(g.expanding, pvc.Name+" is not bound yet")
		default:
			g.grow = append(g.grow, pvc)
		}
	}
	for _, pvc := range obs.claims {
		capacity, known := pvc.Status.Capacity[corev1.ResourceStorage]
		req := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
		if known && req.Cmp(want) >= 0 && capacity.Cmp(want) < 0 {
			g.expanding = append(g.expanding, fmt.Sprintf("%s has %s of %s", pvc.Name, capacity.String(), want.String()))
		}
	}
	return g
}

// ensureClaimSize raises the request of every member claim that can grow
// to spec.storage.size. Expansion restarts nothing: the volume grows under
// the running member (or when its pod next starts, for drivers that
// cannot expand online).
func (r *EtcdClusterReconciler) ensureClaimSize(ctx context.Context, obs *observedCluster) (step, error) {
	g := planClaimGrowth(obs)
	if len(g.grow) == 0 {
		return step{}, nil
	}
	want, _ := resources.ClaimSize(obs.cluster)
	var names []string
	for i := range g.grow {
		pvc := &g.grow[i]
		before := pvc.DeepCopy()
		pvc.Spec.Resources.Requests[corev1.ResourceStorage] = want
		if err := r.Patch(ctx, pvc, client.MergeFrom(before)); err != nil {
			return step{}, fmt.Errorf("expand claim %s to %s: %w", pvc.Name, want.String(), err)
		}
		names = append(names, pvc.Name)
	}
	r.event(obs.cluster, corev1.EventTypeNormal, "ExpandingClaims", "Asked for %s on %s", want.String(), strings.Join(names, ", "))
	return step{kind: stepExpandClaims, reason: fmt.Sprintf("expanding %s to %s", strings.Join(names, ", "), want.String())}, nil
}

// storageResizing reports claims that do not have spec.storage.size yet.
func storageResizing(obs *observedCluster) metav1.Condition {
	g := planClaimGrowth(obs)
	want, _ := resources.ClaimSize(obs.cluster)
	switch {
	case len(g.refused) > 0:
		return newCondition(etcdv1alpha1.ConditionStorageResizing, metav1.ConditionTrue, etcdv1alpha1.ReasonExpansionNotSupported,
			fmt.Sprintf("spec.storage.size %s cannot be applied: %s; those claims keep their size and nothing else changes (set storage.size back, or move to a class that allows expansion through a backup and restore)",
				want.String(), strings.Join(g.refused, "; ")))
	case len(g.grow) > 0 || len(g.expanding) > 0:
		return newCondition(etcdv1alpha1.ConditionStorageResizing, metav1.ConditionTrue, etcdv1alpha1.ReasonExpanding,
			fmt.Sprintf("expanding member claims to %s: %s", want.String(), strings.Join(append(claimNames(g.grow), g.expanding...), "; ")))
	}
	return newCondition(etcdv1alpha1.ConditionStorageResizing, metav1.ConditionFalse, etcdv1alpha1.ReasonClaimsMatchSpec,
		"every member claim requests spec.storage.size")
}

func claimNames(claims []corev1.PersistentVolumeClaim) []string {
	names := make([]string, len(claims))
	for i, c := range claims {
		names[i] = c.Name + " to be asked"
	}
	return names
}
