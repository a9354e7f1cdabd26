package controller

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
	"github.com/quorum-operator/quorum/internal/resources"
)

// start checks the request and, if nothing stands against it, marks the
// cluster and stops its members with the restore in their template. A
// restore refused here changed nothing. Each write is idempotent: a pass
// killed after the mark or after the StatefulSet write is completed by the
// next, which finds the mark its own.
func (r *EtcdRestoreReconciler) start(ctx context.Context, rs *etcdv1alpha1.EtcdRestore, t restoreTarget) error {
	if t.ours(rs) && t.restarting(rs) {
		// An earlier pass got as far as stopping the members, and was
		// killed before it recorded that.
		_, revision, _, err := r.resolveSource(ctx, rs)
		if err != nil {
			return err
		}
		return r.enterStopping(ctx, rs, t, max(revision, 0))
	}
	if why := refusal(rs, t); why != "" {
		return r.refuse(ctx, rs, t, why)
	}
	src, revision, why, err := r.resolveSource(ctx, rs)
	if err != nil {
		return err
	}
	if why != "" {
		if src == nil && revision < 0 {
			// Waiting for the backup to finish: nothing was done.
			rs.Status.Phase, rs.Status.Message = etcdv1alpha1.RestorePending, why
			return nil
		}
		return r.refuse(ctx, rs, t, why)
	}
	if err := r.mark(ctx, rs, t); err != nil {
		return err
	}
	if err := r.sealBootstrap(ctx, t); err != nil {
		return err
	}
	if err := r.writeRestoreTemplate(ctx, rs, t, *src); err != nil {
		return err
	}
	return r.enterStopping(ctx, rs, t, revision)
}

// refusal is why the restore may not start on the target as it is, or "".
func refusal(rs *etcdv1alpha1.EtcdRestore, t restoreTarget) string {
	c := t.cluster
	switch {
	case c == nil:
		return fmt.Sprintf("EtcdCluster %q does not exist in this namespace; to create a cluster from a backup use spec.bootstrap.fromBackup", rs.Spec.ClusterName)
	case !c.DeletionTimestamp.IsZero():
		return fmt.Sprintf("EtcdCluster %q is being deleted", c.Name)
	case c.Annotations[etcdv1alpha1.AnnotationRestoring] != "" && !t.ours(rs):
		return fmt.Sprintf("EtcdRestore %q is restoring EtcdCluster %q now; one restore at a time", c.Annotations[etcdv1alpha1.AnnotationRestoring], c.Name)
	case emptyDirStorage(c):
		return fmt.Sprintf("EtcdCluster %q keeps its data in emptyDir volumes, which are lost when the members stop, so its data cannot be kept aside; create a new cluster from the backup with spec.bootstrap.fromBackup instead", c.Name)
	case t.sts == nil:
		return fmt.Sprintf("EtcdCluster %q has no members yet (no StatefulSet)", c.Name)
	}
	return ""
}

// resolveSource finds the snapshot the restore names, and the revision it
// holds (0 when unknown). why says why it cannot be restored; with a nil
// source and revision -1 it is a wait (the backup has not finished).
func (r *EtcdRestoreReconciler) resolveSource(ctx context.Context, rs *etcdv1alpha1.EtcdRestore) (*resources.RestoreSource, int64, string, error) {
	from := &rs.Spec.Source
	if from.BackupName == "" {
		src := resources.RestoreFromLocation(from)
		return &src, 0, "", nil
	}
	var b etcdv1alpha1.EtcdBackup
	err := r.Get(ctx, client.ObjectKey{Namespace: rs.Namespace, Name: from.BackupName}, &b)
	if client.IgnoreNotFound(err) != nil {
		return nil, 0, "", fmt.Errorf("get EtcdBackup %s: %w", from.BackupName, err)
	}
	b.Name = from.BackupName // a Get that found nothing may clear it
	if why, failed := r.backupUnusable(&b, err != nil); failed {
		return nil, 0, why, nil
	}
	if b.Status.Phase != etcdv1alpha1.BackupSucceeded {
		return nil, -1, fmt.Sprintf("waiting for EtcdBackup %q to complete before restoring from it", b.Name), nil
	}
	src := resources.RestoreFromBackup(&b)
	return &src, b.Status.Revision, "", nil
}

