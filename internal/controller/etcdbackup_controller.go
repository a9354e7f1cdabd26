package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
	"github.com/quorum-operator/quorum/internal/backup"
	"github.com/quorum-operator/quorum/internal/resources"
)

// requeueWhileBackingUp polls a running backup's pod for failures the Job
// does not report (a missing Secret keeps the pod waiting forever).
const requeueWhileBackingUp = 5 * time.Second

// Pod waiting reasons that mean a backup pod cannot start until a person
// acts: the backup fails with the kubelet's message.
var backupPodStuck = map[string]bool{
	"CreateContainerConfigError": true, "ErrImagePull": true, "ImagePullBackOff": true, "InvalidImageName": true,
}

// EtcdBackupReconciler takes each EtcdBackup through one Job that runs
// `manager backup` against a healthy member.
type EtcdBackupReconciler struct {
	client.Client
	Scheme   *runtime.Scheme
	Recorder events.EventRecorder
	// JobImage is the operator's own image, which carries the backup
	// command.
	JobImage string
	// Pods reads a backup Job's pods straight from the API server: the
	// manager's cache holds member pods only (CacheOptions), and the pods
	// are read only when a Job failed or looks stuck.
	Pods client.Reader
}

// +kubebuilder:rbac:groups=etcd.quorum.dev,resources=etcdbackups,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=etcd.quorum.dev,resources=etcdbackups/status,verbs=get;patch
// +kubebuilder:rbac:groups=etcd.quorum.dev,resources=etcdbackups/finalizers,verbs=update
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch;create;delete

// Reconcile starts the backup's Job once, then reports how it ended.
func (r *EtcdBackupReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var b etcdv1alpha1.EtcdBackup
	if err := r.Get(ctx, req.NamespacedName, &b); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !b.DeletionTimestamp.IsZero() {
		return r.deleteSnapshot(ctx, &b)
	}
	if needsVerification(&b) {
		return r.verifyBackup(ctx, &b)
	}
	if finished(&b) {
		return ctrl.Result{}, r.stopUnfinishedJob(ctx, &b)
	}
	before := b.DeepCopy()
	result, err := r.advance(ctx, &b)
	if err != nil {
		return ctrl.Result{}, err
	}
	setBackupKstatus(&b)
	if err := r.recordProgress(ctx, before, &b); err != nil {
		return ctrl.Result{}, err
	}
	if finished(&b) {
		return ctrl.Result{}, nil
	}
	return result, nil
}

// recordProgress writes the backup's status if it changed, and stops the
// Job of a backup that has ended. The optimistic lock refuses a write based
// on a stale read: a backup that already ended must never be started again.
func (r *EtcdBackupReconciler) recordProgress(ctx context.Context, before, b *etcdv1alpha1.EtcdBackup) error {
	if !equality.Semantic.DeepEqual(before.Status, b.Status) {
		if err := r.Status().Patch(ctx, b, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
			return fmt.Errorf("patch backup status: %w", err)
		}
	}
	if finished(b) {
		return r.stopUnfinishedJob(ctx, b)
	}
	return nil
}

// SnapshotFinalizer on an EtcdBackup deletes its snapshot (object or file)
// when the EtcdBackup is deleted. Schedules put it on the backups they
// create, so pruning removes the data too; a backup created by hand keeps
// its snapshot unless the finalizer is added. It never holds a backup
// forever: where the snapshot cannot be deleted (the Job failed, or the
// namespace is being deleted and no Job can run there) the backup goes
// and the snapshot stays, with a log line and an event that say where.
const SnapshotFinalizer = "etcd.quorum.dev/delete-snapshot"

// deleteSnapshot runs the Job that deletes a deleted backup's snapshot,
// then lets the backup go. Only a succeeded backup has a snapshot: a failed
// upload left none.
func (r *EtcdBackupReconciler) deleteSnapshot(ctx context.Context, b *etcdv1alpha1.EtcdBackup) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(b, SnapshotFinalizer) {
		return ctrl.Result{}, nil
	}
	uploading, err := r.finishUpload(ctx, b)
	if err != nil {
		return ctrl.Result{}, err
	}
	if uploading {
		return ctrl.Result{RequeueAfter: requeueWhileBackingUp}, nil
	}
	if b.Status.Phase == etcdv1alpha1.BackupSucceeded {
		done, err := r.runSnapshotDelete(ctx, b)
		if err != nil {
			return ctrl.Result{}, err
		}
		if !done {
			return ctrl.Result{RequeueAfter: requeueWhileBackingUp}, nil
		}
	}
	before := b.DeepCopy()
	controllerutil.RemoveFinalizer(b, SnapshotFinalizer)
	return ctrl.Result{}, r.Patch(ctx, b, client.MergeFrom(before))
}

