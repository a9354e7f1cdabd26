package controller

import (
	"context"
	"fmt"
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
	"github.com/quorum-operator/quorum/internal/resources"
)

const (
	// maxRestartLag is how many raft entries a member may be behind the
	// leader and still be restarted: it then catches up from the leader's
	// log in moments instead of needing a snapshot.
	maxRestartLag = 1000
	// rolloutStepTimeout is how long a restarted member may take to come
	// back healthy before the rollout is reported halted.
	rolloutStepTimeout = 5 * time.Minute
)

// minVotersToRollEmptyDir: an emptyDir member restarted loses its data and
// is replaced from its peers; below three voters that can leave no copy,
// or no quorum to replace it with.
const minVotersToRollEmptyDir = 3

func emptyDirStorage(c *etcdv1alpha1.EtcdCluster) bool {
	return c.Spec.Storage != nil && c.Spec.Storage.EmptyDir != nil
}

// Pod waiting reasons that mean a restarted member will not come back by
// itself: the rollout halts on them at once.
var failedWaitingReasons = map[string]bool{
	"ErrImagePull": true, "ImagePullBackOff": true, "InvalidImageName": true,
	"CrashLoopBackOff": true, "CreateContainerError": true, "CreateContainerConfigError": true,
	"RunContainerError": true,
}

// ensureTemplate writes the pod template the spec asks for into the
// StatefulSet. No pod restarts because of it (OnDelete): planRollout
// restarts the members one at a time.
func (r *EtcdClusterReconciler) ensureTemplate(ctx context.Context, obs *observedCluster) (step, error) {
	c, sts := obs.cluster, obs.statefulSet
	// A cluster whose spec names no member spread keeps the one its
	// StatefulSet was created with (None from an operator before the field).
	placed := resources.WithMemberSpread(c, resources.EffectiveMemberSpread(c, sts))
	// Nor is the default quota lowered below data a member already holds.
	placed = withEffectiveQuota(obs, placed)
	template, hash := resources.MemberTemplate(placed, obs.trustedCA, r.ToolImage)
	creating := resources.IsCreating(obs.bootstrap)
	if creating {
		resources.KeepRestore(&sts.Spec.Template, &template)
	}
	// The restore source is dropped once the cluster formed; that changes
	// no hash, so no member restarts for it.
	dropRestore := !creating && resources.HasRestore(&sts.Spec.Template)
	// A StatefulSet written before the guard existed gets it, again without
	// a new hash; its pods, which carry no hash, are on the current one.
	addGuard := !resources.HasGuard(&sts.Spec.Template)
	retention := resources.ClaimRetentionPolicy()
	if sts.Annotations[resources.AnnotationTemplateHash] == hash && !dropRestore && !addGuard &&
		sts.Spec.PersistentVolumeClaimRetentionPolicy != nil && *sts.Spec.PersistentVolumeClaimRetentionPolicy == *retention {
		return step{}, nil
	}
	updated := sts.DeepCopy()
	if updated.Annotations == nil {
		updated.Annotations = map[string]string{}
	}
	if updated.Annotations[resources.AnnotationTemplateHash] != hash {
		updated.Annotations[resources.AnnotationRollingTo] = hash
	} else if addGuard && updated.Annotations[resources.AnnotationUnannotatedPodsHash] == "" {
		updated.Annotations[resources.AnnotationUnannotatedPodsHash] = hash
	}
	updated.Annotations[resources.AnnotationTemplateHash] = hash
	updated.Spec.Template = template
	updated.Spec.PersistentVolumeClaimRetentionPolicy = retention
	if err := r.Patch(ctx, updated, client.MergeFrom(sts)); err != nil {
		return step{}, fmt.Errorf("update the statefulset's pod template: %w", err)
	}
	logf.FromContext(ctx).Info("Updated the StatefulSet's pod template", "templateHash", hash, "version", c.Spec.Version, "restoreDropped", dropRestore)
	obs.statefulSet = updated
	return step{kind: stepUpdateTemplate, reason: fmt.Sprintf("pod template %s (etcd %s)", hash, c.Spec.Version)}, nil
}

// finishRollout removes the rolling-update mark once every member runs the
// current template.
func (r *EtcdClusterReconciler) finishRollout(ctx context.Context, obs *observedCluster, s step) error {
	sts := obs.statefulSet
	updated := sts.DeepCopy()
	delete(updated.Annotations, resources.AnnotationRollingTo)
	if err := r.Patch(ctx, updated, client.MergeFrom(sts)); err != nil {
		return fmt.Errorf("end the rolling update: %w", err)
	}
	r.event(obs.cluster, corev1.EventTypeNormal, "RolloutComplete", "Rolling update done: %s", s.reason)
	return nil
}

// rolloutState is how far the members are on the StatefulSet's current
// pod template.
type rolloutState struct {
	known    bool            // the StatefulSet controller has seen the current template
	active   bool            // a rolling update is under way
	updated  map[string]bool // member pods on the current template
	outdated []string        // member pods on an older one, highest ordinal first
	// restarting are members whose pod is being replaced or not back yet.
	restarting []string
}