// backupUnusable says why a backup may not be restored: missing, failed,
// or its snapshot failed verification.
func (r *EtcdRestoreReconciler) backupUnusable(b *etcdv1alpha1.EtcdBackup, missing bool) (string, bool) {
	switch {
	case missing:
		return fmt.Sprintf("EtcdBackup %q does not exist in this namespace", b.Name), true
	case b.Status.Phase == etcdv1alpha1.BackupFailed:
		return fmt.Sprintf("EtcdBackup %q failed: %s", b.Name, b.Status.Message), true
	case b.Status.Phase == etcdv1alpha1.BackupSucceeded && r.VerificationFailed != nil:
		if why, failed := r.VerificationFailed(b); failed {
			return fmt.Sprintf("EtcdBackup %q failed its verification: %s", b.Name, why), true
		}
	}
	return "", false
}

// refuse ends the restore before it changed anything. A mark it set in a
// pass that was killed before the StatefulSet was written is removed.
func (r *EtcdRestoreReconciler) refuse(ctx context.Context, rs *etcdv1alpha1.EtcdRestore, t restoreTarget, why string) error {
	if t.ours(rs) && !t.restarting(rs) {
		if err := r.unmark(ctx, t); err != nil {
			return err
		}
	}
	now := metav1.Now()
	rs.Status.Phase, rs.Status.Message, rs.Status.FinishedAt = etcdv1alpha1.RestoreFailed, "Refused, nothing was changed: "+why, &now
	r.event(rs, corev1.EventTypeWarning, "RestoreRefused", "%s", rs.Status.Message)
	return nil
}

// mark tells the cluster's reconciler to keep its hands off, and other
// restores that this one runs. The optimistic lock makes two restores
// that start at once see each other: one write fails, and its next pass
// finds the other's mark.
func (r *EtcdRestoreReconciler) mark(ctx context.Context, rs *etcdv1alpha1.EtcdRestore, t restoreTarget) error {
	if t.ours(rs) {
		return nil
	}
	c := t.cluster
	before := c.DeepCopy()
	if c.Annotations == nil {
		c.Annotations = map[string]string{}
	}
	c.Annotations[etcdv1alpha1.AnnotationRestoring] = rs.Name
	if err := r.Patch(ctx, c, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("mark EtcdCluster %s as restoring: %w", c.Name, err)
	}
	return nil
}

// dropRestoreContainer removes the in-place restore from the member
// template, hash kept: no member restarts for it.
func (r *EtcdRestoreReconciler) dropRestoreContainer(ctx context.Context, t restoreTarget) error {
	if resources.InPlaceRestoreID(&t.sts.Spec.Template) == "" {
		return nil
	}
	updated := t.sts.DeepCopy()
	updated.Spec.Template = resources.WithoutInPlaceRestore(&t.sts.Spec.Template)
	if err := r.Patch(ctx, updated, client.MergeFrom(t.sts)); err != nil {
		return fmt.Errorf("drop the in-place restore from the StatefulSet: %w", err)
	}
	t.sts.Spec.Template = updated.Spec.Template
	return nil
}

func (r *EtcdRestoreReconciler) unmark(ctx context.Context, t restoreTarget) error {
	c := t.cluster
	before := c.DeepCopy()
	delete(c.Annotations, etcdv1alpha1.AnnotationRestoring)
	if err := r.Patch(ctx, c, client.MergeFrom(before)); err != nil {
		return fmt.Errorf("remove the restoring mark of EtcdCluster %s: %w", c.Name, err)
	}
	return nil
}

// sealBootstrap lets no member start with an empty data directory: every
// member starts on restored data, and etcd reads these settings only
// without data. The restore's own settings are in its container's
// arguments.
func (r *EtcdRestoreReconciler) sealBootstrap(ctx context.Context, t restoreTarget) error {
	var cm corev1.ConfigMap
	key := client.ObjectKey{Namespace: t.cluster.Namespace, Name: resources.ConfigMapName(t.cluster)}
	if err := r.Get(ctx, key, &cm); err != nil {
		return fmt.Errorf("get the bootstrap ConfigMap: %w", err)
	}
	if resources.IsSealed(&cm) {
		return nil
	}
	sealed := resources.SealedBootstrapConfigMap(t.cluster, time.Now())
	cm.Data, cm.Annotations = sealed.Data, sealed.Annotations
	if err := r.Update(ctx, &cm); err != nil {
		return fmt.Errorf("seal the bootstrap ConfigMap: %w", err)
	}
	return nil
}

// writeRestoreTemplate gives the StatefulSet the in-place restore init
// container of rs and scales it to 0. The template change restarts no pod
// by itself (OnDelete); the members start on it when they are scaled up.
func (r *EtcdRestoreReconciler) writeRestoreTemplate(ctx context.Context, rs *etcdv1alpha1.EtcdRestore, t restoreTarget, src resources.RestoreSource) error {
	sts := t.sts
	before := sts.DeepCopy()
	sts.Spec.Template = resources.WithInPlaceRestore(&sts.Spec.Template, t.cluster, src, r.ToolImage, string(rs.UID), int(t.cluster.Spec.Size))
	sts.Spec.Replicas = new(int32)
	if err := r.Patch(ctx, sts, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("give StatefulSet %s the restore and scale it to 0: %w", sts.Name, err)
	}
	return nil
}