// runSnapshotDelete starts the Job that deletes the backup's snapshot or
// reads how it ended. It reports done once the Job ended or cannot run.
func (r *EtcdBackupReconciler) runSnapshotDelete(ctx context.Context, b *etcdv1alpha1.EtcdBackup) (bool, error) {
	var job batchv1.Job
	err := r.Get(ctx, client.ObjectKey{Namespace: b.Namespace, Name: resources.SnapshotDeleteJobName(b)}, &job)
	switch {
	case client.IgnoreNotFound(err) != nil:
		return false, err
	case err != nil:
		return r.startSnapshotDelete(ctx, b)
	case jobCondition(&job, batchv1.JobComplete):
		r.Recorder.Eventf(b, nil, corev1.EventTypeNormal, "SnapshotDeleted", "SnapshotDeleted", "Deleted %s", b.Status.Location)
		return true, nil
	case jobCondition(&job, batchv1.JobFailed):
		r.leftBehind(ctx, b, "SnapshotNotDeleted", b.Status.Location, "the delete Job failed: "+r.lastPodMessage(ctx, &job))
		return true, nil
	}
	return false, nil
}

// startSnapshotDelete creates the delete Job. In a namespace being deleted
// the API server refuses every new object, and the Secret and claim the
// Job needs are going too: the snapshot is left where it is, so that the
// namespace's deletion completes.
func (r *EtcdBackupReconciler) startSnapshotDelete(ctx context.Context, b *etcdv1alpha1.EtcdBackup) (bool, error) {
	job := resources.SnapshotDeleteJob(b, r.JobImage)
	if err := controllerutil.SetControllerReference(b, job, r.Scheme); err != nil {
		return false, err
	}
	err := r.Create(ctx, job)
	if namespaceTerminating(err) {
		r.leftBehind(ctx, b, "SnapshotNotDeleted", b.Status.Location, "its namespace is being deleted, where no Job can run")
		return true, nil
	}
	if client.IgnoreAlreadyExists(err) != nil {
		return false, fmt.Errorf("create snapshot delete job: %w", err)
	}
	return false, nil
}

// namespaceTerminating says whether err is the API server refusing to
// create an object in a namespace that is being deleted.
func namespaceTerminating(err error) bool {
	return apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause)
}

// leftBehind records a snapshot the operator lets go of without deleting
// it: a log line with its location, which always works, and a warning
// event, which a namespace being deleted no longer accepts.
func (r *EtcdBackupReconciler) leftBehind(ctx context.Context, b *etcdv1alpha1.EtcdBackup, reason, location, why string) {
	logf.FromContext(ctx).Info("Snapshot left behind: delete it by hand if it is not wanted", "location", location, "reason", why)
	r.Recorder.Eventf(b, nil, corev1.EventTypeWarning, reason, reason, "Could not delete %s, which may remain: %s", location, why)
}

// finishUpload lets a backup deleted while its Job still runs end that
// Job and record how it went, so a snapshot it wrote is deleted with it
// instead of being left with no backup naming it. It reports whether the
// Job still runs. A backup whose Job never started wrote nothing; one
// whose Job went away before it was seen to end (deleted with its
// namespace, or by hand) may have written its snapshot, which is recorded
// as left behind.
func (r *EtcdBackupReconciler) finishUpload(ctx context.Context, b *etcdv1alpha1.EtcdBackup) (bool, error) {
	if finished(b) {
		return false, nil
	}
	var job batchv1.Job
	err := r.Get(ctx, client.ObjectKey{Namespace: b.Namespace, Name: resources.BackupJobName(b)}, &job)
	if apierrors.IsNotFound(err) && b.Status.Phase == etcdv1alpha1.BackupRunning {
		r.leftBehind(ctx, b, "SnapshotMayRemain", resources.BackupLocation(b), "the backup's Job went away before it was seen to end")
	}
	if err != nil {
		return false, client.IgnoreNotFound(err)
	}
	before := b.DeepCopy()
	if _, err := r.observeJob(ctx, b, &job); err != nil {
		return false, err
	}
	if err := r.recordProgress(ctx, before, b); err != nil {
		return false, err
	}
	return !finished(b), nil
}

