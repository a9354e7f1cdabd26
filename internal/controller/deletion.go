package controller

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
	"github.com/quorum-operator/quorum/internal/resources"
)

// Finalizer holds an EtcdCluster until the operator has carried out its
// deletion policy on the members' claims. The StatefulSet never deletes
// claims itself (its retention policy is Retain), so the policy in the
// spec is the only thing that decides.
const Finalizer = "etcd.quorum.dev/cleanup"

// ensureFinalizer adds the finalizer to a cluster that lacks it.
func (r *EtcdClusterReconciler) ensureFinalizer(ctx context.Context, c *etcdv1alpha1.EtcdCluster) error {
	if controllerutil.ContainsFinalizer(c, Finalizer) {
		return nil
	}
	before := c.DeepCopy()
	controllerutil.AddFinalizer(c, Finalizer)
	if err := r.Patch(ctx, c, client.MergeFrom(before)); err != nil {
		return fmt.Errorf("add finalizer: %w", err)
	}
	return nil
}

// finalize carries out the deletion policy, then lets the cluster go. Its
// StatefulSet, Services, ConfigMap and budget are owned by it and go
// through garbage collection; claims are not owned, so they are deleted
// here or kept. A claim still mounted is only marked: Kubernetes removes it
// once its pod has stopped.
func (r *EtcdClusterReconciler) finalize(ctx context.Context, c *etcdv1alpha1.EtcdCluster) error {
	if !controllerutil.ContainsFinalizer(c, Finalizer) {
		return nil
	}
	if c.Spec.DeletionPolicy == etcdv1alpha1.DeletionPolicyDelete {
		if err := r.DeleteAllOf(ctx, &corev1.PersistentVolumeClaim{}, client.InNamespace(c.Namespace),
			client.MatchingLabels(resources.SelectorLabels(c))); err != nil {
			return fmt.Errorf("delete member claims: %w", err)
		}
		r.event(c, corev1.EventTypeNormal, "ClaimsDeleted", "Deleted the members' data claims (deletionPolicy Delete)")
	} else {
		r.event(c, corev1.EventTypeNormal, "ClaimsRetained", "Kept the members' data claims (deletionPolicy Retain)")
	}
	logf.FromContext(ctx).Info("Finalized", "deletionPolicy", c.Spec.DeletionPolicy)
	before := c.DeepCopy()
	controllerutil.RemoveFinalizer(c, Finalizer)
	if err := r.Patch(ctx, c, client.MergeFrom(before)); err != nil {
		return fmt.Errorf("remove finalizer: %w", err)
	}
	return nil
}
