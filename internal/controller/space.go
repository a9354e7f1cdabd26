package controller

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
	"github.com/quorum-operator/quorum/internal/etcd"
	"github.com/quorum-operator/quorum/internal/resources"
)

// Disk space (docs/operations.md, "Disk space"): after a NOSPACE alarm the
// history is compacted to the current revision and every member is
// defragmented once, then planDisarm clears the alarm once the data fits;
// spec.maintenance.defrag adds runs on a schedule and for members whose
// database is fragmented. A defragmentation blocks the member it runs on,
// so only one member at a time, followers first, the leader last after
// leadership moved, and only while every member is healthy.

// defaultMinDefragDBSize is the database size below which the
// fragmentation threshold is not applied.
const defaultMinDefragDBSize = 64 << 20

// spacePlan is what a compaction or defragmentation step records.
type spacePlan struct {
	reason    string     // etcdv1alpha1.DefragReason*
	newRun    bool       // the step starts a new run in status
	last      bool       // no member is left in the run after this one
	revision  int64      // for compact: the revision to compact to
	scheduled *time.Time // for a new scheduled run: its schedule time
}

// planSpace decides the next compaction, leader move or defragmentation.
func planSpace(obs *observedCluster, m membership, now time.Time) step {
	// CORRUPT: the data is in doubt and a person must look; compacting or
	// rewriting it first would only destroy evidence.
	if !settledForMaintenance(obs, m) || slices.ContainsFunc(raisedAlarms(obs), func(a etcd.Alarm) bool { return a.Type == etcd.AlarmCorrupt }) {
		return step{kind: stepNone}
	}
	ms := obs.cluster.Status.Maintenance
	if ms == nil {
		ms = &etcdv1alpha1.MaintenanceStatus{}
	}
	if noSpaceRaised(obs) {
		if s, ok := planNoSpace(obs, m, ms); ok {
			return s
		}
	}
	// A run stopped half-way (the operator restarted, a member failed)
	// goes on with the members it has not done.
	if run := ms.LastDefrag; run != nil && run.Result != etcdv1alpha1.DefragSucceeded && run.Reason != etcdv1alpha1.DefragReasonThreshold {
		if pending := notIn(obs, run); len(pending) > 0 {
			return defragNext(obs, m, pending, spacePlan{reason: run.Reason})
		}
	}
	policy := defragPolicy(obs.cluster)
	if policy == nil {
		return step{kind: stepNone}
	}
	if policy.FragmentationThresholdPercent != nil {
		if pending := fragmented(obs, policy); len(pending) > 0 {
			// Each member that crosses the threshold is a run of its own.
			return defragNext(obs, m, defragOrder(pending, m)[:1], spacePlan{reason: etcdv1alpha1.DefragReasonThreshold, newRun: true})
		}
	}
	if due, ok := scheduleDue(obs.cluster, ms, policy, now); ok {
		return defragNext(obs, m, memberNames(obs.members), spacePlan{reason: etcdv1alpha1.DefragReasonSchedule, newRun: true, scheduled: &due})
	}
	return step{kind: stepNone}
}

// planNoSpace compacts while NOSPACE is raised, then defragments every
// member once after that compaction. A run under way is finished before
// anything is compacted again: etcd takes deletes and lease expiries under
// NOSPACE, so the revision moves between passes, and compacting at every
// new revision would restart the run at its first member for ever.
func planNoSpace(obs *observedCluster, m membership, ms *etcdv1alpha1.MaintenanceStatus) (step, bool) {
	run := ms.LastDefrag
	noSpaceRun := run != nil && run.Reason == etcdv1alpha1.DefragReasonNoSpace
	if noSpaceRun && run.Result == etcdv1alpha1.DefragRunning {
		return step{}, false // the generic continuation takes it on
	}
	rev := currentRevision(obs)
	lc := ms.LastCompaction
	// Compact first, and again only after a whole run ended since the last
	// compaction and the alarm is still up.
	ranSinceCompaction := lc != nil && noSpaceRun && !run.StartTime.Before(&lc.Time)
	if lc == nil || (lc.Revision < rev && ranSinceCompaction && !allFit(obs, m)) {
		return step{kind: stepCompact, space: &spacePlan{reason: etcdv1alpha1.DefragReasonNoSpace, revision: rev},
			reason: fmt.Sprintf("NOSPACE is raised: compacting the history to revision %d before defragmenting the members", rev)}, true
	}
	if ranSinceCompaction {
		return step{}, false // done at this revision: disarm decides
	}
	return defragNext(obs, m, memberNames(obs.members), spacePlan{reason: etcdv1alpha1.DefragReasonNoSpace, newRun: true}), true
}

