package controller

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
	"github.com/quorum-operator/quorum/internal/resources"
)

// requeueWhileRestoring polls a restore under way: members stopping, then
// starting and forming the new cluster.
const requeueWhileRestoring = time.Second

// EtcdRestoreReconciler restores an existing cluster in place from a
// snapshot, one stage per phase (the phase in status is all it remembers,
// so an operator restarted mid-restore goes on where it was):
//
//	Pending:   refuse, or mark the cluster as restoring, seal its bootstrap
//	           settings, give its StatefulSet the in-place restore init
//	           container and scale it to 0.
//	Stopping:  wait until the StatefulSet has no pod; scale it back up.
//	Restoring: each member moves its data aside and restores the snapshot
//	           (internal/restore); wait until the cluster is healthy under
//	           a new cluster ID; remove the mark.
//
// Nothing is deleted: a member's data is moved aside on its own claim.
type EtcdRestoreReconciler struct {
	client.Client
	Scheme   *runtime.Scheme
	Recorder events.EventRecorder
	// APIReader lists member pods from the API server before the members
	// are started again: a pod the cache has not seen yet must not be
	// missed.
	APIReader client.Reader
	// ToolImage is the operator's image, which runs the restore.
	ToolImage string
	// VerificationFailed says why a backup's own verification of its
	// snapshot failed, if it did. Nil means backups carry no verification
	// and every succeeded backup may be restored.
	VerificationFailed func(*etcdv1alpha1.EtcdBackup) (string, bool)
}

// +kubebuilder:rbac:groups=etcd.quorum.dev,resources=etcdrestores,verbs=get;list;watch
// +kubebuilder:rbac:groups=etcd.quorum.dev,resources=etcdrestores/status,verbs=get;patch
// +kubebuilder:rbac:groups=etcd.quorum.dev,resources=etcdclusters,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=etcd.quorum.dev,resources=etcdbackups,verbs=get;list;watch
// +kubebuilder:rbac:groups=apps,resources=statefulsets,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=core,resources=configmaps,verbs=get;list;watch;update
// +kubebuilder:rbac:groups=core,resources=pods,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile takes the restore one stage further and records where it is.
func (r *EtcdRestoreReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var rs etcdv1alpha1.EtcdRestore
	if err := r.Get(ctx, req.NamespacedName, &rs); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if restoreFinished(&rs) {
		return ctrl.Result{}, nil
	}
	before := rs.DeepCopy()
	stalled, err := r.advance(ctx, &rs)
	if err != nil {
		return ctrl.Result{}, err
	}
	setRestoreKstatus(&rs, stalled)
	if !equality.Semantic.DeepEqual(before.Status, rs.Status) {
		if err := r.Status().Patch(ctx, &rs, client.MergeFrom(before)); err != nil {
			return ctrl.Result{}, fmt.Errorf("patch restore status: %w", err)
		}
	}
	if restoreFinished(&rs) {
		return ctrl.Result{}, nil
	}
	return ctrl.Result{RequeueAfter: requeueWhileRestoring}, nil
}

func restoreFinished(rs *etcdv1alpha1.EtcdRestore) bool {
	return rs.Status.Phase == etcdv1alpha1.RestoreSucceeded || rs.Status.Phase == etcdv1alpha1.RestoreFailed
}

// advance runs the stage of the restore's phase. stalled is true when the
// restore cannot go on without a person (a member cannot restore).
func (r *EtcdRestoreReconciler) advance(ctx context.Context, rs *etcdv1alpha1.EtcdRestore) (stalled bool, err error) {
	target, err := r.loadTarget(ctx, rs)
	if err != nil {
		return false, err
	}
	switch rs.Status.Phase {
	case "", etcdv1alpha1.RestorePending:
		return false, r.start(ctx, rs, target)
	case etcdv1alpha1.RestoreStopping:
		return false, r.stop(ctx, rs, target)
	default:
		return r.finish(ctx, rs, target)
	}
}

// restoreTarget is the cluster a restore acts on, as read in this pass.
type restoreTarget struct {
	cluster *etcdv1alpha1.EtcdCluster // nil when it does not exist
	sts     *appsv1.StatefulSet       // nil when it does not exist
}

// ours says whether the cluster is marked as being restored by rs.
func (t restoreTarget) ours(rs *etcdv1alpha1.EtcdRestore) bool {
	return t.cluster != nil && t.cluster.Annotations[etcdv1alpha1.AnnotationRestoring] == rs.Name
}

// restarting says whether the StatefulSet restores in place for rs.
func (t restoreTarget) restarting(rs *etcdv1alpha1.EtcdRestore) bool {
	return t.sts != nil && resources.InPlaceRestoreID(&t.sts.Spec.Template) == string(rs.UID)
}

