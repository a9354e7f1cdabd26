package v1alpha1

// Condition types of an EtcdCluster. They follow the kstatus conventions, so
// Argo CD, Flux and 'kubectl wait' read health from them: Available is the
// positive summary, Progressing is True while the operator works toward the
// spec, Degraded is True while the cluster runs with less fault tolerance
// than its spec asks for.
const (
	// ConditionAvailable is True when a quorum of members serves requests.
	ConditionAvailable = "Available"
	// ConditionProgressing is True while the cluster is being created,
	// scaled, upgraded or repaired.
	ConditionProgressing = "Progressing"
	// ConditionDegraded is True when members are missing or unhealthy.
	ConditionDegraded = "Degraded"
	// ConditionUpgrading is True while members run another version or pod
	// template than the spec asks for; its message gives the progress.
	ConditionUpgrading = "Upgrading"
	// ConditionAlarm is True while etcd has an alarm raised: NOSPACE (the
	// database reached its quota; etcd refuses writes until the alarm is
	// disarmed) or CORRUPT. An alarm is not a loss of quorum: reads are
	// served and the operator still acts.
	ConditionAlarm = "Alarm"
	// ConditionReady is kstatus' summary: True when the object is healthy
	// and settled (an EtcdCluster Available with nothing in flight).
	ConditionReady = "Ready"
	// ConditionReconciling is True while work is in flight or the spec has
	// not been acted on yet (kstatus: InProgress).
	ConditionReconciling = "Reconciling"
	// ConditionStalled is True when the operator cannot go on without a
	// person: a lost quorum, a halted rollout, a failed restore, a failed
	// backup, an invalid schedule (kstatus: Failed).
	ConditionStalled = "Stalled"
)

// Condition reasons. Each is a CamelCase word a user can search for.
const (
	// ReasonPending: the operator has not yet acted on the cluster.
	ReasonPending = "Pending"
	// ReasonQuorumHealthy: a quorum of voting members is healthy.
	ReasonQuorumHealthy = "QuorumHealthy"
	// ReasonQuorumLost: fewer than a quorum of voting members are healthy;
	// the operator does nothing destructive until a person acts.
	ReasonQuorumLost = "QuorumLost"
	// ReasonReconciled: the cluster matches its spec.
	ReasonReconciled = "Reconciled"
	// ReasonPaused: spec.paused is set; nothing is changed.
	ReasonPaused = "Paused"
	// ReasonRollingUpdate: members are being restarted one at a time on
	// the current template.
	ReasonRollingUpdate = "RollingUpdate"
	// ReasonRolloutHalted: a restarted member did not come back healthy on
	// the new template; no other member is touched until the spec is fixed
	// (for example the version edited back).
	ReasonRolloutHalted = "RolloutHalted"
	// ReasonLearnerNotCatchingUp: a learner has not caught up with the
	// leader long after its pod was created; it is not promoted and no
	// other member is added until it is (or spec.size drops it).
	ReasonLearnerNotCatchingUp = "LearnerNotCatchingUp"
	// ReasonUpToDate: every member runs the current template.
	ReasonUpToDate = "UpToDate"
	// ReasonRestoreFailed: a member could not restore the snapshot of
	// spec.bootstrap.fromBackup (missing, or its SHA-256 does not match);
	// no member starts.
	ReasonRestoreFailed = "RestoreFailed"
	// ReasonNoSpace: etcd's NOSPACE alarm is raised; raise
	// spec.options.quotaBackendBytes (or compact and defragment) and the
	// operator disarms it once every member's database fits its quota.
	ReasonNoSpace = "NoSpace"
	// ReasonCorrupt: etcd's CORRUPT alarm is raised; a person must look.
	ReasonCorrupt = "Corrupt"
	// ReasonNoAlarm: no alarm is raised.
	ReasonNoAlarm = "NoAlarm"
	// ReasonReconcileError: the last pass failed; the message says why.
	ReasonReconcileError = "ReconcileError"
	// ReasonReady: the object is healthy and settled.
	ReasonReady = "Ready"
	// ReasonNotStalled: nothing waits for a person.
	ReasonNotStalled = "NotStalled"
	// ReasonMemberStarting: members are starting for the first time.
	ReasonMemberStarting = "MembersStarting"
)
