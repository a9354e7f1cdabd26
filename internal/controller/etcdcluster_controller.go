package controller

import (
	"context"

	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
)

// EtcdClusterReconciler drives an EtcdCluster toward its spec.
type EtcdClusterReconciler struct {
	client.Client
	Scheme *runtime.Scheme
}

// +kubebuilder:rbac:groups=etcd.quorum.dev,resources=etcdclusters,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=etcd.quorum.dev,resources=etcdclusters/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=etcd.quorum.dev,resources=etcdclusters/finalizers,verbs=update
// +kubebuilder:rbac:groups=core,resources=events,verbs=create;patch

// Reconcile is called whenever an EtcdCluster or an object it owns changes.
func (r *EtcdClusterReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	log := logf.FromContext(ctx)

	var cluster etcdv1alpha1.EtcdCluster
	if err := r.Get(ctx, req.NamespacedName, &cluster); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	log.V(1).Info("Observed EtcdCluster", "generation", cluster.Generation)
	return ctrl.Result{}, nil
}

// SetupWithManager registers the reconciler and what it watches.
func (r *EtcdClusterReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&etcdv1alpha1.EtcdCluster{}).
		Named("etcdcluster").
		Complete(r)
}