// allFit says whether every healthy member's database fits the quota with
// the room disarming NOSPACE asks for.
func allFit(obs *observedCluster, m membership) bool {
	quota := effectiveQuota(obs)
	for name, st := range obs.statuses {
		if m.healthy[name] && !fitsWithRoom(st.DBSize, quota) {
			return false
		}
	}
	return true
}

// defragNext defragments the follower with the highest ordinal among
// pending, or the leader when only it is left, after moving leadership to
// a healthy voter that is not pending.
func defragNext(obs *observedCluster, m membership, pending []string, plan spacePlan) step {
	name := defragOrder(pending, m)[0]
	if m.byName[name].ID == m.leader && m.voters > 1 {
		target, ok := doneTransferee(m, pending)
		if !ok {
			return step{kind: stepNone}
		}
		return step{kind: stepMoveLeader, member: name, id: target,
			reason: fmt.Sprintf("moving leadership off %s before defragmenting it (%s)", name, plan.reason)}
	}
	plan.last = len(pending) == 1
	return step{kind: stepDefrag, member: name, space: &plan,
		reason: fmt.Sprintf("defragmenting %s (%s): %d of the run's members left", name, plan.reason, len(pending))}
}

// defragOrder sorts members followers first, highest ordinal first, the
// leader last.
func defragOrder(names []string, m membership) []string {
	out := slices.Clone(names)
	rank := func(n string) int {
		if m.byName[n].ID == m.leader {
			return -1
		}
		return podOrdinal(n)
	}
	slices.SortFunc(out, func(a, b string) int { return rank(b) - rank(a) })
	return out
}

// doneTransferee is a healthy voter not among pending, lowest ordinal
// first; any other healthy voter when all are pending.
func doneTransferee(m membership, pending []string) (uint64, bool) {
	best, bestPending := -1, true
	var id uint64
	for n, mem := range m.byName {
		if mem.IsLearner || !m.healthy[n] || mem.ID == m.leader {
			continue
		}
		p := slices.Contains(pending, n)
		o := podOrdinal(n)
		if best < 0 || (bestPending && !p) || (p == bestPending && o < best) {
			best, bestPending, id = o, p, mem.ID
		}
	}
	return id, best >= 0
}

// settledForMaintenance: every member etcd lists is a healthy voter,
// membership is what the spec asks, and each member's pod can be dialled.
func settledForMaintenance(obs *observedCluster, m membership) bool {
	if len(m.members) != int(obs.cluster.Spec.Size) || m.voters != len(m.members) || m.healthyV != m.voters {
		return false
	}
	for _, mem := range m.members {
		name := memberName(mem)
		if _, ok := obs.statuses[name]; !ok {
			return false
		}
		if _, ok := podEndpoint(obs, name); !ok {
			return false
		}
	}
	return true
}

func noSpaceRaised(obs *observedCluster) bool {
	return slices.ContainsFunc(raisedAlarms(obs), func(a etcd.Alarm) bool { return a.Type == etcd.AlarmNoSpace })
}

func currentRevision(obs *observedCluster) int64 {
	var rev int64
	for _, s := range obs.statuses {
		rev = max(rev, s.Revision)
	}
	return rev
}

// notIn lists the members the run has not defragmented.
func notIn(obs *observedCluster, run *etcdv1alpha1.DefragStatus) []string {
	var out []string
	for _, name := range memberNames(obs.members) {
		if !slices.ContainsFunc(run.Members, func(d etcdv1alpha1.DefragMemberStatus) bool { return d.Name == name }) {
			out = append(out, name)
		}
	}
	return out
}

func defragPolicy(c *etcdv1alpha1.EtcdCluster) *etcdv1alpha1.DefragPolicy {
	if c.Spec.Maintenance == nil {
		return nil
	}
	return c.Spec.Maintenance.Defrag
}

// fragmented lists the members whose database is at least the policy's
// minimum size and whose free pages are at least its threshold.
func fragmented(obs *observedCluster, p *etcdv1alpha1.DefragPolicy) []string {
	minSize := int64(defaultMinDefragDBSize)
	if p.MinDBSize != nil {
		minSize = p.MinDBSize.Value()
	}
	var out []string
	for _, name := range memberNames(obs.members) {
		s := obs.statuses[name]
		if s.DBSize < minSize || s.DBSize <= 0 {
			continue
		}
		if (s.DBSize-s.DBSizeInUse)*100 >= int64(*p.FragmentationThresholdPercent)*s.DBSize {
			out = append(out, name)
		}
	}
	return out
}