func (r *EtcdRestoreReconciler) loadTarget(ctx context.Context, rs *etcdv1alpha1.EtcdRestore) (restoreTarget, error) {
	var t restoreTarget
	var c etcdv1alpha1.EtcdCluster
	if err := r.Get(ctx, client.ObjectKey{Namespace: rs.Namespace, Name: rs.Spec.ClusterName}, &c); client.IgnoreNotFound(err) != nil {
		return t, fmt.Errorf("get EtcdCluster %s: %w", rs.Spec.ClusterName, err)
	} else if err != nil {
		return t, nil
	}
	t.cluster = &c
	var sts appsv1.StatefulSet
	if err := r.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: resources.StatefulSetName(&c)}, &sts); client.IgnoreNotFound(err) != nil {
		return t, fmt.Errorf("get StatefulSet %s: %w", c.Name, err)
	} else if err == nil {
		t.sts = &sts
	}
	return t, nil
}

// restoringBy says whether an EtcdRestore restores the cluster now, and
// what the cluster's reconciler reports meanwhile.
func restoringBy(c *etcdv1alpha1.EtcdCluster) (string, bool) {
	name := c.Annotations[etcdv1alpha1.AnnotationRestoring]
	if name == "" {
		return "", false
	}
	return fmt.Sprintf("EtcdRestore %s is restoring the cluster in place (annotation %s): the operator takes no other step until it ends",
		name, etcdv1alpha1.AnnotationRestoring), true
}

func (r *EtcdRestoreReconciler) event(obj client.Object, eventType, reason, note string, args ...any) {
	r.Recorder.Eventf(obj, nil, eventType, reason, reason, note, args...)
}

// setRestoreKstatus derives the kstatus conditions from the phase: in
// flight until it ends, Ready once it succeeded, Stalled once refused or
// while a member cannot restore.
func setRestoreKstatus(rs *etcdv1alpha1.EtcdRestore, stalled bool) {
	rs.Status.ObservedGeneration = rs.Generation
	phase := rs.Status.Phase
	if phase == "" {
		phase = etcdv1alpha1.RestorePending
	}
	ready, reconciling, stall := metav1.ConditionFalse, metav1.ConditionTrue, metav1.ConditionFalse
	switch {
	case phase == etcdv1alpha1.RestoreSucceeded:
		ready, reconciling = metav1.ConditionTrue, metav1.ConditionFalse
	case phase == etcdv1alpha1.RestoreFailed:
		reconciling, stall = metav1.ConditionFalse, metav1.ConditionTrue
	case stalled:
		// kstatus reads Reconciling first: Stalled alone says Failed.
		reconciling, stall = metav1.ConditionFalse, metav1.ConditionTrue
	}
	setKstatus(&rs.Status.Conditions, rs.Generation, string(phase), rs.Status.Message, ready, reconciling, stall)
}

// SetupWithManager registers the reconciler. A restore under way polls
// (requeueWhileRestoring): it waits on pods and on the cluster's status,
// which the cluster's reconciler writes.
func (r *EtcdRestoreReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&etcdv1alpha1.EtcdRestore{}).
		Named("etcdrestore").
		Complete(r)
}

// memberPods counts the cluster's member pods, read from the API server.
func (r *EtcdRestoreReconciler) memberPods(ctx context.Context, c *etcdv1alpha1.EtcdCluster) ([]corev1.Pod, error) {
	var pods corev1.PodList
	if err := r.APIReader.List(ctx, &pods, client.InNamespace(c.Namespace), client.MatchingLabels(resources.SelectorLabels(c))); err != nil {
		return nil, fmt.Errorf("list member pods: %w", err)
	}
	var members []corev1.Pod
	for _, p := range pods.Items {
		if o := podOrdinal(p.Name); o >= 0 && p.Name == resources.MemberName(c, o) {
			members = append(members, p)
		}
	}
	return members, nil
}

// setReplicas scales the StatefulSet, unless it already is at n.
func (r *EtcdRestoreReconciler) setReplicas(ctx context.Context, sts *appsv1.StatefulSet, n int32) error {
	if sts.Spec.Replicas != nil && *sts.Spec.Replicas == n {
		return nil
	}
	before := sts.DeepCopy()
	sts.Spec.Replicas = ptr.To(n)
	if err := r.Patch(ctx, sts, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("scale StatefulSet %s to %d: %w", sts.Name, n, err)
	}
	logf.FromContext(ctx).Info("Scaled the StatefulSet for a restore", "replicas", n)
	return nil
}
