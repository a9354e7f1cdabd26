package controller

import (
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/quorum-operator/quorum/internal/etcd"
	"github.com/quorum-operator/quorum/internal/resources"
)

// membership is the observed etcd membership, indexed for the planner.
type membership struct {
	members  []etcd.Member
	byName   map[string]etcd.Member
	healthy  map[string]bool
	leader   uint64
	voters   int
	healthyV int // healthy voters
}

func newMembership(obs *observedCluster) membership {
	m := membership{members: obs.members, byName: map[string]etcd.Member{}, healthy: map[string]bool{}}
	for _, mem := range obs.members {
		name := memberName(mem)
		m.byName[name] = mem
		s, ok := obs.statuses[name]
		m.healthy[name] = answersAs(s, mem.ID)
		if ok && s.Leader != 0 {
			m.leader = s.Leader
		}
		if !mem.IsLearner {
			m.voters++
			if m.healthy[name] {
				m.healthyV++
			}
		}
	}
	return m
}

// planMembership decides the single next change that brings the running
// cluster's membership to spec.size. It does no I/O. Scale-out adds one
// learner, starts its pod, then promotes it; scale-in moves leadership off
// the member to go, removes it from etcd, then stops its pod, then deletes
// its claim. Every membership change passes the quorum preflight first.
func planMembership(obs *observedCluster) step {
	if obs.statefulSet == nil || obs.members == nil {
		return step{kind: stepWait, reason: "waiting for etcd to answer"}
	}
	c := obs.cluster
	size := int(c.Spec.Size)
	replicas := int32(0)
	if obs.statefulSet.Spec.Replicas != nil {
		replicas = *obs.statefulSet.Spec.Replicas
	}
	m := newMembership(obs)

	ordinals, err := memberOrdinals(obs)
	if err != nil {
		return step{kind: stepWait, reason: err.Error()}
	}
	top := len(ordinals) - 1 // members are ordinals 0..top, "" where one is missing

	// A member etcd lists but whose pod the StatefulSet does not run: the
	// operator stopped between member add and raising replicas.
	if int32(top+1) > replicas {
		return step{kind: stepRaiseReplicas, replicas: int32(top + 1), member: ordinals[top],
			reason: fmt.Sprintf("starting the pod of member %s", ordinals[top])}
	}

	// A minor downgrade is enabled in etcd before any member is added:
	// a member on the older release cannot join while the cluster version
	// is the newer one, and the downgrade would wait for that member.
	if s, ok := planDowngrade(obs, m); ok && s.kind == stepEnableDowngrade {
		return s
	}

	// Scale-in first removes the highest ordinal, learner or voter.
	if len(m.members) > size {
		return planRemoval(obs, m, ordinals[top])
	}

	// A member that came back without its data is removed, then re-added
	// below as a learner on its fresh volume, under a new ID.
	if s, ok := planReplacement(obs, m, ordinals); ok {
		return s
	}
	// A member that has started may never start empty again: it leaves
	// the list of those that may, and once none is left no member may
	// (see resources.SealedInitialCluster).
	if s, ok := planSeal(obs, m); ok {
		return s
	}
	// A learner is promoted before anything else is added.
	if s, ok := planLearner(obs, m, ordinals); ok {
		return s
	}

	// Pods and claims of members etcd no longer lists go before anything
	// is added: a new member must never start on a removed member's data.
	if s, ok := planCleanup(obs, replicas, top); ok {
		return s
	}

	if len(m.members) < size {
		name := resources.MemberName(c, firstFree(ordinals))
		if err := preflightAdd(m); err != nil {
			return step{kind: stepWait, member: name, reason: err.Error()}
		}
		return step{kind: stepAddLearner, member: name, reason: fmt.Sprintf("adding %s as a learner (%d of %d members)", name, len(m.members)+1, size)}
	}
	// Membership is settled: roll members onto the current template, then
	// compact and defragment (space.go), then clear a NOSPACE alarm once
	// the data fits.
	if s := planRollout(obs, m); s.kind != stepNone {
		return s
	}
	if s := planSpace(obs, m, time.Now()); s.kind != stepNone {
		return s
	}
	return planDisarm(obs, m)
}

