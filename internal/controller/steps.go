package controller

import "github.com/quorum-operator/quorum/internal/etcd"

// stepKind is the one change a reconcile pass makes. Every part of a pass
// (act) says what it did as a step: the first that changed something ends
// the pass, is reported in the Progressing condition, and is a failpoint
// of its own name (internal/failpoint), so tests can stop the operator
// right after any of them.
type stepKind string

const (
	stepNone            stepKind = ""
	stepWait            stepKind = "Wait"                 // nothing safe to do now; reason says why
	stepAddLearner      stepKind = "AddLearner"           // member add --learner, before its pod exists
	stepRaiseReplicas   stepKind = "RaiseReplicas"        // start the pod of a member etcd already lists
	stepPromote         stepKind = "Promote"              // a caught-up learner becomes a voter
	stepMoveLeader      stepKind = "MoveLeader"           // before the leader is removed
	stepRemoveMember    stepKind = "RemoveMember"         // member remove, before its pod goes
	stepLowerReplicas   stepKind = "LowerReplicas"        // stop the pods of removed members
	stepDeleteClaim     stepKind = "DeleteClaim"          // so a later scale-out starts clean
	stepSeal            stepKind = "SealBootstrap"        // no member with empty data may start
	stepReplace         stepKind = "ReplaceMember"        // remove a member that lost its data, to re-add it
	stepRestartPod      stepKind = "RestartPod"           // a learner's pod waiting out a crash-loop backoff
	stepRollMember      stepKind = "RestartMember"        // rolling update: restart one member on the new template
	stepHalted          stepKind = "RolloutHalted"        // a restarted member did not come back; nothing is done
	stepLearnerStuck    stepKind = "LearnerNotCatchingUp" // a learner has not caught up within learnerCatchUpBound; nothing is done
	stepFinishRollout   stepKind = "FinishRollout"        // every member is updated: end the rolling update
	stepEnableDowngrade stepKind = "EnableDowngrade"      // etcd's downgrade API, before a minor downgrade
	stepDisarmAlarm     stepKind = "DisarmAlarm"          // NOSPACE, once every member's database fits its quota
	stepError           stepKind = "ReconcileError"       // the pass failed; reason says why (status only)
	stepWriteJoin       stepKind = "WriteJoinSettings"    // an unstarted learner's join settings follow membership
	stepNarrow          stepKind = "NarrowBootstrap"      // started members leave the list of those that may start empty
	stepCompact         stepKind = "Compact"              // NOSPACE: discard the history before the current revision
	stepDefrag          stepKind = "Defragment"           // give one member's free database pages back to its volume

	// Steps of the Kubernetes objects around the members.
	stepApplyServices  stepKind = "ApplyServices"     // the peer and client Services and the disruption budget
	stepIssueCA        stepKind = "IssueCA"           // the cluster's CA, created once
	stepIssueLeaves    stepKind = "IssueCertificates" // leaf certificates missing, renewed or reissued
	stepCATrustBoth    stepKind = "RotateCATrustBoth" // CA rotation: members trust the old and a new CA
	stepCASwitch       stepKind = "RotateCASwitch"    // CA rotation: the new CA signs; every leaf is reissued
	stepCADropOld      stepKind = "RotateCADropOld"   // CA rotation: the old CA is no longer trusted
	stepCreate         stepKind = "CreateMembers"     // a new cluster's bootstrap settings and StatefulSet
	stepUpdateTemplate stepKind = "UpdateTemplate"    // the StatefulSet's pod template follows the spec
	stepExpandClaims   stepKind = "ExpandClaims"      // member claims raised to spec.storage.size
)

// step is the planned change: what, to which member, and why.
type step struct {
	kind   stepKind
	member string     // member (and pod) name
	id     uint64     // etcd member ID, for promote, remove and move-leader
	alarm  etcd.Alarm // for disarm
	// remaining: for narrow, the members that may still start empty.
	remaining []string
	replicas  int32      // for raise and lower
	space     *spacePlan // for compact and defragment
	reason    string     // for people: status messages and events
}

// acts says whether the step changes anything.
func (s step) acts() bool {
	return s.kind != stepNone && s.kind != stepWait && !s.waitsForPerson() && s.kind != stepError
}

// waitsForPerson says whether the operator stopped a change it cannot
// finish by itself: a halted rollout, a learner that does not catch up.
func (s step) waitsForPerson() bool {
	return s.kind == stepHalted || s.kind == stepLearnerStuck
}

// watched says whether the step writes an object the reconciler watches
// (the StatefulSet, its pods, the Services, the bootstrap ConfigMap, the
// budget): its outcome then starts a pass by itself.
func (k stepKind) watched() bool {
	switch k {
	case stepCreate, stepApplyServices, stepUpdateTemplate, stepRaiseReplicas, stepLowerReplicas,
		stepSeal, stepNarrow, stepWriteJoin, stepRestartPod, stepRollMember, stepFinishRollout:
		return true
	}
	return false
}
