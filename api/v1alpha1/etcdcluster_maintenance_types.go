package v1alpha1

import (
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MaintenanceSpec is housekeeping the operator does on the members'
// databases (docs/operations.md, "Disk space").
type MaintenanceSpec struct {
	// Defrag gives the members' free database pages back to the volume,
	// one member at a time, followers first and the leader last after
	// leadership moved, only while every member is healthy. Without it the
	// operator defragments only to recover from a NOSPACE alarm.
	//
	// +optional
	Defrag *DefragPolicy `json:"defrag,omitempty"`
}

// DefragPolicy says when members are defragmented: on a schedule, when a
// member's database is fragmented enough, or both.
//
// +kubebuilder:validation:XValidation:rule="has(self.schedule) || has(self.fragmentationThresholdPercent)",message="defrag needs a schedule, a fragmentationThresholdPercent, or both"
type DefragPolicy struct {
	// Schedule is a cron expression (minute hour day-of-month month
	// day-of-week) or a descriptor such as @daily or @every 24h, in UTC.
	// Each time it comes due every member is defragmented once; times
	// missed while the cluster was not healthy collapse into one run.
	//
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="self.startsWith('@') || self.trim().split(' ').filter(f, f != '').size() == 5",message="schedule must be a cron expression of 5 fields (minute hour day-of-month month day-of-week) or a descriptor such as @daily or @every 24h"
	Schedule string `json:"schedule,omitempty"`

	// FragmentationThresholdPercent defragments a member once this share
	// of its database file is free pages (etcd's db size minus db size in
	// use), and the file is at least minDBSize.
	//
	// +optional
	// +kubebuilder:validation:Minimum=10
	// +kubebuilder:validation:Maximum=90
	FragmentationThresholdPercent *int32 `json:"fragmentationThresholdPercent,omitempty"`

	// MinDBSize is the database size below which the threshold is not
	// applied (default 64Mi): a small database costs nothing to leave
	// fragmented, and would otherwise be defragmented over and over.
	//
	// +optional
	MinDBSize *resource.Quantity `json:"minDBSize,omitempty"`
}

// MaintenanceStatus records the operator's last housekeeping.
type MaintenanceStatus struct {
	// LastDefrag is the last defragmentation run, or the one under way.
	//
	// +optional
	LastDefrag *DefragStatus `json:"lastDefrag,omitempty"`

	// LastScheduleTime is the schedule time of the last scheduled run.
	//
	// +optional
	LastScheduleTime *metav1.Time `json:"lastScheduleTime,omitempty"`

	// LastCompaction is the last compaction the operator made (etcd's own
	// auto-compaction is not recorded here).
	//
	// +optional
	LastCompaction *CompactionStatus `json:"lastCompaction,omitempty"`
}

// Why a defragmentation ran.
const (
	DefragReasonSchedule  = "Schedule"
	DefragReasonThreshold = "Threshold"
	DefragReasonNoSpace   = "NoSpace"
)

// Results of a defragmentation run.
const (
	DefragRunning   = "Running"
	DefragSucceeded = "Succeeded"
	DefragFailed    = "Failed"
)

// DefragStatus is one defragmentation run over the members.
type DefragStatus struct {
	// Reason is Schedule, Threshold or NoSpace.
	Reason string `json:"reason"`

	// Result is Running, Succeeded or Failed.
	Result string `json:"result"`

	// Message says what failed, when a member's defragmentation did.
	//
	// +optional
	Message string `json:"message,omitempty"`

	// StartTime is when the first member's defragmentation began.
	StartTime metav1.Time `json:"startTime"`

	// CompletionTime is when the last member's ended.
	//
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`

	// ReclaimedBytes is how much the members' database files shrank, in
	// all.
	//
	// +optional
	ReclaimedBytes int64 `json:"reclaimedBytes,omitempty"`

	// Members are the members defragmented in this run, in order.
	//
	// +optional
	// +listType=map
	// +listMapKey=name
	Members []DefragMemberStatus `json:"members,omitempty"`
}

// DefragMemberStatus is one member's defragmentation.
type DefragMemberStatus struct {
	// Name is the member's name.
	Name string `json:"name"`

	// StartTime is when its defragmentation began.
	StartTime metav1.Time `json:"startTime"`

	// DurationMillis is how long it took; the member served nothing
	// meanwhile.
	DurationMillis int64 `json:"durationMillis"`

	// DBSizeBeforeBytes is its database file's size before.
	DBSizeBeforeBytes int64 `json:"dbSizeBeforeBytes"`

	// DBSizeAfterBytes is its database file's size after.
	DBSizeAfterBytes int64 `json:"dbSizeAfterBytes"`
}

// CompactionStatus is one compaction the operator made.
type CompactionStatus struct {
	// Revision is the revision compacted to: history before it is gone.
	Revision int64 `json:"revision"`

	// Time is when it was made.
	Time metav1.Time `json:"time"`

	// Reason says why, for example NoSpace.
	Reason string `json:"reason"`
}
