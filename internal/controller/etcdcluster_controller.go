package controller

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
	"github.com/quorum-operator/quorum/internal/etcd"
	"github.com/quorum-operator/quorum/internal/failpoint"
	"github.com/quorum-operator/quorum/internal/resources"
)

// When a cluster is looked at again. After a step the next look comes at
// once: the next step depends on what etcd says now, and etcd's changes
// make no Kubernetes event. While waiting (a learner catching up, a member
// starting) etcd is polled briefly; member pods' changes trigger a pass of
// their own. A cluster at rest is polled for its health.
const (
	requeueAfterAct     = 100 * time.Millisecond // a step was taken
	requeueWhileWaiting = 500 * time.Millisecond // creating, or waiting on etcd or a member
	requeueWhileUnready = 10 * time.Second       // halted, degraded or without quorum
	requeueWhenSteady   = 30 * time.Second
)

// EtcdClusterReconciler drives an EtcdCluster toward its spec.
type EtcdClusterReconciler struct {
	client.Client
	Scheme   *runtime.Scheme
	Recorder events.EventRecorder
	// EtcdClients opens clients to etcd members; a fake in unit tests.
	EtcdClients etcd.ClientFactory
	pool        *etcd.Pool
	poolOnce    sync.Once
	certSecrets secretCache
	// statusWrites paces status writes that would change only the
	// members' revisions and database sizes.
	statusWrites statusPacer
	// APIReader reads straight from the API server (the manager's API
	// reader): certificate Secrets, which a cache would list and watch
	// cluster-wide while the role grants only get, and objects the cache
	// does not hold because they lack the operator's labels
	// (CacheOptions).
	APIReader client.Reader
	// ToolImage is the operator's own image, which restores snapshots in
	// the init container of clusters bootstrapped from a backup.
	ToolImage string
	// Failpoints stop the process right after a step of that name was
	// carried out (tests only; none armed by default).
	Failpoints failpoint.Set
	// Workers is how many clusters are reconciled at once (1 when 0).
	Workers int
}