// planSeal narrows the members the bootstrap settings let start empty to
// those that have not started yet (an initial member of a new cluster that
// is still starting, or the learner being added while its add is pending),
// and seals the settings once none is left.
func planSeal(obs *observedCluster, m membership) (step, bool) {
	if resources.IsSealed(obs.bootstrap) {
		return step{}, false
	}
	allowed := resources.MayStartEmpty(obs.bootstrap)
	pendingAdd := len(m.members) < int(obs.cluster.Spec.Size)
	var remaining []string
	for _, name := range allowed {
		mem, listed := m.byName[name]
		started := listed && (m.healthy[name] || (mem.IsLearner && mem.Name != ""))
		if !started && (listed || pendingAdd) {
			remaining = append(remaining, name)
		}
	}
	switch {
	case len(remaining) == 0:
		return step{kind: stepSeal, reason: "every member has data: sealing the bootstrap settings"}, true
	case len(remaining) < len(allowed):
		return step{kind: stepNarrow, remaining: remaining, reason: fmt.Sprintf(
			"members that started may not start empty again: only %s may", strings.Join(remaining, ", "))}, true
	}
	return step{}, false
}

// planDisarm clears NOSPACE alarms once every member's database is below
// 90% of the quota the members now run with (after compaction and
// defragmentation, or spec.options.quotaBackendBytes raised and rolled
// out): closer to it, the next writes would raise the alarm again. CORRUPT
// is never cleared by the operator.
func planDisarm(obs *observedCluster, m membership) step {
	quota := effectiveQuota(obs)
	for _, a := range raisedAlarms(obs) {
		if a.Type != etcd.AlarmNoSpace {
			continue
		}
		for name, s := range obs.statuses {
			if m.healthy[name] && !fitsWithRoom(s.DBSize, quota) {
				return step{kind: stepWait, reason: fmt.Sprintf("NOSPACE stays raised: %s's database (%d bytes) does not fit 90%% of the quota (%d bytes) after compaction and defragmentation; "+
					"delete data, or raise spec.options.quotaBackendBytes (at most the volume)", name, s.DBSize, quota)}
			}
		}
		if m.healthyV < m.voters {
			return step{kind: stepWait, reason: "NOSPACE stays raised until every voter is healthy"}
		}
		return step{kind: stepDisarmAlarm, alarm: a, reason: fmt.Sprintf(
			"disarming NOSPACE raised by %s: every member's database fits the quota of %d bytes", alarmMemberName(obs, a.MemberID), quota)}
	}
	return step{kind: stepNone}
}

// planReplacement removes a voter that cannot hold its data any more.
func planReplacement(obs *observedCluster, m membership, ordinals []string) (step, bool) {
	name, ok := lostMember(obs, m, ordinals)
	if !ok {
		return step{}, false
	}
	if !m.byName[name].IsLearner {
		if err := preflightRemove(m, name); err != nil {
			return step{kind: stepWait, member: name, reason: err.Error()}, true
		}
	}
	return step{kind: stepReplace, member: name, id: m.byName[name].ID,
		reason: fmt.Sprintf("%s came back without its data: removing its old member ID to re-add it as a new learner", name)}, true
}

