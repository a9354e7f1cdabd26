package controller

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/robfig/cron/v3"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
)

// LabelSchedule marks the EtcdBackups a schedule created; it is the only
// tie between them.
const LabelSchedule = "etcd.quorum.dev/schedule"

// EtcdBackupScheduleReconciler creates an EtcdBackup at each scheduled
// time (never while one of its backups still runs) and prunes finished
// ones by count and age. Its backups carry SnapshotFinalizer, so pruning
// a backup deletes its snapshot too.
//
// The backups are not owned by the schedule: an owner reference would let
// the garbage collector delete every backup, and through the finalizer
// every snapshot, the newest good one included, when the schedule is
// deleted (a GitOps prune, a recreate). Pruning by retention is the only
// automatic deletion. A schedule created again under the same name takes
// up the backups by their label and prunes them by its retention.
type EtcdBackupScheduleReconciler struct {
	client.Client
	Recorder events.EventRecorder
	// Now is the clock; time.Now unless a test sets it.
	Now func() time.Time
}

// +kubebuilder:rbac:groups=etcd.quorum.dev,resources=etcdbackupschedules,verbs=get;list;watch
// +kubebuilder:rbac:groups=etcd.quorum.dev,resources=etcdbackupschedules/status,verbs=get;patch
// +kubebuilder:rbac:groups=etcd.quorum.dev,resources=etcdbackupschedules/finalizers,verbs=update
// +kubebuilder:rbac:groups=etcd.quorum.dev,resources=etcdbackups,verbs=get;list;watch;create;patch;delete

// Reconcile runs the schedule once and asks to be called at the next time.
func (r *EtcdBackupScheduleReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var s etcdv1alpha1.EtcdBackupSchedule
	if err := r.Get(ctx, req.NamespacedName, &s); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	before := s.DeepCopy()
	result, err := r.runSchedule(ctx, &s)
	if err != nil {
		return ctrl.Result{}, err
	}
	setScheduleKstatus(&s)
	if !equality.Semantic.DeepEqual(before.Status, s.Status) {
		if err := r.Status().Patch(ctx, &s, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
			return ctrl.Result{}, fmt.Errorf("patch schedule status: %w", err)
		}
	}
	return result, nil
}

func (r *EtcdBackupScheduleReconciler) runSchedule(ctx context.Context, s *etcdv1alpha1.EtcdBackupSchedule) (ctrl.Result, error) {
	sched, err := cron.ParseStandard(s.Spec.Schedule)
	if err != nil {
		setReady(s, metav1.ConditionFalse, "InvalidSchedule", fmt.Sprintf("spec.schedule %q: %v", s.Spec.Schedule, err))
		return ctrl.Result{}, nil
	}
	backups, err := r.backupsOf(ctx, s)
	if err != nil {
		return ctrl.Result{}, err
	}
	if err := r.disown(ctx, s, backups); err != nil {
		return ctrl.Result{}, err
	}
	if !s.DeletionTimestamp.IsZero() {
		// Held by a finalizer (foreground deletion): take no new backup.
		return ctrl.Result{}, nil
	}
	summarize(s, backups)
	if err := r.prune(ctx, s, backups, r.Now()); err != nil {
		return ctrl.Result{}, err
	}
	if s.Spec.Suspend {
		setReady(s, metav1.ConditionTrue, "Suspended", "spec.suspend is set: no new backups")
		return ctrl.Result{}, nil
	}

	now := r.Now()
	last := s.CreationTimestamp.Time
	if s.Status.LastScheduleTime != nil {
		last = s.Status.LastScheduleTime.Time
	}
	due := latestDue(sched, last, now)
	next := sched.Next(now)
	setReady(s, metav1.ConditionTrue, "Scheduled", fmt.Sprintf("next backup at %s", next.UTC().Format(time.RFC3339)))
	switch {
	case due.IsZero():
	case s.Status.Active != "":
		// No overlapping runs: this slot is skipped, the next one counts.
		r.Recorder.Eventf(s, nil, corev1.EventTypeWarning, "BackupSkipped", "BackupSkipped",
			"Skipped the backup due at %s: %s is still running", due.UTC().Format(time.RFC3339), s.Status.Active)
		s.Status.LastScheduleTime = &metav1.Time{Time: due}
	default:
		if err := r.createBackup(ctx, s, due, verifyNext(s.Spec.Verify, backups)); err != nil {
			return ctrl.Result{}, err
		}
	}
	return ctrl.Result{RequeueAfter: next.Sub(now) + time.Second}, nil
}

// latestDue is the latest scheduled time after last and not after now, or
// zero. Missed slots (the operator was down) collapse into one backup.
func latestDue(sched cron.Schedule, last, now time.Time) time.Time {
	var due time.Time
	for t := sched.Next(last); !t.After(now); t = sched.Next(t) {
		due = t
	}
	return due
}

// createBackup creates the backup for the slot due, named after it so a
// retry never makes two; verify marks it to be verified.
func (r *EtcdBackupScheduleReconciler) createBackup(ctx context.Context, s *etcdv1alpha1.EtcdBackupSchedule, due time.Time, verify bool) error {
	// No owner reference: the backup outlives the schedule.
	b := &etcdv1alpha1.EtcdBackup{
		ObjectMeta: metav1.ObjectMeta{
			Name:       fmt.Sprintf("%s-%d", s.Name, due.Unix()),
			Namespace:  s.Namespace,
			Labels:     map[string]string{LabelSchedule: s.Name},
			Finalizers: []string{SnapshotFinalizer},
		},
		Spec: s.Spec.BackupTemplate,
	}
	b.Spec.Verify = b.Spec.Verify || verify
	if err := r.Create(ctx, b); client.IgnoreAlreadyExists(err) != nil {
		return fmt.Errorf("create backup %s: %w", b.Name, err)
	}
	s.Status.LastScheduleTime = &metav1.Time{Time: due}
	s.Status.Active = b.Name
	r.Recorder.Eventf(s, nil, corev1.EventTypeNormal, "BackupCreated", "BackupCreated", "Created %s", b.Name)
	return nil
}

