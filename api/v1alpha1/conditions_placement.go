package v1alpha1

// Condition types about where members run and what they store on (#17).
// Each is True while something needs a person's attention.
const (
	// ConditionVotersShareNode is True when two or more voting members
	// run on one node: losing that node loses all their votes at once.
	// It is expected with memberSpread None on a one-node cluster.
	ConditionVotersShareNode = "VotersShareNode"
	// ConditionMembersUnschedulable is True while a member pod cannot be
	// scheduled; its message gives the scheduler's reason for each (for
	// example too few nodes for memberSpread Required).
	ConditionMembersUnschedulable = "MembersUnschedulable"
	// ConditionStorageResizing is True while a member's claim requests
	// less than spec.storage.size: being expanded, or refused because its
	// StorageClass cannot expand (the message says which).
	ConditionStorageResizing = "StorageResizing"
)

// Reasons of the placement and storage conditions.
const (
	// ReasonSharedNode: two or more voters run on one node.
	ReasonSharedNode = "SharedNode"
	// ReasonSeparateNodes: no two voters are known to share a node.
	ReasonSeparateNodes = "SeparateNodes"
	// ReasonUnschedulable: the scheduler cannot place a member pod.
	ReasonUnschedulable = "Unschedulable"
	// ReasonScheduled: every member pod that exists is scheduled.
	ReasonScheduled = "Scheduled"
	// ReasonExpanding: claims were asked for spec.storage.size and their
	// volumes are being expanded.
	ReasonExpanding = "Expanding"
	// ReasonExpansionNotSupported: a claim's StorageClass does not allow
	// volume expansion (allowVolumeExpansion), or the claim has no class;
	// the claim keeps its size and nothing else changes.
	ReasonExpansionNotSupported = "ExpansionNotSupported"
	// ReasonClaimsMatchSpec: every member claim has spec.storage.size.
	ReasonClaimsMatchSpec = "ClaimsMatchSpec"
)
