package controller

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
	"github.com/quorum-operator/quorum/internal/etcd"
	"github.com/quorum-operator/quorum/internal/resources"
)

// Condition reasons set by status; the API package documents the rest.
const (
	reasonCreating       = "Creating"
	reasonMembersMissing = "MembersMissing"
	reasonAllHealthy     = "AllMembersHealthy"
	reasonScaling        = "Scaling"
	reasonWaiting        = "Waiting"
)

// memberStatuses lists etcd's members as status reports them: health and
// version from each member's own answer, leadership from any answer.
func memberStatuses(obs *observedCluster) []etcdv1alpha1.MemberStatus {
	var leader uint64
	for _, s := range obs.statuses {
		if s.Leader != 0 {
			leader = s.Leader
		}
	}
	if obs.members == nil {
		return lastKnownMembers(obs)
	}
	out := make([]etcdv1alpha1.MemberStatus, 0, len(obs.members))
	for _, m := range obs.members {
		name := memberName(m)
		ms := etcdv1alpha1.MemberStatus{Name: name, ID: m.IDHex(), Learner: m.IsLearner, Leader: m.ID == leader}
		if len(m.PeerURLs) > 0 {
			ms.PeerURL = m.PeerURLs[0]
		}
		fillHealth(&ms, obs.statuses[name], m.ID)
		out = append(out, ms)
	}
	return out
}

// lastKnownMembers keeps the member list of the last status when no member
// could list the members (a cluster without quorum cannot): a person then
// still sees which members exist, and each is healthy only if it answers
// for itself now.
func lastKnownMembers(obs *observedCluster) []etcdv1alpha1.MemberStatus {
	out := make([]etcdv1alpha1.MemberStatus, 0, len(obs.cluster.Status.Members))
	for _, known := range obs.cluster.Status.Members {
		ms := etcdv1alpha1.MemberStatus{Name: known.Name, ID: known.ID, PeerURL: known.PeerURL, Learner: known.Learner}
		if id, err := strconv.ParseUint(known.ID, 16, 64); err == nil {
			fillHealth(&ms, obs.statuses[known.Name], id)
		}
		out = append(out, ms)
	}
	return out
}

// answersAs says whether a status answer is healthy and comes from the
// member with that ID (not from another member on the same pod IP).
func answersAs(s *etcd.MemberStatus, id uint64) bool {
	return s != nil && s.MemberID == id && len(s.Errors) == 0
}

// fillHealth records what a member said of itself when it answered its
// status call as the member with that ID; it is healthy only without
// errors. A member that answers with errors (no leader, an alarm) is
// running but not serving, and status says why.
func fillHealth(ms *etcdv1alpha1.MemberStatus, s *etcd.MemberStatus, id uint64) {
	if s == nil || s.MemberID != id {
		return
	}
	ms.Version, ms.DBSizeBytes, ms.Revision = s.Version, s.DBSize, s.Revision
	ms.Healthy = len(s.Errors) == 0
	ms.Errors = append([]string(nil), s.Errors...)
}