// backupsOf lists the schedule's backups by their label, newest first.
func (r *EtcdBackupScheduleReconciler) backupsOf(ctx context.Context, s *etcdv1alpha1.EtcdBackupSchedule) ([]etcdv1alpha1.EtcdBackup, error) {
	var list etcdv1alpha1.EtcdBackupList
	if err := r.List(ctx, &list, client.InNamespace(s.Namespace), client.MatchingLabels{LabelSchedule: s.Name}); err != nil {
		return nil, fmt.Errorf("list backups: %w", err)
	}
	items := list.Items
	sort.Slice(items, func(i, j int) bool { return items[j].CreationTimestamp.Before(&items[i].CreationTimestamp) })
	return items, nil
}

// disown removes the owner reference to the schedule from backups that an
// earlier version of the operator created with one, so that deleting the
// schedule no longer deletes them. Every schedule is reconciled when the
// operator starts, so this happens right after an upgrade; a schedule
// deleted before that, or while the operator is down, still takes its
// older backups along.
func (r *EtcdBackupScheduleReconciler) disown(ctx context.Context, s *etcdv1alpha1.EtcdBackupSchedule, backups []etcdv1alpha1.EtcdBackup) error {
	for i := range backups {
		b := &backups[i]
		refs := slices.DeleteFunc(slices.Clone(b.OwnerReferences), func(ref metav1.OwnerReference) bool { return ref.UID == s.UID })
		if len(refs) == len(b.OwnerReferences) {
			continue
		}
		before := b.DeepCopy()
		b.OwnerReferences = refs
		// A merge patch replaces the whole list; the optimistic lock keeps
		// it from undoing a concurrent change.
		if err := r.Patch(ctx, b, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("remove the owner reference of backup %s: %w", b.Name, err)
		}
	}
	return nil
}

// summarize records the running backup and the newest succeeded one.
func summarize(s *etcdv1alpha1.EtcdBackupSchedule, backups []etcdv1alpha1.EtcdBackup) {
	s.Status.Active = ""
	for _, b := range backups {
		if !finished(&b) && b.DeletionTimestamp.IsZero() && s.Status.Active == "" {
			s.Status.Active = b.Name
		}
	}
	for _, b := range backups {
		if b.Status.Phase == etcdv1alpha1.BackupSucceeded {
			s.Status.LastSuccessfulBackup = b.Name
			return
		}
	}
}

// prune deletes finished backups beyond maxCount or older than maxAge,
// never the newest succeeded one.
func (r *EtcdBackupScheduleReconciler) prune(ctx context.Context, s *etcdv1alpha1.EtcdBackupSchedule, backups []etcdv1alpha1.EtcdBackup, now time.Time) error {
	for _, b := range pruneList(s.Spec.Retention, backups, now) {
		if err := r.Delete(ctx, &b); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("prune backup %s: %w", b.Name, err)
		}
		r.Recorder.Eventf(s, nil, corev1.EventTypeNormal, "BackupPruned", "BackupPruned", "Pruned %s and its snapshot", b.Name)
	}
	return nil
}

// pruneList picks the backups (newest first) retention lets go.
func pruneList(ret etcdv1alpha1.BackupRetention, backups []etcdv1alpha1.EtcdBackup, now time.Time) []etcdv1alpha1.EtcdBackup {
	var out []etcdv1alpha1.EtcdBackup
	kept, newestGoodSeen := 0, false
	for _, b := range backups {
		if !finished(&b) || !b.DeletionTimestamp.IsZero() {
			continue
		}
		newestGood := !newestGoodSeen && b.Status.Phase == etcdv1alpha1.BackupSucceeded
		newestGoodSeen = newestGoodSeen || newestGood
		tooMany := ret.MaxCount != nil && kept >= int(*ret.MaxCount)
		tooOld := ret.MaxAge != nil && now.Sub(b.CreationTimestamp.Time) > ret.MaxAge.Duration
		if (tooMany || tooOld) && !newestGood {
			out = append(out, b)
			continue
		}
		kept++
	}
	return out
}

func setReady(s *etcdv1alpha1.EtcdBackupSchedule, status metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(&s.Status.Conditions, metav1.Condition{Type: "Ready", Status: status, Reason: reason, Message: msg, ObservedGeneration: s.Generation})
}

// SetupWithManager registers the reconciler; a change to a backup wakes
// the schedule its label names.
func (r *EtcdBackupScheduleReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Now == nil {
		r.Now = time.Now
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&etcdv1alpha1.EtcdBackupSchedule{}).
		Watches(&etcdv1alpha1.EtcdBackup{}, handler.EnqueueRequestsFromMapFunc(scheduleOfBackup)).
		Named("etcdbackupschedule").
		Complete(r)
}

// scheduleOfBackup is the schedule that created a backup, by its label.
func scheduleOfBackup(_ context.Context, b client.Object) []reconcile.Request {
	name := b.GetLabels()[LabelSchedule]
	if name == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: b.GetNamespace(), Name: name}}}
}