// planLearner takes a pending learner to promotion.
func planLearner(obs *observedCluster, m membership, ordinals []string) (step, bool) {
	for _, name := range ordinals {
		mem, ok := m.byName[name]
		if !ok || !mem.IsLearner {
			continue
		}
		if !m.healthy[name] {
			// A learner that never started joins with the members etcd
			// lists when it starts: had membership changed since it was
			// added (a lost member replaced), it would be refused ("member
			// count is unequal") for good.
			if mem.Name == "" && !joinSettingsCurrent(obs, name) {
				return step{kind: stepWriteJoin, member: name, reason: fmt.Sprintf(
					"rewriting the join settings of learner %s to the members etcd lists now", name)}, true
			}
			if crashLooping(obs, name) {
				if mem.Name != "" {
					// It started once: its pod (emptyDir) holds what it
					// has, and etcd would not take it back empty.
					return step{kind: stepWait, member: name, reason: fmt.Sprintf("learner %s crash-loops after it started; its pod is left to the kubelet", name)}, true
				}
				// Its pod failed before the settings let it start; it
				// would wait out the backoff before reading them again.
				return step{kind: stepRestartPod, member: name, reason: fmt.Sprintf("restarting the pod of learner %s, which waits out a crash-loop backoff", name)}, true
			}
			if mem.Name != "" {
				return boundLearnerWait(obs, name, fmt.Sprintf("waiting for learner %s, which started, to answer", name)), true
			}
			return boundLearnerWait(obs, name, fmt.Sprintf("waiting for learner %s to start", name)), true
		}
		if lag, ok := restartLag(obs, m, name); !ok || lag > maxRestartLag {
			// etcd refuses to promote a learner far behind the leader.
			return boundLearnerWait(obs, name, fmt.Sprintf("waiting for learner %s to catch up with the leader (%d entries behind)", name, lag)), true
		}
		if err := preflightVoterChange(m, +1); err != nil {
			return step{kind: stepWait, member: name, reason: err.Error()}, true
		}
		return step{kind: stepPromote, member: name, id: mem.ID, reason: fmt.Sprintf("promoting learner %s", name)}, true
	}
	return step{}, false
}

// learnerCatchUpBound is how long a learner may take, from its pod's
// creation, to start and catch up before status says it does not: on a
// healthy cluster that is seconds, or minutes for a database of gigabytes.
const learnerCatchUpBound = 5 * time.Minute

// boundLearnerWait is a wait for a learner, which becomes
// LearnerNotCatchingUp once the learner's pod is older than the bound:
// nothing changes (no second learner either, since a learner is promoted
// before anything else is added), but status says a person should look.
func boundLearnerWait(obs *observedCluster, name, waiting string) step {
	pod := memberPod(obs, name)
	if pod == nil || obs.observedAt.IsZero() {
		return step{kind: stepWait, member: name, reason: waiting}
	}
	age := obs.observedAt.Sub(pod.CreationTimestamp.Time)
	if age < learnerCatchUpBound {
		return step{kind: stepWait, member: name, reason: waiting}
	}
	return step{kind: stepLearnerStuck, member: name, reason: fmt.Sprintf(
		"learner %s has not caught up %s after its pod was created (%s); it is not promoted and no other member is added: "+
			"look at its logs, its network to the other members and its disk, or lower spec.size to remove it",
		name, age.Round(time.Second), waiting)}
}

// joinSettingsCurrent says whether the bootstrap settings let the learner
// name, and only it, start empty, with the members etcd lists now.
func joinSettingsCurrent(obs *observedCluster, name string) bool {
	cm := obs.bootstrap
	if cm == nil || !slices.Equal(resources.MayStartEmpty(cm), []string{name}) {
		return false
	}
	want := strings.Split(resources.InitialCluster(obs.cluster, memberNames(obs.members)), ",")
	have := strings.Split(cm.Data["ETCD_INITIAL_CLUSTER"], ",")
	slices.Sort(want)
	slices.Sort(have)
	return slices.Equal(want, have)
}