// computeStatus derives the whole status from what was observed now. It
// never reads the conditions of an earlier pass.
func computeStatus(obs *observedCluster, plan step) etcdv1alpha1.EtcdClusterStatus {
	c := obs.cluster
	st := etcdv1alpha1.EtcdClusterStatus{
		ObservedGeneration: observedGeneration(c, plan),
		Conditions:         append([]metav1.Condition(nil), c.Status.Conditions...),
		ClusterID:          c.Status.ClusterID,
		ClientEndpoint:     resources.ClientEndpoint(c),
		Members:            memberStatuses(obs),
		Certificates:       obs.certificates,
		Maintenance:        obs.maintenanceStatus(),
	}
	for _, m := range st.Members {
		if m.Healthy && (st.CurrentVersion == "" || versionLess(m.Version, st.CurrentVersion)) {
			st.CurrentVersion = m.Version
		}
	}
	for _, s := range obs.statuses {
		st.ClusterID = fmt.Sprintf("%x", s.ClusterID)
		break
	}

	h := newHealth(st, int(c.Spec.Size))
	h.servingPods = servingVoterPods(obs, st.Members)
	h.lostData = votersThatLostData(obs, st.Members)
	h.creating = resources.IsCreating(obs.bootstrap)
	st.ReadyMembers = int32(h.ready)
	rs := newRolloutState(obs)
	st.UpdatedMembers = int32(len(rs.updated))
	available := h.available(obs.etcdErr)
	if why, failed := restoreFailure(obs); failed && h.neverFormed {
		available = newCondition(etcdv1alpha1.ConditionAvailable, metav1.ConditionFalse, etcdv1alpha1.ReasonRestoreFailed, why)
	}
	progressing := h.progressing(c.Spec.Paused, plan)
	st.Phase = phase(c.Spec.Paused, h, rs.active && plan.kind != stepHalted)
	if _, restoring := restoringBy(c); restoring {
		// Members stopped on purpose: not a lost quorum a person must see to.
		st.Phase = etcdv1alpha1.PhaseRestoring
	}
	stalled := stalledCondition(st.Phase, available, plan)
	reconciling := reconcilingCondition(progressing, stalled)
	for _, cond := range []metav1.Condition{
		available,
		h.degraded(),
		progressing,
		upgrading(c, rs, plan, len(obs.pods)),
		alarmCondition(obs),
		votersShareNode(obs, st.Members),
		membersUnschedulable(obs),
		storageResizing(obs),
		stalled,
		reconciling,
		readyCondition(available, reconciling, stalled),
	} {
		cond.ObservedGeneration = c.Generation
		meta.SetStatusCondition(&st.Conditions, cond)
	}
	return st
}

// The kstatus conditions (Ready, Reconciling, Stalled) are what Flux,
// Argo CD and 'kubectl wait --for=condition=Ready' read: Stalled when the
// operator cannot go on without a person, Reconciling while work is in
// flight, Ready when the cluster serves and is settled.

// stalledCondition is True for a lost quorum, a halted rollout and a
// failed restore: nothing changes until a person acts.
func stalledCondition(ph etcdv1alpha1.ClusterPhase, available metav1.Condition, plan step) metav1.Condition {
	switch {
	case plan.waitsForPerson():
		return newCondition(etcdv1alpha1.ConditionStalled, metav1.ConditionTrue, string(plan.kind), plan.reason)
	case available.Reason == etcdv1alpha1.ReasonRestoreFailed:
		return newCondition(etcdv1alpha1.ConditionStalled, metav1.ConditionTrue, etcdv1alpha1.ReasonRestoreFailed, available.Message)
	case ph == etcdv1alpha1.PhaseQuorumLost:
		return newCondition(etcdv1alpha1.ConditionStalled, metav1.ConditionTrue, etcdv1alpha1.ReasonQuorumLost, available.Message)
	default:
		return newCondition(etcdv1alpha1.ConditionStalled, metav1.ConditionFalse, etcdv1alpha1.ReasonNotStalled, "Nothing waits for a person")
	}
}

// reconcilingCondition is True while the operator works toward the spec
// (Progressing True), unless it is stalled.
func reconcilingCondition(progressing, stalled metav1.Condition) metav1.Condition {
	if progressing.Status == metav1.ConditionTrue && stalled.Status != metav1.ConditionTrue {
		return newCondition(etcdv1alpha1.ConditionReconciling, metav1.ConditionTrue, progressing.Reason, progressing.Message)
	}
	return newCondition(etcdv1alpha1.ConditionReconciling, metav1.ConditionFalse, progressing.Reason, progressing.Message)
}

// readyCondition summarises: available, settled and not stalled.
func readyCondition(available, reconciling, stalled metav1.Condition) metav1.Condition {
	switch {
	case stalled.Status == metav1.ConditionTrue:
		return newCondition(etcdv1alpha1.ConditionReady, metav1.ConditionFalse, stalled.Reason, stalled.Message)
	case available.Status != metav1.ConditionTrue:
		return newCondition(etcdv1alpha1.ConditionReady, metav1.ConditionFalse, available.Reason, available.Message)
	case reconciling.Status == metav1.ConditionTrue:
		return newCondition(etcdv1alpha1.ConditionReady, metav1.ConditionFalse, reconciling.Reason, reconciling.Message)
	default:
		return newCondition(etcdv1alpha1.ConditionReady, metav1.ConditionTrue, etcdv1alpha1.ReasonReady, available.Message)
	}
}

