package controller

import (
	"context"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
	"github.com/quorum-operator/quorum/internal/etcd"
)

// defragTimeout bounds one member's defragmentation, which rewrites its
// whole database: about as long as writing the data once (milliseconds
// for megabytes, tens of seconds for gigabytes on slow disks).
const defragTimeout = 5 * time.Minute

// executeSpaceStep compacts or defragments, and records it for status
// (obs.maintenance), also when it failed.
func (r *EtcdClusterReconciler) executeSpaceStep(ctx context.Context, obs *observedCluster, s step) error {
	cli, err := r.openEtcd(ctx, obs)
	if err != nil {
		return err
	}
	ms := obs.maintenanceStatus().DeepCopy()
	if ms == nil {
		ms = &etcdv1alpha1.MaintenanceStatus{}
	}
	defer func() { obs.maintenance = ms }()
	if s.kind == stepCompact {
		return r.compact(ctx, obs, cli, s, ms)
	}
	return r.defragment(ctx, obs, cli, s, ms)
}

func (r *EtcdClusterReconciler) compact(ctx context.Context, obs *observedCluster, cli etcd.Client, s step, ms *etcdv1alpha1.MaintenanceStatus) error {
	callCtx, cancel := context.WithTimeout(ctx, 2*etcdCallTimeout)
	defer cancel()
	if err := cli.Compact(callCtx, s.space.revision); err != nil {
		return err
	}
	ms.LastCompaction = &etcdv1alpha1.CompactionStatus{Revision: s.space.revision, Time: metav1.Now(), Reason: s.space.reason}
	r.event(obs.cluster, corev1.EventTypeNormal, "Compacted", "Compacted the history to revision %d (%s)", s.space.revision, s.space.reason)
	return nil
}

func (r *EtcdClusterReconciler) defragment(ctx context.Context, obs *observedCluster, cli etcd.Client, s step, ms *etcdv1alpha1.MaintenanceStatus) error {
	endpoint, ok := podEndpoint(obs, s.member)
	if !ok {
		return fmt.Errorf("defragment %s: its pod has no IP", s.member)
	}
	run := ms.LastDefrag
	if s.space.newRun || run == nil {
		run = &etcdv1alpha1.DefragStatus{Reason: s.space.reason, StartTime: metav1.Now()}
		ms.LastDefrag = run
		if s.space.scheduled != nil {
			ms.LastScheduleTime = &metav1.Time{Time: *s.space.scheduled}
		}
	}
	run.Result, run.Message, run.CompletionTime = etcdv1alpha1.DefragRunning, "", nil

	before := obs.statuses[s.member].DBSize
	start := time.Now()
	defragCtx, cancel := context.WithTimeout(ctx, defragTimeout)
	err := cli.Defragment(defragCtx, endpoint)
	cancel()
	took := time.Since(start)
	if err != nil {
		run.Result, run.Message = etcdv1alpha1.DefragFailed, fmt.Sprintf("%s: %v", s.member, err)
		r.event(obs.cluster, corev1.EventTypeWarning, "DefragFailed", "Defragmenting %s failed after %s: %v", s.member, took.Round(time.Millisecond), err)
		return err
	}
	after := before
	statusCtx, cancel := context.WithTimeout(ctx, etcdCallTimeout)
	if st, err := cli.Status(statusCtx, endpoint); err == nil {
		after = st.DBSize
	}
	cancel()
	// A member done again in the same run (a pass read the status before
	// the cache had the last write) replaces its entry: names are the
	// list's keys.
	run.Members = slices.DeleteFunc(run.Members, func(d etcdv1alpha1.DefragMemberStatus) bool { return d.Name == s.member })
	run.Members = append(run.Members, etcdv1alpha1.DefragMemberStatus{Name: s.member, StartTime: metav1.NewTime(start),
		DurationMillis: took.Milliseconds(), DBSizeBeforeBytes: before, DBSizeAfterBytes: after})
	run.ReclaimedBytes += before - after
	if s.space.last {
		run.Result, run.CompletionTime = etcdv1alpha1.DefragSucceeded, &metav1.Time{Time: time.Now()}
	}
	r.event(obs.cluster, corev1.EventTypeNormal, "Defragmented", "Defragmented %s (%s) in %s: %s to %s%s", s.member, s.space.reason,
		took.Round(time.Millisecond), bytesText(before), bytesText(after), runDone(run))
	return nil
}

func runDone(run *etcdv1alpha1.DefragStatus) string {
	if run.CompletionTime == nil {
		return ""
	}
	return fmt.Sprintf("; run done, %s reclaimed over %d members", bytesText(run.ReclaimedBytes), len(run.Members))
}

func bytesText(n int64) string {
	return resource.NewQuantity(n, resource.BinarySI).String()
}

// maintenanceStatus is what status.maintenance says after this pass.
func (obs *observedCluster) maintenanceStatus() *etcdv1alpha1.MaintenanceStatus {
	if obs.maintenance != nil {
		return obs.maintenance
	}
	return obs.cluster.Status.Maintenance
}