// rewriteRestoreTemplate writes the restore template again, if the
// snapshot can still be resolved; otherwise the restore waits, saying why.
func (r *EtcdRestoreReconciler) rewriteRestoreTemplate(ctx context.Context, rs *etcdv1alpha1.EtcdRestore, t restoreTarget) error {
	src, _, why, err := r.resolveSource(ctx, rs)
	if err != nil {
		return err
	}
	if src == nil {
		rs.Status.Message = "The StatefulSet lost the restore init container, and the snapshot cannot be found again: " + why
		return nil
	}
	return r.writeRestoreTemplate(ctx, rs, t, *src)
}

func (r *EtcdRestoreReconciler) enterStopping(ctx context.Context, rs *etcdv1alpha1.EtcdRestore, t restoreTarget, revision int64) error {
	now := metav1.Now()
	rs.Status.Phase, rs.Status.StartedAt, rs.Status.FromRevision = etcdv1alpha1.RestoreStopping, &now, revision
	rs.Status.Message = "Stopping every member of the cluster"
	r.event(rs, corev1.EventTypeNormal, "RestoreStarted", "Stopping the members of EtcdCluster %s to restore them from %s", t.cluster.Name, sourceText(rs))
	r.event(t.cluster, corev1.EventTypeWarning, "RestoreStarted", "EtcdRestore %s stops every member to restore them from %s", rs.Name, sourceText(rs))
	logf.FromContext(ctx).Info("In-place restore started", "restore", rs.Name, "revision", revision)
	return nil
}

// stop waits until no member pod exists and the StatefulSet controller has
// seen the scale to 0.
func (r *EtcdRestoreReconciler) stop(ctx context.Context, rs *etcdv1alpha1.EtcdRestore, t restoreTarget) error {
	if t.cluster == nil || t.sts == nil {
		return r.lost(rs, t)
	}
	if !t.restarting(rs) {
		// The cluster's reconciler, in a pass begun before the mark,
		// rewrote the template: the members are stopping, so give it back.
		return r.rewriteRestoreTemplate(ctx, rs, t)
	}
	if err := r.setReplicas(ctx, t.sts, 0); err != nil {
		return err
	}
	pods, err := r.memberPods(ctx, t.cluster)
	if err != nil {
		return err
	}
	st := t.sts.Status
	if len(pods) > 0 || st.ObservedGeneration < t.sts.Generation || st.Replicas > 0 {
		rs.Status.Message = fmt.Sprintf("Waiting for the members to stop: %d member pods left", len(pods))
		return nil
	}
	// The members are started by the next stage, once this one is
	// recorded: a pass killed in between must not find them starting
	// while its phase still says to stop them.
	size := resources.InPlaceRestoreMembers(&t.sts.Spec.Template)
	rs.Status.Phase, rs.Status.PreviousClusterID = etcdv1alpha1.RestoreRestoring, t.cluster.Status.ClusterID
	rs.Status.Message = fmt.Sprintf("Starting %d members on the restored data", size)
	r.event(rs, corev1.EventTypeNormal, "MembersStopped", "Every member stopped; starting %d members, each restoring its data (the old data is moved aside)", size)
	return nil
}

