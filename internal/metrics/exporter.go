package metrics

import (
	"context"
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
)

// Exporter keeps the series current from what the controllers write: every
// status an EtcdCluster reconciler writes, every backup that ends, every
// schedule edited reaches it through the manager's informers, so the
// reconcilers carry no metrics code and a series is exactly as fresh as the
// status it comes from. It runs only in the elected leader (the replica that
// writes the status), so two replicas never export one cluster twice.
//
// Status is written only when it changes, and the reconciler looks at
// etcd at least every 30 seconds: a change in etcd shows here within a pass.
type Exporter struct {
	// Cache is the manager's cache; its informers deliver the objects.
	Cache cache.Cache
	// ScheduleLabel is the label by which a schedule's backups name it
	// (the controller package's LabelSchedule).
	ScheduleLabel string
}

// NeedLeaderElection: only the leader exports.
func (e *Exporter) NeedLeaderElection() bool { return true }

// Start registers the handlers and runs until ctx ends. The informers'
// first list replays every existing object as an add, so the series are
// complete right after the operator starts.
func (e *Exporter) Start(ctx context.Context) error {
	handlers := []struct {
		obj client.Object
		h   toolscache.ResourceEventHandlerFuncs
	}{
		{&etcdv1alpha1.EtcdCluster{}, toolscache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { e.clusterChanged(ctx, obj) },
			UpdateFunc: func(_, obj any) { e.clusterChanged(ctx, obj) },
			DeleteFunc: func(obj any) { forget(obj, DeleteCluster) },
		}},
		{&etcdv1alpha1.EtcdBackupSchedule{}, toolscache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { e.scheduleChanged(ctx, obj) },
			UpdateFunc: func(_, obj any) { e.scheduleChanged(ctx, obj) },
			DeleteFunc: func(obj any) { forget(obj, DeleteSchedule) },
		}},
		{&etcdv1alpha1.EtcdBackup{}, toolscache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { e.backupChanged(ctx, nil, obj) },
			UpdateFunc: func(old, obj any) { e.backupChanged(ctx, old, obj) },
			DeleteFunc: func(obj any) { e.backupChanged(ctx, nil, tombstoned(obj)) },
		}},
	}
	for _, h := range handlers {
		inf, err := e.Cache.GetInformer(ctx, h.obj)
		if err != nil {
			return fmt.Errorf("informer for %T: %w", h.obj, err)
		}
		reg, err := inf.AddEventHandler(h.h)
		if err != nil {
			return fmt.Errorf("handler for %T: %w", h.obj, err)
		}
		defer func() { _ = inf.RemoveEventHandler(reg) }()
	}
	<-ctx.Done()
	return nil
}

// tombstoned is the last state of a deleted object, also when the
// informer missed the deletion and only knows the key.
func tombstoned(obj any) any {
	if t, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		return t.Obj
	}
	return obj
}

func forget(obj any, del func(namespace, name string)) {
	if o, ok := tombstoned(obj).(client.Object); ok {
		del(o.GetNamespace(), o.GetName())
	}
}

func (e *Exporter) clusterChanged(ctx context.Context, obj any) {
	c, ok := obj.(*etcdv1alpha1.EtcdCluster)
	if !ok {
		return
	}
	if !c.DeletionTimestamp.IsZero() {
		// Members going away on purpose are nothing to alert on.
		DeleteCluster(c.Namespace, c.Name)
		return
	}
	RecordCluster(c, &c.Status, e.lastClusterBackup(ctx, c.Namespace, c.Name))
	e.recordClusterVerification(ctx, c.Namespace, c.Name)
}