// planCleanup stops the pods, then deletes the claims, of members above the
// highest ordinal etcd lists.
func planCleanup(obs *observedCluster, replicas int32, top int) (step, bool) {
	if replicas > int32(top+1) {
		return step{kind: stepLowerReplicas, replicas: int32(top + 1), reason: fmt.Sprintf("stopping the pods of removed members (%d to %d)", replicas, top+1)}, true
	}
	for _, pvc := range obs.claims {
		name := claimMember(pvc.Name)
		if podOrdinal(name) <= top {
			continue
		}
		if podExists(obs, name) {
			return step{kind: stepWait, member: name, reason: fmt.Sprintf("waiting for the pod of removed member %s to stop", name)}, true
		}
		return step{kind: stepDeleteClaim, member: name, reason: fmt.Sprintf("deleting the claim of removed member %s", name)}, true
	}
	return step{}, false
}

// planRemoval takes the member to go through move-leader and remove.
func planRemoval(obs *observedCluster, m membership, name string) step {
	mem := m.byName[name]
	if mem.ID == m.leader && !mem.IsLearner {
		target, ok := transferee(obs, m, name)
		if !ok {
			return step{kind: stepWait, member: name, reason: fmt.Sprintf("%s leads and no other voter is healthy to take over", name)}
		}
		return step{kind: stepMoveLeader, member: name, id: target, reason: fmt.Sprintf("moving leadership off %s before removing it", name)}
	}
	if !mem.IsLearner {
		if err := preflightRemove(m, name); err != nil {
			return step{kind: stepWait, member: name, reason: err.Error()}
		}
	}
	return step{kind: stepRemoveMember, member: name, id: mem.ID,
		reason: fmt.Sprintf("removing %s (%d to %d members)", name, len(m.members), obs.cluster.Spec.Size)}
}

// transferee is the healthy voter with the lowest ordinal other than name.
func transferee(obs *observedCluster, m membership, name string) (uint64, bool) {
	best := -1
	var id uint64
	for n, mem := range m.byName {
		if n == name || mem.IsLearner || !m.healthy[n] {
			continue
		}
		if o := podOrdinal(n); best < 0 || o < best {
			best, id = o, mem.ID
		}
	}
	return id, best >= 0
}

// memberOrdinals lists member names by ordinal, up to the highest, with ""
// where a member is missing (one being replaced). A foreign name or two
// members on one ordinal are not the StatefulSet's doing: nothing is
// planned then.
func memberOrdinals(obs *observedCluster) ([]string, error) {
	var names []string
	for _, mem := range obs.members {
		name := memberName(mem)
		o := podOrdinal(name)
		if o < 0 || name != resources.MemberName(obs.cluster, o) {
			return nil, fmt.Errorf("etcd member %q is not a pod of %s: nothing is changed until a person looks", name, resources.StatefulSetName(obs.cluster))
		}
		for len(names) <= o {
			names = append(names, "")
		}
		if names[o] != "" {
			return nil, fmt.Errorf("two etcd members are named %s: nothing is changed until a person looks", name)
		}
		names[o] = name
	}
	return names, nil
}

// firstFree is the lowest ordinal without a member.
func firstFree(ordinals []string) int {
	for i, name := range ordinals {
		if name == "" {
			return i
		}
	}
	return len(ordinals)
}

// lostMember finds a member that cannot hold its data: the member guard
// stopped its pod because its data directory is empty and the bootstrap
// settings do not let it start empty; or (for settings sealed before the
// guard existed) a voter that does not answer and whose data volume (its
// claim, or its pod for emptyDir) was created after the settings were
// sealed, when every member had data.
func lostMember(obs *observedCluster, m membership, ordinals []string) (string, bool) {
	mayStartEmpty := resources.MayStartEmpty(obs.bootstrap)
	sealedAt, sealed := resources.SealedAt(obs.bootstrap)
	for _, name := range ordinals {
		mem, listed := m.byName[name]
		if !listed || m.healthy[name] {
			continue
		}
		// A member the settings let start empty is the one being added:
		// a refusal from before they said so is stale, and planLearner
		// restarts its pod.
		if pod := memberPod(obs, name); pod != nil && !slices.Contains(mayStartEmpty, name) {
			if _, refused := resources.GuardRefused(pod); refused {
				return name, true
			}
		}
		// The time heuristic is for pods made before the guard existed: a
		// guarded pod says itself whether it lost its data.
		if mem.IsLearner || !sealed || hasGuard(memberPod(obs, name)) {
			continue
		}
		if created, ok := dataVolumeCreated(obs, name); ok && created.After(sealedAt) {
			return name, true
		}
	}
	return "", false
}