func newRolloutState(obs *observedCluster) rolloutState {
	rs := rolloutState{updated: map[string]bool{}}
	sts := obs.statefulSet
	if sts == nil || sts.Status.ObservedGeneration < sts.Generation || sts.Status.UpdateRevision == "" {
		return rs
	}
	rs.known = true
	// A pod is on the current template when it carries the template's hash:
	// template changes that keep the hash (the restore source dropped, a
	// new guard image) restart nobody.
	want := sts.Annotations[resources.AnnotationTemplateHash]
	for _, p := range obs.pods {
		switch {
		case p.DeletionTimestamp != nil:
			rs.restarting = append(rs.restarting, p.Name)
		case podTemplateHash(sts, p) == want:
			rs.updated[p.Name] = true
		default:
			rs.outdated = append(rs.outdated, p.Name)
		}
	}
	sort.Slice(rs.outdated, func(i, j int) bool { return podOrdinal(rs.outdated[i]) > podOrdinal(rs.outdated[j]) })
	rs.active = sts.Annotations[resources.AnnotationRollingTo] != "" || len(rs.outdated) > 0
	return rs
}

// podTemplateHash is the template hash a member pod runs: its annotation,
// or for a pod made before pods carried one, the hash the StatefulSet had
// then.
func podTemplateHash(sts *appsv1.StatefulSet, p corev1.Pod) string {
	if h, ok := p.Annotations[resources.AnnotationTemplateHash]; ok {
		return h
	}
	return sts.Annotations[resources.AnnotationUnannotatedPodsHash]
}

// planRollout decides the next restart of a rolling update, once
// membership is settled. One member at a time: followers first, the leader
// last after leadership moved to an updated member. Before each restart
// every member is healthy and the member to restart has caught up; after
// it, the member must be healthy on the spec's version before the next.
func planRollout(obs *observedCluster, m membership) step {
	rs := newRolloutState(obs)
	if !rs.known {
		return step{kind: stepWait, reason: "waiting for the StatefulSet controller to see the pod template"}
	}
	if !rs.active {
		return step{kind: stepNone}
	}
	if len(rs.restarting) > 0 {
		return step{kind: stepWait, member: rs.restarting[0], reason: fmt.Sprintf("waiting for the pod of %s to be replaced", rs.restarting[0])}
	}
	if s, ok := planDowngrade(obs, m); ok {
		return s
	}
	if s, ok := checkUpdatedMembers(obs, m, rs); ok {
		return s
	}
	if len(rs.outdated) == 0 {
		return step{kind: stepFinishRollout, reason: fmt.Sprintf("every member runs etcd %s on the current template", obs.cluster.Spec.Version)}
	}
	progress := fmt.Sprintf("%d of %d members updated", len(rs.updated), len(obs.pods))
	if emptyDirStorage(obs.cluster) && m.voters < minVotersToRollEmptyDir {
		return step{kind: stepHalted, reason: fmt.Sprintf(
			"rollout halted: with emptyDir storage a restarted member starts without its data, and with %d voting members that can be the last copy; "+
				"scale to %d or more members first, so each restarted member is re-added from its peers (%s)", m.voters, minVotersToRollEmptyDir, progress)}
	}

	// A member that is down anyway is restarted first: that loses nothing,
	// and it is how a reverted spec repairs the member a halted rollout
	// left broken.
	for _, name := range rs.outdated {
		if !m.healthy[name] {
			if m.healthyV < m.voters-1 {
				return step{kind: stepWait, member: name, reason: fmt.Sprintf("not restarting %s: other voters are unhealthy too (%s)", name, progress)}
			}
			return step{kind: stepRollMember, member: name, reason: fmt.Sprintf("restarting %s, which is down, on the current template (%s)", name, progress)}
		}
	}
	if m.healthyV < m.voters {
		return step{kind: stepWait, reason: fmt.Sprintf("not restarting a member while %d voters are unhealthy (%s)", m.voters-m.healthyV, progress)}
	}
	name := nextToRestart(rs, m)
	if s, ok := quotaLowered(obs, name); ok {
		return s
	}
	if lag, ok := restartLag(obs, m, name); !ok || lag > maxRestartLag {
		return step{kind: stepWait, member: name, reason: fmt.Sprintf("waiting for %s to catch up with the leader (%d entries behind)", name, lag)}
	}
	if mem := m.byName[name]; mem.ID == m.leader && m.voters > 1 {
		target, ok := updatedTransferee(obs, m, rs, name)
		if !ok {
			return step{kind: stepWait, member: name, reason: fmt.Sprintf("%s leads and no other voter is healthy to take over", name)}
		}
		return step{kind: stepMoveLeader, member: name, id: target, reason: fmt.Sprintf("moving leadership off %s before restarting it (%s)", name, progress)}
	}
	return step{kind: stepRollMember, member: name, reason: fmt.Sprintf("restarting %s on the current template (%s)", name, progress)}
}