// stopUnfinishedJob deletes the Job of a failed backup that still runs (its
// pod cannot start and would wait forever). It runs only after the failure
// is recorded, so the Job is never started again.
func (r *EtcdBackupReconciler) stopUnfinishedJob(ctx context.Context, b *etcdv1alpha1.EtcdBackup) error {
	var job batchv1.Job
	if err := r.Get(ctx, client.ObjectKey{Namespace: b.Namespace, Name: resources.BackupJobName(b)}, &job); err != nil {
		return client.IgnoreNotFound(err)
	}
	if jobCondition(&job, batchv1.JobComplete) || jobCondition(&job, batchv1.JobFailed) || !job.DeletionTimestamp.IsZero() {
		return nil
	}
	return client.IgnoreNotFound(r.Delete(ctx, &job, client.PropagationPolicy(metav1.DeletePropagationBackground)))
}

func finished(b *etcdv1alpha1.EtcdBackup) bool {
	return b.Status.Phase == etcdv1alpha1.BackupSucceeded || b.Status.Phase == etcdv1alpha1.BackupFailed
}

// advance moves the backup one step: start its Job, or read how it went.
func (r *EtcdBackupReconciler) advance(ctx context.Context, b *etcdv1alpha1.EtcdBackup) (ctrl.Result, error) {
	var job batchv1.Job
	err := r.Get(ctx, client.ObjectKey{Namespace: b.Namespace, Name: resources.BackupJobName(b)}, &job)
	if client.IgnoreNotFound(err) != nil {
		return ctrl.Result{}, err
	}
	if err != nil {
		return r.start(ctx, b)
	}
	return r.observeJob(ctx, b, &job)
}

// observeJob records how the backup's Job is going: done, failed, stuck,
// or still taking the snapshot.
func (r *EtcdBackupReconciler) observeJob(ctx context.Context, b *etcdv1alpha1.EtcdBackup, job *batchv1.Job) (ctrl.Result, error) {
	switch {
	case jobCondition(job, batchv1.JobComplete):
		return ctrl.Result{}, r.succeed(ctx, b, job)
	case jobCondition(job, batchv1.JobFailed):
		r.fail(b, "the backup failed: "+r.lastPodMessage(ctx, job))
		return ctrl.Result{}, nil
	}
	if why, stuck := r.stuckPod(ctx, job); stuck {
		r.fail(b, "the backup pod cannot start: "+why)
		return ctrl.Result{}, nil
	}
	b.Status.Phase, b.Status.Message = etcdv1alpha1.BackupRunning, "taking the snapshot"
	return ctrl.Result{RequeueAfter: requeueWhileBackingUp}, nil
}