// finish starts the members on the restore, waits until the cluster is
// healthy under a new cluster ID, then removes the mark. A member whose restore fails is reported; its pod
// retries (nothing was moved aside before the snapshot was verified).
func (r *EtcdRestoreReconciler) finish(ctx context.Context, rs *etcdv1alpha1.EtcdRestore, t restoreTarget) (bool, error) {
	if t.cluster == nil || t.sts == nil {
		return false, r.lost(rs, t)
	}
	// The restore's size, not the spec's: a size edited meanwhile is the
	// cluster reconciler's to carry out once the mark is gone.
	size := int(t.cluster.Spec.Size)
	if t.restarting(rs) {
		size = resources.InPlaceRestoreMembers(&t.sts.Spec.Template)
	}
	if t.ours(rs) && t.restarting(rs) {
		if err := r.setReplicas(ctx, t.sts, int32(size)); err != nil {
			return false, err
		}
	}
	if why := restoredHealth(t.cluster, rs.Status.PreviousClusterID, size); why != "" {
		// Not yet; a member whose restore failed is why it is stuck
		// (judged only now: a failed try that a retry overcame stays in
		// the pod's status).
		return r.restoreFailed(ctx, rs, t, why)
	}
	if t.ours(rs) {
		// The restore container goes before the mark: with the mark gone
		// and the cluster paused (or its reconciler waiting on something
		// else), a pod on a lost claim would otherwise restore the old
		// snapshot under its old member ID instead of meeting the guard.
		if err := r.dropRestoreContainer(ctx, t); err != nil {
			return false, err
		}
		if err := r.unmark(ctx, t); err != nil {
			return false, err
		}
	}
	now := metav1.Now()
	rs.Status.Phase, rs.Status.FinishedAt, rs.Status.NewClusterID = etcdv1alpha1.RestoreSucceeded, &now, t.cluster.Status.ClusterID
	rs.Status.Message = fmt.Sprintf("Restored from %s: cluster ID %s (was %s)", sourceText(rs), rs.Status.NewClusterID, orNone(rs.Status.PreviousClusterID))
	r.event(rs, corev1.EventTypeNormal, "Restored", "%s", rs.Status.Message)
	r.event(t.cluster, corev1.EventTypeNormal, "Restored", "EtcdRestore %s: %s", rs.Name, rs.Status.Message)
	return false, nil
}

// restoreFailed reports a member whose restore container failed, or else
// why the restore waits. stalled is true for a failure.
func (r *EtcdRestoreReconciler) restoreFailed(ctx context.Context, rs *etcdv1alpha1.EtcdRestore, t restoreTarget, why string) (bool, error) {
	rs.Status.Message = why
	pods, err := r.memberPods(ctx, t.cluster)
	if err != nil {
		return false, err
	}
	for i := range pods {
		if msg, failed := resources.RestoreFailure(&pods[i]); failed {
			rs.Status.Message = fmt.Sprintf("%s could not restore the snapshot (it retries; its data was not moved): %s", pods[i].Name, msg)
			r.event(rs, corev1.EventTypeWarning, "MemberRestoreFailed", "%s", rs.Status.Message)
			return true, nil
		}
	}
	return false, nil
}

// restoredHealth is what the restored cluster still lacks, or "": every
// member healthy and Available, under a cluster ID that is not the old one.
func restoredHealth(c *etcdv1alpha1.EtcdCluster, previousID string, size int) string {
	st := c.Status
	if st.ClusterID == "" || st.ClusterID == previousID {
		return fmt.Sprintf("Waiting for the restored members to form a new cluster (cluster ID now %s)", orNone(st.ClusterID))
	}
	healthy := 0
	for _, m := range st.Members {
		if m.Healthy {
			healthy++
		}
	}
	if healthy != size || len(st.Members) != size || !meta.IsStatusConditionTrue(st.Conditions, etcdv1alpha1.ConditionAvailable) {
		return fmt.Sprintf("Waiting for the restored cluster %s to be healthy: %d of %d members healthy", st.ClusterID, healthy, size)
	}
	return ""
}

// lost reports a cluster or StatefulSet that went away mid-restore. The mark stays (if the cluster
// does): the cluster's reconciler must not act on a half-restored cluster.
func (r *EtcdRestoreReconciler) lost(rs *etcdv1alpha1.EtcdRestore, t restoreTarget) error {
	now := metav1.Now()
	what := "the StatefulSet was deleted"
	if t.cluster == nil {
		what = "the EtcdCluster was deleted"
	}
	rs.Status.Message = fmt.Sprintf("Failed while %s: %s; see docs/backup.md (Restoring a cluster in place) to recover by hand", rs.Status.Phase, what)
	rs.Status.Phase, rs.Status.FinishedAt = etcdv1alpha1.RestoreFailed, &now
	r.event(rs, corev1.EventTypeWarning, "RestoreFailed", "%s", rs.Status.Message)
	return nil
}

func sourceText(rs *etcdv1alpha1.EtcdRestore) string {
	s := rs.Spec.Source
	switch {
	case s.BackupName != "" && rs.Status.FromRevision > 0:
		return fmt.Sprintf("EtcdBackup %s (revision %d)", s.BackupName, rs.Status.FromRevision)
	case s.BackupName != "":
		return "EtcdBackup " + s.BackupName
	case s.S3 != nil:
		return fmt.Sprintf("s3://%s/%s%s", s.S3.Bucket, s.S3.Prefix, s.S3.Key)
	case s.PersistentVolumeClaim != nil:
		return fmt.Sprintf("pvc://%s/%s", s.PersistentVolumeClaim.ClaimName, s.PersistentVolumeClaim.Path)
	}
	return "the snapshot"
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