// observedGeneration advances only when a pass acted on the spec: a pass
// that failed keeps the generation the last good one saw.
func observedGeneration(c *etcdv1alpha1.EtcdCluster, plan step) int64 {
	if plan.kind == stepError {
		return c.Status.ObservedGeneration
	}
	return c.Generation
}

// restoreFailure is why a member could not restore its snapshot, if one
// could not.
func restoreFailure(obs *observedCluster) (string, bool) {
	for i := range obs.pods {
		if msg, failed := resources.RestoreFailure(&obs.pods[i]); failed {
			return fmt.Sprintf("%s could not restore the snapshot, so no member starts: %s", obs.pods[i].Name, msg), true
		}
	}
	return "", false
}

// upgrading reports a rolling update and how far it is.
func upgrading(c *etcdv1alpha1.EtcdCluster, rs rolloutState, plan step, pods int) metav1.Condition {
	progress := fmt.Sprintf("%d of %d members on the current template (etcd %s)", len(rs.updated), pods, c.Spec.Version)
	switch {
	case plan.kind == stepHalted:
		return newCondition(etcdv1alpha1.ConditionUpgrading, metav1.ConditionTrue, etcdv1alpha1.ReasonRolloutHalted, progress+": "+plan.reason)
	case rs.active:
		msg := progress
		if plan.reason != "" {
			msg += ": " + plan.reason
		}
		return newCondition(etcdv1alpha1.ConditionUpgrading, metav1.ConditionTrue, etcdv1alpha1.ReasonRollingUpdate, msg)
	default:
		return newCondition(etcdv1alpha1.ConditionUpgrading, metav1.ConditionFalse, etcdv1alpha1.ReasonUpToDate, progress)
	}
}

// health is what the conditions and the phase are derived from.
type health struct {
	size, members, voters, ready int // ready: healthy voters
	answering                    int // voters that answered, healthy or not
	lostData                     int // voters whose member guard found their data gone
	quorate, allHealthy          bool
	// servingPods are voters whose pods are Ready: the endpoints the client
	// Service sends clients to.
	servingPods int
	// A cluster etcd never answered for is still being created; one whose
	// ID was seen before has lost quorum.
	neverFormed bool
	// creating: the initial members have not all started once yet (the
	// bootstrap settings still say "new").
	creating bool
}