// start creates the Job against a healthy member, preferring a follower so
// the leader is not loaded with the snapshot.
func (r *EtcdBackupReconciler) start(ctx context.Context, b *etcdv1alpha1.EtcdBackup) (ctrl.Result, error) {
	var c etcdv1alpha1.EtcdCluster
	if err := r.Get(ctx, client.ObjectKey{Namespace: b.Namespace, Name: b.Spec.ClusterName}, &c); err != nil {
		if client.IgnoreNotFound(err) == nil {
			r.fail(b, fmt.Sprintf("EtcdCluster %q does not exist in namespace %s", b.Spec.ClusterName, b.Namespace))
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	if !hasHealthyVoter(&c) {
		b.Status.Phase, b.Status.Message = etcdv1alpha1.BackupPending, fmt.Sprintf("waiting for a healthy member of %s", c.Name)
		return ctrl.Result{RequeueAfter: requeueWhileUnready}, nil
	}
	job := resources.BackupJob(b, &c, r.JobImage)
	if err := controllerutil.SetControllerReference(b, job, r.Scheme); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.Create(ctx, job); client.IgnoreAlreadyExists(err) != nil {
		return ctrl.Result{}, fmt.Errorf("create backup job: %w", err)
	}
	now := metav1.Now()
	b.Status.Phase, b.Status.StartTime = etcdv1alpha1.BackupRunning, &now
	b.Status.Message = "taking the snapshot"
	r.Recorder.Eventf(b, nil, corev1.EventTypeNormal, "BackupStarted", "BackupStarted", "Taking a snapshot of %s", c.Name)
	return ctrl.Result{RequeueAfter: requeueWhileBackingUp}, nil
}

// hasHealthyVoter says whether the cluster's status shows a member worth
// starting a Job for. It only saves a Job that would fail: the status
// can be 30 s old, so the Job itself picks and checks the member it reads
// from when the snapshot begins (internal/backup).
func hasHealthyVoter(c *etcdv1alpha1.EtcdCluster) bool {
	for _, m := range c.Status.Members {
		if m.Healthy && !m.Learner {
			return true
		}
	}
	return false
}

// succeed copies the backup command's result into status.
func (r *EtcdBackupReconciler) succeed(ctx context.Context, b *etcdv1alpha1.EtcdBackup, job *batchv1.Job) error {
	var res backup.Result
	msg := r.lastPodMessage(ctx, job)
	if err := json.Unmarshal([]byte(msg), &res); err != nil {
		r.fail(b, fmt.Sprintf("the backup Job completed but its result cannot be read (%v): %q", err, msg))
		return nil
	}
	start, end := metav1.NewTime(res.StartTime), metav1.NewTime(res.EndTime)
	b.Status.Phase, b.Status.Message = etcdv1alpha1.BackupSucceeded, ""
	b.Status.StartTime, b.Status.CompletionTime = &start, &end
	b.Status.SizeBytes, b.Status.SHA256, b.Status.Revision = res.SizeBytes, res.SHA256, res.Revision
	b.Status.EtcdVersion, b.Status.Location = res.EtcdVersion, res.Location
	b.Status.Member, b.Status.MemberID = res.Member, res.MemberID
	if h := res.KVHash; h != nil {
		b.Status.KVHash = &etcdv1alpha1.BackupKVHash{Revision: h.Revision, CompactRevision: h.CompactRevision, Hash: int64(h.Hash), Keys: h.Keys}
	}
	meta.SetStatusCondition(&b.Status.Conditions, metav1.Condition{Type: "Complete", Status: metav1.ConditionTrue,
		Reason: "SnapshotWritten", Message: fmt.Sprintf("%d bytes at revision %d from %s written to %s", res.SizeBytes, res.Revision, res.Member, res.Location)})
	r.Recorder.Eventf(b, nil, corev1.EventTypeNormal, "BackupSucceeded", "BackupSucceeded",
		"Wrote %d bytes (revision %d, from %s) to %s", res.SizeBytes, res.Revision, res.Member, res.Location)
	return nil
}

func (r *EtcdBackupReconciler) fail(b *etcdv1alpha1.EtcdBackup, why string) {
	b.Status.Phase, b.Status.Message = etcdv1alpha1.BackupFailed, why
	meta.SetStatusCondition(&b.Status.Conditions, metav1.Condition{Type: "Failed", Status: metav1.ConditionTrue, Reason: "BackupFailed", Message: why})
	r.Recorder.Eventf(b, nil, corev1.EventTypeWarning, "BackupFailed", "BackupFailed", "%s", why)
}

// backupPods lists the Job's pods, newest first.
func (r *EtcdBackupReconciler) backupPods(ctx context.Context, job *batchv1.Job) []corev1.Pod {
	var pods corev1.PodList
	if err := r.Pods.List(ctx, &pods, client.InNamespace(job.Namespace), client.MatchingLabels(job.Spec.Template.Labels)); err != nil {
		return nil
	}
	// Only the Job's own: a Job of the same name deleted before (a
	// verification asked for again) may still have pods.
	items := slices.DeleteFunc(pods.Items, func(p corev1.Pod) bool { return !metav1.IsControlledBy(&p, job) })
	sort.Slice(items, func(i, j int) bool { return items[j].CreationTimestamp.Before(&items[i].CreationTimestamp) })
	return items
}

// lastPodMessage is what the newest finished backup pod wrote to its
// termination log: the result, or the error.
func (r *EtcdBackupReconciler) lastPodMessage(ctx context.Context, job *batchv1.Job) string {
	for _, p := range r.backupPods(ctx, job) {
		for _, cs := range p.Status.ContainerStatuses {
			if t := cs.State.Terminated; t != nil && t.Message != "" {
				return t.Message
			}
		}
	}
	return "no pod of the Job reported why"
}

// stuckPod finds a backup pod that cannot start.
func (r *EtcdBackupReconciler) stuckPod(ctx context.Context, job *batchv1.Job) (string, bool) {
	for _, p := range r.backupPods(ctx, job) {
		for _, cs := range p.Status.ContainerStatuses {
			if w := cs.State.Waiting; w != nil && backupPodStuck[w.Reason] {
				return fmt.Sprintf("%s: %s", w.Reason, w.Message), true
			}
		}
	}
	return "", false
}

func jobCondition(job *batchv1.Job, t batchv1.JobConditionType) bool {
	for _, c := range job.Status.Conditions {
		if c.Type == t && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// SetupWithManager registers the reconciler; Job changes wake it.
func (r *EtcdBackupReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&etcdv1alpha1.EtcdBackup{}).
		Owns(&batchv1.Job{}).
		Named("etcdbackup").
		Complete(r)
}
