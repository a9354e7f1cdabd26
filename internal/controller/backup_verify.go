package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
	"github.com/quorum-operator/quorum/internal/resources"
	"github.com/quorum-operator/quorum/internal/verify"
)

// needsVerification says whether a succeeded backup asks to be verified and
// has not been: once for spec.verify, and once more for each new value of
// the annotation etcd.quorum.dev/verify.
func needsVerification(b *etcdv1alpha1.EtcdBackup) bool {
	if b.Status.Phase != etcdv1alpha1.BackupSucceeded || !b.DeletionTimestamp.IsZero() {
		return false
	}
	v, request := b.Status.Verification, b.Annotations[etcdv1alpha1.AnnotationVerify]
	if request != "" {
		return v == nil || v.Request != request
	}
	return b.Spec.Verify && v == nil
}

// verifyBackup starts the Job that verifies the backup's snapshot, or
// records how it ended: status.verification, the condition Verified, and
// an event (a warning when it failed).
func (r *EtcdBackupReconciler) verifyBackup(ctx context.Context, b *etcdv1alpha1.EtcdBackup) (ctrl.Result, error) {
	before := b.DeepCopy()
	result, err := r.advanceVerification(ctx, b)
	if err != nil {
		return ctrl.Result{}, err
	}
	if err := r.recordProgress(ctx, before, b); err != nil {
		return ctrl.Result{}, err
	}
	return result, nil
}

func (r *EtcdBackupReconciler) advanceVerification(ctx context.Context, b *etcdv1alpha1.EtcdBackup) (ctrl.Result, error) {
	var job batchv1.Job
	err := r.Get(ctx, client.ObjectKey{Namespace: b.Namespace, Name: resources.VerifyJobName(b)}, &job)
	switch {
	case client.IgnoreNotFound(err) != nil:
		return ctrl.Result{}, err
	case err != nil:
		return r.startVerification(ctx, b)
	case job.Annotations[etcdv1alpha1.AnnotationVerify] != b.Annotations[etcdv1alpha1.AnnotationVerify]:
		// The Job of an earlier request: a new one starts once it is gone.
		if job.DeletionTimestamp.IsZero() {
			if err := r.Delete(ctx, &job, client.PropagationPolicy(metav1.DeletePropagationBackground)); client.IgnoreNotFound(err) != nil {
				return ctrl.Result{}, err
			}
		}
		return ctrl.Result{RequeueAfter: time.Second}, nil
	case jobCondition(&job, batchv1.JobComplete):
		r.recordVerification(b, r.lastPodMessage(ctx, &job), true)
	case jobCondition(&job, batchv1.JobFailed):
		r.recordVerification(b, r.lastPodMessage(ctx, &job), false)
	default:
		if why, stuck := r.stuckPod(ctx, &job); stuck {
			r.recordVerification(b, "the verification pod cannot start: "+why, false)
			return ctrl.Result{}, client.IgnoreNotFound(r.Delete(ctx, &job, client.PropagationPolicy(metav1.DeletePropagationBackground)))
		}
		return ctrl.Result{RequeueAfter: requeueWhileBackingUp}, nil
	}
	return ctrl.Result{}, nil
}

func (r *EtcdBackupReconciler) startVerification(ctx context.Context, b *etcdv1alpha1.EtcdBackup) (ctrl.Result, error) {
	job := resources.VerifyJob(b, r.JobImage)
	if err := controllerutil.SetControllerReference(b, job, r.Scheme); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.Create(ctx, job); client.IgnoreAlreadyExists(err) != nil {
		return ctrl.Result{}, fmt.Errorf("create verification job: %w", err)
	}
	meta.SetStatusCondition(&b.Status.Conditions, metav1.Condition{Type: etcdv1alpha1.ConditionVerified, Status: metav1.ConditionUnknown,
		Reason: "Verifying", Message: "restoring the snapshot into a throwaway etcd"})
	return ctrl.Result{RequeueAfter: requeueWhileBackingUp}, nil
}

// recordVerification copies the verify command's result (msg, its
// termination message) into status. A message that is not a result (the
// pod never ran the command) fails the verification with that message.
func (r *EtcdBackupReconciler) recordVerification(b *etcdv1alpha1.EtcdBackup, msg string, jobSucceeded bool) {
	var res verify.Result
	if err := json.Unmarshal([]byte(msg), &res); err != nil {
		now := time.Now().UTC()
		res = verify.Result{Message: msg, StartTime: now, EndTime: now}
	}
	v := &etcdv1alpha1.BackupVerification{
		Time: &metav1.Time{Time: res.EndTime}, Duration: &metav1.Duration{Duration: res.EndTime.Sub(res.StartTime).Round(time.Millisecond)},
		Revision: res.Revision, Result: etcdv1alpha1.VerificationFailed, Message: res.Message,
		Request: b.Annotations[etcdv1alpha1.AnnotationVerify],
	}
	if res.Restored != nil {
		v.Keys, v.HashRevision, v.Hash = res.Restored.Keys, res.Restored.Revision, int64(res.Restored.Hash)
	}
	cond := metav1.Condition{Type: etcdv1alpha1.ConditionVerified, Status: metav1.ConditionFalse, Reason: "VerificationFailed", Message: res.Message}
	switch {
	case res.Passed && jobSucceeded:
		v.Result = etcdv1alpha1.VerificationPassed
		cond.Status, cond.Reason = metav1.ConditionTrue, "SnapshotVerified"
		r.Recorder.Eventf(b, nil, corev1.EventTypeNormal, "BackupVerified", "BackupVerified", "Verified %s in %s: %s", b.Status.Location, v.Duration.Duration, res.Message)
	case res.Mismatch:
		r.Recorder.Eventf(b, nil, corev1.EventTypeWarning, "VerificationFailed", "VerificationFailed", "%s failed verification: %s", b.Status.Location, res.Message)
	default:
		// Nothing was judged: say so, and do not mark the snapshot bad.
		v.Result = etcdv1alpha1.VerificationError
		cond.Status, cond.Reason = metav1.ConditionUnknown, "VerificationError"
		r.Recorder.Eventf(b, nil, corev1.EventTypeWarning, "VerificationError", "VerificationError", "%s could not be verified: %s", b.Status.Location, res.Message)
	}
	b.Status.Verification = v
	meta.SetStatusCondition(&b.Status.Conditions, cond)
}

// BackupVerificationFailed says why a backup's last verification failed,
// if it did: an in-place restore refuses such a snapshot.
func BackupVerificationFailed(b *etcdv1alpha1.EtcdBackup) (string, bool) {
	v := b.Status.Verification
	if v == nil || v.Result != etcdv1alpha1.VerificationFailed {
		return "", false
	}
	return "the backup failed its verification: " + v.Message, true
}