// scheduleDue is the latest schedule time since the last scheduled run
// (or the cluster's creation), if one has passed. A schedule that does
// not parse is never due; the API server checks its shape.
func scheduleDue(c *etcdv1alpha1.EtcdCluster, ms *etcdv1alpha1.MaintenanceStatus, p *etcdv1alpha1.DefragPolicy, now time.Time) (time.Time, bool) {
	if p.Schedule == "" {
		return time.Time{}, false
	}
	sched, err := cron.ParseStandard(p.Schedule)
	if err != nil {
		return time.Time{}, false
	}
	last := c.CreationTimestamp.Time
	if ms.LastScheduleTime != nil && ms.LastScheduleTime.After(last) {
		last = ms.LastScheduleTime.Time
	}
	due := latestDue(sched, last, now)
	return due, !due.IsZero()
}

// quotaLowered holds a restart that would lower a member's quota below
// what its database holds (with a tenth of the quota to spare): the
// member would refuse writes with NOSPACE as soon as it is back. This is
// how an operator upgrade that brings a smaller default quota, or a spec
// that lowers it, stops short of taking writes away.
func quotaLowered(obs *observedCluster, name string) (step, bool) {
	quota := effectiveQuota(obs)
	s, ok := obs.statuses[name]
	if !ok || quota >= podQuota(memberPod(obs, name)) || fitsWithRoom(s.DBSize, quota) {
		return step{}, false
	}
	return step{kind: stepWait, member: name, reason: fmt.Sprintf(
		"not restarting %s: its database (%d bytes) would not fit the lower quota of %d bytes the new template sets, and it would refuse writes; "+
			"set spec.options.quotaBackendBytes higher (at most the volume), or compact and defragment first", name, s.DBSize, quota)}, true
}

// fitsWithRoom says whether a database of size leaves a tenth of the
// quota free: less, and the next writes raise NOSPACE again.
func fitsWithRoom(size, quota int64) bool { return size*10 < quota*9 }

// effectiveQuota is the quota the member template sets: the spec's; else
// the default for the volume, unless some member's database would not fit
// that default with room, when it is the largest quota a member pod runs
// with. A pod made from the template for any reason (a drain, a
// replacement, the kubelet) must not come up with a quota below the data
// it receives: it would raise NOSPACE for the whole cluster.
func effectiveQuota(obs *observedCluster) int64 {
	c := obs.cluster
	quota := resources.QuotaBackendBytes(c)
	if o := c.Spec.Options; o != nil && o.QuotaBackendBytes != nil {
		return quota
	}
	// The default follows the claims members have, not only the size the
	// spec asks: a claim that cannot grow keeps its size, and a quota made
	// for the larger one would let the disk fill before NOSPACE.
	if size, ok := smallestClaim(obs); ok {
		quota = min(quota, resources.QuotaForVolume(size))
	}
	var largest int64
	for _, st := range obs.statuses {
		largest = max(largest, st.DBSize)
	}
	if fitsWithRoom(largest, quota) {
		return quota
	}
	var running int64
	for i := range obs.pods {
		running = max(running, podQuota(&obs.pods[i]))
	}
	return max(running, quota)
}

// smallestClaim is the size of the smallest member claim: its capacity
// once bound, else its request.
func smallestClaim(obs *observedCluster) (int64, bool) {
	var smallest int64
	found := false
	for i := range obs.claims {
		pvc := &obs.claims[i]
		if !strings.HasPrefix(pvc.Name, resources.DataVolumeName+"-") || pvc.DeletionTimestamp != nil {
			continue
		}
		size, ok := pvc.Status.Capacity[corev1.ResourceStorage]
		if !ok {
			size, ok = pvc.Spec.Resources.Requests[corev1.ResourceStorage]
		}
		if ok && (!found || size.Value() < smallest) {
			smallest, found = size.Value(), true
		}
	}
	return smallest, found
}

// withEffectiveQuota is c with the effective quota written into its spec
// when it differs from what the spec alone gives, for building the member
// template.
func withEffectiveQuota(obs *observedCluster, c *etcdv1alpha1.EtcdCluster) *etcdv1alpha1.EtcdCluster {
	q := effectiveQuota(obs)
	if q == resources.QuotaBackendBytes(c) {
		return c
	}
	out := c.DeepCopy()
	if out.Spec.Options == nil {
		out.Spec.Options = &etcdv1alpha1.EtcdOptions{}
	}
	out.Spec.Options.QuotaBackendBytes = resource.NewQuantity(q, resource.BinarySI)
	return out
}

// podQuota is the quota the member's pod runs with.
func podQuota(p *corev1.Pod) int64 {
	if p == nil {
		return resources.DefaultQuotaBackendBytes
	}
	for _, c := range p.Spec.Containers {
		for _, e := range c.Env {
			if e.Name != "ETCD_QUOTA_BACKEND_BYTES" {
				continue
			}
			if v, err := strconv.ParseInt(e.Value, 10, 64); err == nil {
				return v
			}
			if q, err := resource.ParseQuantity(e.Value); err == nil {
				return q.Value()
			}
		}
	}
	return resources.DefaultQuotaBackendBytes
}
