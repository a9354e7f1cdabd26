package controller

import (
	"context"
	"fmt"
	"sync"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
	"github.com/quorum-operator/quorum/internal/resources"
)

// podMonitorRecheck is the default of PodMonitorReconciler.Recheck.
const podMonitorRecheck = 5 * time.Minute

// PodMonitorReconciler keeps the PodMonitor of spec.monitoring.podMonitor.
// It is apart from the EtcdCluster reconciler because it has nothing to do
// with etcd's state: it runs when a cluster's spec changes (and every few
// minutes for clusters that ask for a PodMonitor), never on etcd's
// 30-second poll. PodMonitors are read without a cache, so the operator
// runs where the kind is not installed and never watches PodMonitors.
type PodMonitorReconciler struct {
	client.Client
	Scheme *runtime.Scheme
	// APIReader reads PodMonitors from the API server (the manager's API
	// reader).
	APIReader client.Reader
	Recorder  events.EventRecorder
	// Recheck is how often a cluster that asks for a PodMonitor is looked
	// at again: to notice the kind once the Prometheus Operator's CRDs are
	// installed, and to put back a PodMonitor deleted by hand. While the
	// kind is missing, discovery is asked at most this often (the
	// RESTMapper asks the API server each time for a kind it does not
	// know, once per cluster otherwise). Five minutes when zero.
	Recheck time.Duration

	mu        sync.Mutex
	checkedAt time.Time
	installed bool
}

// +kubebuilder:rbac:groups=monitoring.coreos.com,resources=podmonitors,verbs=get;create;update;delete

// Reconcile creates, updates or deletes the cluster's PodMonitor.
func (r *PodMonitorReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var c etcdv1alpha1.EtcdCluster
	if err := r.Get(ctx, req.NamespacedName, &c); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	// A paused cluster is left as it is; a deleted one takes its
	// PodMonitor along through the owner reference.
	if c.Spec.Paused || !c.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	want := c.Spec.Monitoring != nil && c.Spec.Monitoring.PodMonitor
	installed, err := r.kindInstalled()
	switch {
	case err != nil:
		return ctrl.Result{}, err
	case !installed && want:
		r.Recorder.Eventf(&c, nil, corev1.EventTypeWarning, "PodMonitorUnavailable", "PodMonitorUnavailable",
			"spec.monitoring.podMonitor is set, but this Kubernetes cluster has no PodMonitor kind (monitoring.coreos.com/v1): "+
				"install the Prometheus Operator or its CRDs; the operator looks again every %s", r.Recheck)
		return ctrl.Result{RequeueAfter: r.Recheck}, nil
	case !installed:
		// No PodMonitor can exist.
		return ctrl.Result{}, nil
	case want:
		return ctrl.Result{RequeueAfter: r.Recheck}, r.ensurePodMonitor(ctx, &c)
	default:
		return ctrl.Result{}, r.removePodMonitor(ctx, &c)
	}
}

// kindInstalled says whether the API server serves PodMonitors, asking
// discovery at most once per Recheck while it does not.
func (r *PodMonitorReconciler) kindInstalled() (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.installed && !r.checkedAt.IsZero() && time.Since(r.checkedAt) < r.Recheck {
		return false, nil
	}
	gk := monitoringv1.SchemeGroupVersion.WithKind(monitoringv1.PodMonitorsKind).GroupKind()
	_, err := r.RESTMapper().RESTMapping(gk, monitoringv1.SchemeGroupVersion.Version)
	switch {
	case meta.IsNoMatchError(err):
		r.installed = false
	case err != nil:
		return false, fmt.Errorf("look up the PodMonitor kind: %w", err)
	default:
		r.installed = true
	}
	r.checkedAt = time.Now()
	return r.installed, nil
}

// ensurePodMonitor creates the PodMonitor, or brings its labels and spec
// back to what the operator builds. A PodMonitor of that name that the
// cluster does not own is the user's: it is left alone, with a warning.
func (r *PodMonitorReconciler) ensurePodMonitor(ctx context.Context, c *etcdv1alpha1.EtcdCluster) error {
	desired := resources.PodMonitor(c)
	var pm monitoringv1.PodMonitor
	err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(desired), &pm)
	if apierrors.IsNotFound(err) {
		if err := controllerutil.SetControllerReference(c, desired, r.Scheme); err != nil {
			return err
		}
		if err := r.Create(ctx, desired); err != nil {
			return fmt.Errorf("create PodMonitor %s: %w", desired.Name, err)
		}
		r.Recorder.Eventf(c, nil, corev1.EventTypeNormal, "PodMonitorCreated", "PodMonitorCreated",
			"Created PodMonitor %s: Prometheus scrapes the members on port %d", desired.Name, resources.MetricsPort)
		return nil
	}
	if err != nil {
		return fmt.Errorf("get PodMonitor %s: %w", desired.Name, err)
	}
	if !metav1.IsControlledBy(&pm, c) {
		r.Recorder.Eventf(c, nil, corev1.EventTypeWarning, "PodMonitorNotOwned", "PodMonitorNotOwned",
			"PodMonitor %s exists and is not this cluster's: the operator leaves it alone", pm.Name)
		return nil
	}
	if equality.Semantic.DeepEqual(pm.Spec, desired.Spec) && equality.Semantic.DeepEqual(pm.Labels, desired.Labels) {
		return nil
	}
	logf.FromContext(ctx).Info("Updating the PodMonitor", "podMonitor", pm.Name)
	pm.Labels, pm.Spec = desired.Labels, desired.Spec
	if err := r.Update(ctx, &pm); err != nil {
		return fmt.Errorf("update PodMonitor %s: %w", pm.Name, err)
	}
	return nil
}

// removePodMonitor deletes the PodMonitor the cluster owns, if there is one.
func (r *PodMonitorReconciler) removePodMonitor(ctx context.Context, c *etcdv1alpha1.EtcdCluster) error {
	var pm monitoringv1.PodMonitor
	err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: resources.PodMonitorName(c)}, &pm)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get PodMonitor %s: %w", resources.PodMonitorName(c), err)
	}
	if !metav1.IsControlledBy(&pm, c) {
		return nil
	}
	if err := r.Delete(ctx, &pm, client.Preconditions{UID: &pm.UID}); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("delete PodMonitor %s: %w", pm.Name, err)
	}
	r.Recorder.Eventf(c, nil, corev1.EventTypeNormal, "PodMonitorDeleted", "PodMonitorDeleted",
		"Deleted PodMonitor %s: spec.monitoring.podMonitor is off", pm.Name)
	return nil
}

// SetupWithManager registers the reconciler: it runs when a cluster is
// created or its spec changes.
func (r *PodMonitorReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Recheck == 0 {
		r.Recheck = podMonitorRecheck
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&etcdv1alpha1.EtcdCluster{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Named("podmonitor").
		Complete(r)
}