// backupChanged counts a failure of a schedule's backup as it is recorded
// (old is nil for a backup the informer sees for the first time: one that
// failed before the operator started is not counted again), and refreshes
// the series of its cluster and schedule, whose newest succeeded backup it
// may be.
func (e *Exporter) backupChanged(ctx context.Context, old, obj any) {
	b, ok := obj.(*etcdv1alpha1.EtcdBackup)
	if !ok {
		return
	}
	schedule := b.Labels[e.ScheduleLabel]
	if was, ok := old.(*etcdv1alpha1.EtcdBackup); ok && schedule != "" &&
		was.Status.Phase != etcdv1alpha1.BackupFailed && b.Status.Phase == etcdv1alpha1.BackupFailed {
		BackupFailed(b.Namespace, schedule)
	}
	if b.Status.Phase != etcdv1alpha1.BackupSucceeded {
		return
	}
	var c etcdv1alpha1.EtcdCluster
	if err := e.Cache.Get(ctx, client.ObjectKey{Namespace: b.Namespace, Name: b.Spec.ClusterName}, &c); err == nil && c.DeletionTimestamp.IsZero() {
		setOrDelete(ClusterLastBackup, c.Namespace, c.Name, e.lastClusterBackup(ctx, c.Namespace, c.Name))
		e.recordClusterVerification(ctx, c.Namespace, c.Name)
	}
	var s etcdv1alpha1.EtcdBackupSchedule
	if schedule != "" && e.Cache.Get(ctx, client.ObjectKey{Namespace: b.Namespace, Name: schedule}, &s) == nil {
		e.scheduleChanged(ctx, &s)
	}
}

// lastClusterBackup is the completion time of the newest succeeded backup
// of the cluster, zero if it has none.
func (e *Exporter) lastClusterBackup(ctx context.Context, namespace, cluster string) time.Time {
	var list etcdv1alpha1.EtcdBackupList
	if err := e.Cache.List(ctx, &list, client.InNamespace(namespace)); err != nil {
		logf.FromContext(ctx).Error(err, "Listing backups for the metrics", "namespace", namespace)
		return time.Time{}
	}
	var newest time.Time
	for _, b := range list.Items {
		if b.Spec.ClusterName == cluster && b.DeletionTimestamp.IsZero() && succeededAt(&b).After(newest) {
			newest = succeededAt(&b)
		}
	}
	return newest
}

func succeededAt(b *etcdv1alpha1.EtcdBackup) time.Time {
	if b.Status.Phase != etcdv1alpha1.BackupSucceeded || b.Status.CompletionTime == nil {
		return time.Time{}
	}
	return b.Status.CompletionTime.Time
}

func (e *Exporter) scheduleChanged(ctx context.Context, obj any) {
	s, ok := obj.(*etcdv1alpha1.EtcdBackupSchedule)
	if !ok {
		return
	}
	if !s.DeletionTimestamp.IsZero() {
		DeleteSchedule(s.Namespace, s.Name)
		return
	}
	var list etcdv1alpha1.EtcdBackupList
	if err := e.Cache.List(ctx, &list, client.InNamespace(s.Namespace), client.MatchingLabels{e.ScheduleLabel: s.Name}); err != nil {
		logf.FromContext(ctx).Error(err, "Listing a schedule's backups for the metrics", "schedule", s.Name)
		return
	}
	var newest *etcdv1alpha1.EtcdBackup
	for i := range list.Items {
		b := &list.Items[i]
		if b.DeletionTimestamp.IsZero() && !succeededAt(b).IsZero() && (newest == nil || newest.CreationTimestamp.Before(&b.CreationTimestamp)) {
			newest = b
		}
	}
	RecordSchedule(s.Namespace, s.Name, Schedule{Suspended: s.Spec.Suspend, NextRun: nextRun(s, newest), LastSuccess: newest})
}

// nextRun is the first slot of the schedule after its newest succeeded
// backup was created (a schedule creates each backup at its slot, so this
// is the slot after the one that produced it), or after the schedule's
// creation when none succeeded; zero for a cron expression that does not
// parse. While backups succeed it is the next slot ahead; once it lies in
// the past, a slot went by without a successful backup.
func nextRun(s *etcdv1alpha1.EtcdBackupSchedule, newest *etcdv1alpha1.EtcdBackup) time.Time {
	sched, err := cron.ParseStandard(s.Spec.Schedule)
	if err != nil {
		return time.Time{}
	}
	since := s.CreationTimestamp.Time
	if newest != nil {
		since = newest.CreationTimestamp.Time
	}
	return sched.Next(since)
}