func hasGuard(p *corev1.Pod) bool {
	return p != nil && resources.HasGuard(&corev1.PodTemplateSpec{Spec: p.Spec})
}

func memberPod(obs *observedCluster, name string) *corev1.Pod {
	for i := range obs.pods {
		if obs.pods[i].Name == name {
			return &obs.pods[i]
		}
	}
	return nil
}

// dataVolumeCreated is when the volume holding a member's data was made.
func dataVolumeCreated(obs *observedCluster, member string) (time.Time, bool) {
	if !emptyDirStorage(obs.cluster) {
		for _, pvc := range obs.claims {
			if claimMember(pvc.Name) == member {
				return pvc.CreationTimestamp.Time, true
			}
		}
		return time.Time{}, false
	}
	for _, p := range obs.pods {
		if p.Name == member {
			return p.CreationTimestamp.Time, true
		}
	}
	return time.Time{}, false
}

// crashLooping says whether a member's pod waits out a restart backoff,
// or was stopped by the member guard before the member was allowed to
// start empty: either way it would not read the current settings soon.
func crashLooping(obs *observedCluster, name string) bool {
	p := memberPod(obs, name)
	if p == nil {
		return false
	}
	if _, refused := resources.GuardRefused(p); refused {
		return true
	}
	for _, cs := range append(p.Status.InitContainerStatuses, p.Status.ContainerStatuses...) {
		if cs.State.Waiting != nil && cs.State.Waiting.Reason == "CrashLoopBackOff" {
			return true
		}
	}
	return false
}

func memberNames(members []etcd.Member) []string {
	out := make([]string, len(members))
	for i, m := range members {
		out[i] = memberName(m)
	}
	return out
}

// Preflights: a membership change is refused when it would leave the
// cluster less able to survive a failure than it is now, beyond what the
// requested size itself implies.

// preflightAdd allows a learner only into a cluster whose voters are all
// healthy: a learner's catch-up loads the leader, and a cluster with a
// member down should be repaired before it is grown.
func preflightAdd(m membership) error {
	if m.healthyV < m.voters {
		return fmt.Errorf("not adding a member: %d of %d voters are unhealthy", m.voters-m.healthyV, m.voters)
	}
	return nil
}

// preflightVoterChange checks that after adding (+1) or removing (-1) one
// healthy voter, the healthy voters still make a quorum.
func preflightVoterChange(m membership, delta int) error {
	voters, healthy := m.voters+delta, m.healthyV+delta
	if healthy < resources.Quorum(voters) {
		return fmt.Errorf("refusing the change: %d healthy of %d voters would be below quorum %d", healthy, voters, resources.Quorum(voters))
	}
	return nil
}

// preflightRemove allows removing a healthy voter only when every other
// voter is healthy; removing an unhealthy one only keeps a quorum.
func preflightRemove(m membership, name string) error {
	if !m.healthy[name] {
		after := m.voters - 1
		if m.healthyV < resources.Quorum(max(after, 1)) {
			return fmt.Errorf("refusing to remove %s: %d healthy voters would not make a quorum of %d", name, m.healthyV, after)
		}
		return nil
	}
	if m.healthyV < m.voters {
		return fmt.Errorf("not removing healthy member %s while %d other voters are unhealthy", name, m.voters-m.healthyV)
	}
	return preflightVoterChange(m, -1)
}

// claimMember is the member whose data a claim of the StatefulSet holds.
func claimMember(claim string) string { return strings.TrimPrefix(claim, resources.DataVolumeName+"-") }

func podExists(obs *observedCluster, name string) bool { return memberPod(obs, name) != nil }