// planDowngrade prepares a minor downgrade the way etcd requires: before
// the first member restarts on the older minor, the downgrade is enabled
// (etcd then lowers the cluster version), and each member's data must have
// been migrated to the older storage version.
func planDowngrade(obs *observedCluster, m membership) (step, bool) {
	target := minorVersion(obs.cluster.Spec.Version)
	allNewer, enabled := len(obs.statuses) > 0, false
	for name, s := range obs.statuses {
		if !m.healthy[name] {
			continue
		}
		if !versionLess(target, minorVersion(s.Version)) {
			allNewer = false
		}
		if s.DowngradeTarget != "" && minorVersion(s.DowngradeTarget) == target {
			enabled = true
		}
	}
	switch {
	case allNewer && !enabled:
		if m.healthyV < m.voters {
			return step{kind: stepWait, reason: fmt.Sprintf("not enabling the downgrade to %s while %d voters are unhealthy", target, m.voters-m.healthyV)}, true
		}
		return step{kind: stepEnableDowngrade, reason: fmt.Sprintf("enabling etcd's downgrade to %s before restarting members on %s", target, obs.cluster.Spec.Version)}, true
	case enabled:
		for name, s := range obs.statuses {
			if m.healthy[name] && s.StorageVersion != "" && minorVersion(s.StorageVersion) != target {
				return step{kind: stepWait, member: name, reason: fmt.Sprintf("waiting for etcd to migrate the data of %s to storage version %s", name, target)}, true
			}
		}
	}
	return step{}, false
}

// checkUpdatedMembers waits for, or halts on, a member already restarted
// on the current template that is not healthy on the spec's version.
func checkUpdatedMembers(obs *observedCluster, m membership, rs rolloutState) (step, bool) {
	want := obs.cluster.Spec.Version
	for _, p := range obs.pods {
		if !rs.updated[p.Name] {
			continue
		}
		if m.healthy[p.Name] {
			if v := memberVersion(obs, p.Name); v != want {
				return step{kind: stepHalted, member: p.Name, reason: fmt.Sprintf(
					"rollout halted: %s runs etcd %s but spec.version is %s; does the image match the version?", p.Name, v, want)}, true
			}
			continue
		}
		if why, failed := podFailure(p); failed {
			return step{kind: stepHalted, member: p.Name, reason: fmt.Sprintf(
				"rollout halted: %s does not come back on the new template (%s); fix the spec, for example edit the version back", p.Name, why)}, true
		}
		if time.Since(p.CreationTimestamp.Time) > rolloutStepTimeout {
			return step{kind: stepHalted, member: p.Name, reason: fmt.Sprintf(
				"rollout halted: %s is not healthy %s after its restart; fix the spec, for example edit the version back", p.Name, rolloutStepTimeout)}, true
		}
		return step{kind: stepWait, member: p.Name, reason: fmt.Sprintf("waiting for %s to be healthy on version %s", p.Name, want)}, true
	}
	return step{}, false
}

// nextToRestart is the outdated follower with the highest ordinal, or the
// leader when only it is left.
func nextToRestart(rs rolloutState, m membership) string {
	for _, name := range rs.outdated {
		if m.byName[name].ID != m.leader {
			return name
		}
	}
	return rs.outdated[0]
}

// restartLag is how many raft entries the member has not applied yet that
// the leader has.
func restartLag(obs *observedCluster, m membership, name string) (uint64, bool) {
	member, ok := obs.statuses[name]
	if !ok {
		return 0, false
	}
	var leaderIndex uint64
	for n, s := range obs.statuses {
		if m.byName[n].ID == m.leader {
			leaderIndex = s.RaftIndex
		}
	}
	if leaderIndex <= member.Applied {
		return 0, true
	}
	return leaderIndex - member.Applied, true
}

// updatedTransferee prefers a healthy voter already on the new template,
// so leadership moves once per rollout.
func updatedTransferee(obs *observedCluster, m membership, rs rolloutState, leader string) (uint64, bool) {
	for _, p := range obs.pods {
		mem, ok := m.byName[p.Name]
		if ok && p.Name != leader && rs.updated[p.Name] && m.healthy[p.Name] && !mem.IsLearner {
			return mem.ID, true
		}
	}
	return transferee(obs, m, leader)
}

func memberVersion(obs *observedCluster, name string) string {
	if s, ok := obs.statuses[name]; ok {
		return s.Version
	}
	return ""
}

// podFailure says why a pod's etcd container cannot run, if it cannot.
func podFailure(p corev1.Pod) (string, bool) {
	for _, cs := range p.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil && failedWaitingReasons[w.Reason] {
			return fmt.Sprintf("%s: %s", w.Reason, w.Message), true
		}
	}
	return "", false
}