// The role is the least the reconciler needs; docs/security.md says why
// each rule exists.
// +kubebuilder:rbac:groups=etcd.quorum.dev,resources=etcdclusters,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=etcd.quorum.dev,resources=etcdclusters/status,verbs=get;patch
// +kubebuilder:rbac:groups=etcd.quorum.dev,resources=etcdclusters/finalizers,verbs=update
// +kubebuilder:rbac:groups=etcd.quorum.dev,resources=etcdbackups,verbs=get;list;watch
// +kubebuilder:rbac:groups=apps,resources=statefulsets,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups=core,resources=services;configmaps,verbs=get;list;watch;create;update
// +kubebuilder:rbac:groups=core,resources=pods,verbs=get;list;watch;delete
// +kubebuilder:rbac:groups=core,resources=secrets,verbs=get;create;update
// +kubebuilder:rbac:groups=core,resources=persistentvolumeclaims,verbs=get;list;watch;delete;deletecollection
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;update
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile is a short spine: read, observe, act on one step, write status
// once.
func (r *EtcdClusterReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	log := logf.FromContext(ctx)

	var cluster etcdv1alpha1.EtcdCluster
	if err := r.Get(ctx, req.NamespacedName, &cluster); err != nil {
		if apierrors.IsNotFound(err) {
			r.forgetCluster(req.String())
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !cluster.DeletionTimestamp.IsZero() {
		r.forgetCluster(req.String())
		return ctrl.Result{}, r.finalize(ctx, &cluster)
	}
	if err := r.ensureFinalizer(ctx, &cluster); err != nil {
		return ctrl.Result{}, err
	}

	obs, err := r.observe(ctx, &cluster)
	if err != nil {
		return ctrl.Result{}, r.reportError(ctx, &cluster, err)
	}

	plan := step{kind: stepNone}
	if restore, restoring := restoringBy(&cluster); restoring {
		plan = step{kind: stepWait, reason: restore}
	} else if !cluster.Spec.Paused {
		if plan, err = r.act(ctx, obs); err != nil {
			// The status of a pass that failed says so: a cluster stuck on
			// an error must not look as if all were well.
			status := computeStatus(obs, step{kind: stepError, reason: err.Error()})
			if werr := r.writeStatus(ctx, &cluster, status); werr != nil {
				logf.FromContext(ctx).Error(werr, "Writing the status of a failed pass")
			}
			return ctrl.Result{}, err
		}
	}

	status := computeStatus(obs, plan)
	if err := r.writeStatus(ctx, &cluster, status); err != nil {
		return ctrl.Result{}, err
	}
	log.V(1).Info("Reconciled", "phase", status.Phase, "readyMembers", status.ReadyMembers)
	return ctrl.Result{RequeueAfter: nextLook(plan, status.Phase)}, nil
}

// nextLook is when the cluster is looked at again after a pass that took
// plan and left it in phase.
func nextLook(plan step, phase etcdv1alpha1.ClusterPhase) time.Duration {
	switch {
	case plan.waitsForPerson():
		return requeueWhileUnready
	case plan.acts() && plan.kind.watched():
		// The write comes back as a watch event, which starts the next
		// pass; looking sooner would find the cache without it.
		return requeueWhileWaiting
	case plan.kind == stepCompact, plan.kind == stepDefrag:
		// The next step is decided from status.maintenance, which this
		// pass wrote: give the cache time to hold it. A stale read would
		// cost one more compaction or defragmentation, never data.
		return requeueWhileWaiting
	case plan.acts():
		return requeueAfterAct
	case plan.kind == stepWait, phase == etcdv1alpha1.PhaseCreating:
		return requeueWhileWaiting
	case phase == etcdv1alpha1.PhaseRunning:
		return requeueWhenSteady
	default:
		return requeueWhileUnready
	}
}

// forgetCluster drops what the reconciler keeps of a cluster between
// passes: its etcd client and its certificate Secrets.
func (r *EtcdClusterReconciler) forgetCluster(key string) {
	r.etcdPool().Forget(key)
	r.certSecrets.forgetCluster(key)
	r.statusWrites.forget(key)
}

// reportError records in status why a pass could not even observe the
// cluster, keeping everything else it said before, and returns err.
func (r *EtcdClusterReconciler) reportError(ctx context.Context, c *etcdv1alpha1.EtcdCluster, err error) error {
	before := c.DeepCopy()
	cond := newCondition(etcdv1alpha1.ConditionProgressing, metav1.ConditionTrue, etcdv1alpha1.ReasonReconcileError, err.Error())
	cond.ObservedGeneration = c.Generation
	meta.SetStatusCondition(&c.Status.Conditions, cond)
	if !equality.Semantic.DeepEqual(before.Status, c.Status) {
		if perr := r.Status().Patch(ctx, c, client.MergeFrom(before)); perr != nil {
			logf.FromContext(ctx).Error(perr, "Writing the status of a failed pass")
		}
	}
	return err
}

// act takes the next step toward the spec and says which it took. The
// parts run in order, Services first (members find each other through the
// peer Service); the first that changes something ends the pass, which is
// then reported, and the next pass starts from what it observes.
func (r *EtcdClusterReconciler) act(ctx context.Context, obs *observedCluster) (step, error) {
	for _, ensure := range []func(context.Context, *observedCluster) (step, error){
		r.ensureServices,
		func(ctx context.Context, obs *observedCluster) (step, error) {
			return r.ensureCertificates(ctx, obs, time.Now())
		},
		waitForCertificates,
		r.ensureCreated,
		r.ensureTemplate,
		r.ensureClaimSize,
	} {
		s, err := ensure(ctx, obs)
		if err != nil {
			return step{}, err
		}
		if s.kind != stepNone {
			if s.acts() {
				logf.FromContext(ctx).Info("Step", "step", s.kind, "reason", s.reason)
				r.Failpoints.Hit(string(s.kind))
			}
			return s, nil
		}
	}
	plan := planMembership(obs)
	if plan.acts() {
		logf.FromContext(ctx).Info("Membership step", "step", plan.kind, "member", plan.member, "reason", plan.reason)
	}
	return r.execute(ctx, obs, plan)
}

// waitForCertificates holds everything else back until the cluster's
// certificate Secrets exist: without them no member can start or be
// dialled, and the pod template depends on the CAs they trust.
// Operator-issued ones are seen by the next pass.
func waitForCertificates(_ context.Context, obs *observedCluster) (step, error) {
	if len(obs.tlsMissing) == 0 {
		return step{}, nil
	}
	return step{kind: stepWait, reason: fmt.Sprintf("waiting for the TLS Secrets %s", strings.Join(obs.tlsMissing, ", "))}, nil
}

// writeStatus patches status when it changed, and says so in events when
// the cluster gains or loses quorum.
func (r *EtcdClusterReconciler) writeStatus(ctx context.Context, c *etcdv1alpha1.EtcdCluster, status etcdv1alpha1.EtcdClusterStatus) error {
	if equality.Semantic.DeepEqual(c.Status, status) {
		return nil
	}
	if onlyCountersChanged(c.Status, status) && !r.statusWrites.due(clusterKey(c), time.Now()) {
		return nil
	}
	before := c.DeepCopy()
	wasPhase := c.Status.Phase
	var wasUpgradingReason string
	if was := meta.FindStatusCondition(c.Status.Conditions, etcdv1alpha1.ConditionUpgrading); was != nil {
		wasUpgradingReason = was.Reason
	}
	c.Status = status
	if err := r.Status().Patch(ctx, c, client.MergeFrom(before)); err != nil {
		return fmt.Errorf("patch status: %w", err)
	}
	r.statusWrites.wrote(clusterKey(c), time.Now())
	switch {
	case status.Phase == etcdv1alpha1.PhaseQuorumLost && wasPhase != etcdv1alpha1.PhaseQuorumLost:
		r.event(c, corev1.EventTypeWarning, "QuorumLost",
			"Fewer than a quorum of members are healthy; the operator will not change membership until it returns")
	case status.Phase == etcdv1alpha1.PhaseRunning && wasPhase != etcdv1alpha1.PhaseRunning:
		r.event(c, corev1.EventTypeNormal, "Available", "All %d members are healthy", status.ReadyMembers)
	}
	if halted := meta.FindStatusCondition(status.Conditions, etcdv1alpha1.ConditionUpgrading); halted != nil &&
		halted.Reason == etcdv1alpha1.ReasonRolloutHalted && wasUpgradingReason != etcdv1alpha1.ReasonRolloutHalted {
		r.event(c, corev1.EventTypeWarning, "RolloutHalted", "%s", halted.Message)
	}
	return nil
}

// SetupWithManager registers the reconciler and what it watches. Member
// pods are not owned by the EtcdCluster (the StatefulSet owns them), so
// they are mapped back through their cluster label. Only spec changes of
// the EtcdCluster trigger a pass: the operator's own status writes (member
// revisions change with every write to etcd) would otherwise trigger the
// next pass at once, a hot loop; etcd is polled through RequeueAfter.
func (r *EtcdClusterReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&etcdv1alpha1.EtcdCluster{}, builder.WithPredicates(
			predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Owns(&appsv1.StatefulSet{}).
		Owns(&corev1.Service{}).
		Owns(&corev1.ConfigMap{}).
		Owns(&policyv1.PodDisruptionBudget{}).
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(podToCluster)).
		WithOptions(controller.Options{MaxConcurrentReconciles: max(r.Workers, 1)}).
		Named("etcdcluster").
		Complete(r)
}

func podToCluster(_ context.Context, obj client.Object) []reconcile.Request {
	name, ok := obj.GetLabels()[resources.LabelCluster]
	if !ok {
		return nil
	}
	return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: obj.GetNamespace(), Name: name}}}
}