// servingVoterPods counts the voters whose pod is Ready, so that the client
// Service has it as an endpoint.
func servingVoterPods(obs *observedCluster, members []etcdv1alpha1.MemberStatus) int {
	voters := map[string]bool{}
	for _, m := range members {
		if !m.Learner {
			voters[m.Name] = true
		}
	}
	n := 0
	for i := range obs.pods {
		p := &obs.pods[i]
		if voters[p.Name] && p.DeletionTimestamp == nil && podReady(p) {
			n++
		}
	}
	return n
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func newHealth(st etcdv1alpha1.EtcdClusterStatus, size int) health {
	h := health{size: size, members: len(st.Members), neverFormed: st.ClusterID == ""}
	for _, m := range st.Members {
		if !m.Learner {
			h.voters++
			if m.Healthy {
				h.ready++
			}
			if m.Healthy || len(m.Errors) > 0 {
				h.answering++
			}
		}
	}
	h.quorate = h.voters > 0 && h.ready >= resources.Quorum(h.voters)
	h.allHealthy = h.quorate && h.ready == h.voters
	return h
}

func (h health) scaling() bool {
	return !h.neverFormed && (h.voters != h.size || h.members != h.size)
}

func newCondition(t string, s metav1.ConditionStatus, reason, msg string) metav1.Condition {
	return metav1.Condition{Type: t, Status: s, Reason: reason, Message: msg}
}

// available is True only when a client can use the cluster through the
// client Service: a quorum of voters healthy in etcd, and at least a quorum
// of them Ready behind the Service. etcd can have quorum a moment before the
// kubelet marks the pods Ready, and a client sent to a Service without
// endpoints is refused.
func (h health) available(etcdErr error) metav1.Condition {
	switch {
	case h.quorate && h.servingPods >= resources.Quorum(h.voters):
		return newCondition(etcdv1alpha1.ConditionAvailable, metav1.ConditionTrue, etcdv1alpha1.ReasonQuorumHealthy,
			fmt.Sprintf("%d of %d voting members healthy, %d ready behind the client Service", h.ready, h.voters, h.servingPods))
	case h.quorate:
		return newCondition(etcdv1alpha1.ConditionAvailable, metav1.ConditionFalse, etcdv1alpha1.ReasonMemberStarting,
			fmt.Sprintf("etcd has quorum (%d of %d voting members healthy) but only %d member pods are ready behind the client Service; %d needed",
				h.ready, h.voters, h.servingPods, resources.Quorum(h.voters)))
	case h.neverFormed:
		msg := "Waiting for the initial members to form the cluster"
		if etcdErr != nil {
			msg += ": " + etcd.Describe(etcdErr)
		}
		return newCondition(etcdv1alpha1.ConditionAvailable, metav1.ConditionFalse, reasonCreating, msg)
	default:
		return newCondition(etcdv1alpha1.ConditionAvailable, metav1.ConditionFalse, etcdv1alpha1.ReasonQuorumLost,
			quorumLostMessage(h, etcdErr))
	}
}

// degraded is about health, not size: a cluster being scaled with every
// member healthy is progressing, not degraded.
func (h health) degraded() metav1.Condition {
	switch {
	case h.allHealthy:
		return newCondition(etcdv1alpha1.ConditionDegraded, metav1.ConditionFalse, reasonAllHealthy, "All voting members are healthy")
	case h.neverFormed, h.creating:
		return newCondition(etcdv1alpha1.ConditionDegraded, metav1.ConditionFalse, reasonCreating, "The cluster is being created")
	default:
		return newCondition(etcdv1alpha1.ConditionDegraded, metav1.ConditionTrue, reasonMembersMissing,
			fmt.Sprintf("%d of %d voting members are healthy", h.ready, h.voters))
	}
}

// progressing says what the operator is doing, or why it waits.
func (h health) progressing(paused bool, plan step) metav1.Condition {
	settled := h.allHealthy && h.voters == h.size && h.members == h.size && plan.kind == stepNone
	switch {
	case paused:
		return newCondition(etcdv1alpha1.ConditionProgressing, metav1.ConditionFalse, etcdv1alpha1.ReasonPaused, "spec.paused is set: the operator changes nothing")
	case plan.kind == stepError:
		return newCondition(etcdv1alpha1.ConditionProgressing, metav1.ConditionTrue, etcdv1alpha1.ReasonReconcileError, plan.reason)
	case settled:
		return newCondition(etcdv1alpha1.ConditionProgressing, metav1.ConditionFalse, etcdv1alpha1.ReasonReconciled, "The cluster matches its spec")
	case plan.kind == stepWait:
		// Before the members' first step too: why creation waits (a
		// backup to restore, certificates) matters more than that it does.
		return newCondition(etcdv1alpha1.ConditionProgressing, metav1.ConditionTrue, reasonWaiting, plan.reason)
	case h.neverFormed, h.creating:
		return newCondition(etcdv1alpha1.ConditionProgressing, metav1.ConditionTrue, reasonCreating, "Creating the initial members")
	case plan.waitsForPerson():
		// As a Deployment past its progress deadline: not progressing.
		return newCondition(etcdv1alpha1.ConditionProgressing, metav1.ConditionFalse, string(plan.kind), plan.reason)
	case plan.kind != stepNone:
		return newCondition(etcdv1alpha1.ConditionProgressing, metav1.ConditionTrue, string(plan.kind), plan.reason)
	default:
		return newCondition(etcdv1alpha1.ConditionProgressing, metav1.ConditionTrue, reasonMembersMissing, "Waiting for members to become healthy")
	}
}

// quorumLostMessage counts the members that still answer beside the
// healthy ones: a survivor without a leader answers but is not healthy,
// and a person deciding what to do needs to know it is there.
func quorumLostMessage(h health, etcdErr error) string {
	msg := fmt.Sprintf("%d of %d voting members healthy (%d answering), quorum needs %d; the operator takes no destructive action, a person must decide",
		h.ready, h.voters, h.answering, resources.Quorum(max(h.voters, 1)))
	if h.lostData > 0 {
		msg += fmt.Sprintf("; %d of %d voting members lost their data (their member guard found the data directory empty)", h.lostData, h.voters)
		if h.voters-h.lostData < resources.Quorum(max(h.voters, 1)) {
			msg += ": fewer than a quorum still hold the data, so the cluster cannot come back by itself; " +
				"restore it from a backup (docs/backup.md): the operator restores nothing unasked"
		}
	}
	if etcdErr != nil {
		msg += ": " + etcd.Describe(etcdErr)
	}
	return msg
}

// votersThatLostData counts the voters whose pod the member guard stopped
// for an empty data directory: members that will not come back with data.
func votersThatLostData(obs *observedCluster, members []etcdv1alpha1.MemberStatus) int {
	n := 0
	for _, m := range members {
		if m.Learner {
			continue
		}
		if p := memberPod(obs, m.Name); p != nil {
			if _, refused := resources.GuardRefused(p); refused {
				n++
			}
		}
	}
	return n
}

// phase summarises: a halted rolling update shows as Degraded (a member
// is down), one under way as Upgrading.
func phase(paused bool, h health, rolling bool) etcdv1alpha1.ClusterPhase {
	switch {
	case paused:
		return etcdv1alpha1.PhasePaused
	case h.neverFormed && !h.quorate, h.creating:
		// Members starting for the first time are not a degraded cluster.
		return etcdv1alpha1.PhaseCreating
	case !h.quorate:
		return etcdv1alpha1.PhaseQuorumLost
	case h.scaling():
		return etcdv1alpha1.PhaseScaling
	case rolling:
		return etcdv1alpha1.PhaseUpgrading
	case !h.allHealthy:
		return etcdv1alpha1.PhaseDegraded
	default:
		return etcdv1alpha1.PhaseRunning
	}
}

// alarmCondition reports etcd's raised alarms, with the members that raised
// them. Every member lists every alarm, so they are collected once.
func alarmCondition(obs *observedCluster) metav1.Condition {
	alarms := raisedAlarms(obs)
	if len(alarms) == 0 {
		return newCondition(etcdv1alpha1.ConditionAlarm, metav1.ConditionFalse, etcdv1alpha1.ReasonNoAlarm, "No etcd alarm is raised")
	}
	reason := etcdv1alpha1.ReasonNoSpace
	parts := make([]string, 0, len(alarms))
	for _, a := range alarms {
		if a.Type != etcd.AlarmNoSpace {
			reason = etcdv1alpha1.ReasonCorrupt
		}
		parts = append(parts, fmt.Sprintf("%s raised by %s", a.Type, alarmMemberName(obs, a.MemberID)))
	}
	msg := strings.Join(parts, ", ")
	if reason == etcdv1alpha1.ReasonNoSpace {
		msg += fmt.Sprintf(": the database reached its quota (%s) and etcd refuses writes; the operator compacts the history, defragments "+
			"each member and disarms the alarm once every member's database is below 90%% of the quota; if the data itself does not fit, "+
			"delete data or raise spec.options.quotaBackendBytes (at most the volume)", quotaText(obs.cluster))
	} else {
		msg += ": etcd found its data inconsistent and refuses writes; a person must look (the operator never disarms it)"
	}
	return newCondition(etcdv1alpha1.ConditionAlarm, metav1.ConditionTrue, reason, msg)
}

// raisedAlarms is every alarm any member reports, once each, in a stable
// order.
func raisedAlarms(obs *observedCluster) []etcd.Alarm {
	seen := map[etcd.Alarm]bool{}
	var out []etcd.Alarm
	for _, s := range obs.statuses {
		for _, a := range s.Alarms {
			if !seen[a] {
				seen[a] = true
				out = append(out, a)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Type != out[j].Type {
			return out[i].Type < out[j].Type
		}
		return out[i].MemberID < out[j].MemberID
	})
	return out
}

func quotaText(c *etcdv1alpha1.EtcdCluster) string {
	return resource.NewQuantity(resources.QuotaBackendBytes(c), resource.BinarySI).String()
}

func alarmMemberName(obs *observedCluster, id uint64) string {
	for _, m := range obs.members {
		if m.ID == id {
			return memberName(m)
		}
	}
	return fmt.Sprintf("member %x", id)
}
