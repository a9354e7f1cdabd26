package controller

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
	"github.com/quorum-operator/quorum/internal/resources"
)

// ensureServices keeps the peer and client Services and the disruption
// budget as built; they hold no data, so updating them is always safe.
func (r *EtcdClusterReconciler) ensureServices(ctx context.Context, c *etcdv1alpha1.EtcdCluster) error {
	for _, desired := range []*corev1.Service{resources.PeerService(c), resources.ClientService(c)} {
		svc := &corev1.Service{ObjectMeta: desired.ObjectMeta}
		if err := r.applyOwned(ctx, c, svc, func() {
			svc.Labels = desired.Labels
			// ClusterIP and other allocated fields stay as the API server set them.
			svc.Spec.Selector = desired.Spec.Selector
			svc.Spec.Ports = desired.Spec.Ports
			svc.Spec.PublishNotReadyAddresses = desired.Spec.PublishNotReadyAddresses
			if svc.CreationTimestamp.IsZero() {
				svc.Spec.ClusterIP = desired.Spec.ClusterIP
				svc.Spec.Type = desired.Spec.Type
			}
		}); err != nil {
			return err
		}
	}
	desired := resources.PodDisruptionBudget(c)
	pdb := &policyv1.PodDisruptionBudget{ObjectMeta: desired.ObjectMeta}
	return r.applyOwned(ctx, c, pdb, func() {
		pdb.Labels = desired.Labels
		pdb.Spec = desired.Spec
	})
}

// applyOwned creates obj, or updates the existing one, after mutate set the
// fields the operator owns, with the cluster as its controller.
func (r *EtcdClusterReconciler) applyOwned(ctx context.Context, c *etcdv1alpha1.EtcdCluster, obj client.Object, mutate func()) error {
	if _, err := controllerutil.CreateOrUpdate(ctx, r.Client, obj, func() error {
		mutate()
		return controllerutil.SetControllerReference(c, obj, r.Scheme)
	}); err != nil {
		return fmt.Errorf("apply %T %s: %w", obj, obj.GetName(), err)
	}
	return nil
}

// ensureCreated creates the bootstrap ConfigMap and the StatefulSet of a new
// cluster: all initial members start together from a static initial
// cluster. An existing StatefulSet is left alone: changing a running
// cluster's members goes through etcd first, never through the template.
func (r *EtcdClusterReconciler) ensureCreated(ctx context.Context, obs *observedCluster) (created bool, err error) {
	c := obs.cluster
	if obs.statefulSet != nil {
		return false, nil
	}
	members := resources.InitialMembers(c, int(c.Spec.Size))
	cm := resources.BootstrapConfigMap(c, members, resources.InitialClusterStateNew)
	if err := r.createOwned(ctx, c, cm); err != nil {
		return false, fmt.Errorf("create bootstrap configmap: %w", err)
	}
	sts := resources.StatefulSet(c, c.Spec.Size)
	if err := r.createOwned(ctx, c, sts); err != nil {
		return false, fmt.Errorf("create statefulset: %w", err)
	}
	return true, nil
}

// createOwned creates obj owned by the cluster; an object that already
// exists is kept as it is (a second pass after a crash is harmless).
func (r *EtcdClusterReconciler) createOwned(ctx context.Context, c *etcdv1alpha1.EtcdCluster, obj client.Object) error {
	if err := controllerutil.SetControllerReference(c, obj, r.Scheme); err != nil {
		return err
	}
	if err := r.Create(ctx, obj); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return nil
}
