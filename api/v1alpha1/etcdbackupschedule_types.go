package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// EtcdBackupScheduleSpec creates EtcdBackups on a schedule and prunes old
// ones with their snapshots.
type EtcdBackupScheduleSpec struct {
	// Schedule is a cron expression (minute hour day-of-month month
	// day-of-week) or a descriptor such as @hourly or @every 6h, in UTC.
	//
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	Schedule string `json:"schedule"`

	// Suspend stops new backups; existing ones are kept and still pruned.
	//
	// +optional
	Suspend bool `json:"suspend,omitempty"`

	// BackupTemplate is the spec of each EtcdBackup.
	BackupTemplate EtcdBackupSpec `json:"backupTemplate"`

	// Retention says which backups are pruned. The newest succeeded backup
	// is never pruned.
	//
	// +optional
	Retention BackupRetention `json:"retention,omitempty"`

	// Verify has the schedule's backups verified (see EtcdBackup's
	// spec.verify), each one or one in every N; backupTemplate.verify
	// verifies each one too.
	//
	// +optional
	Verify *ScheduleVerification `json:"verify,omitempty"`
}

// BackupRetention keeps backups by count and by age; a backup is pruned
// when either says so.
type BackupRetention struct {
	// MaxCount is how many finished backups are kept, newest first.
	//
	// +optional
	// +kubebuilder:validation:Minimum=1
	MaxCount *int32 `json:"maxCount,omitempty"`

	// MaxAge is how old a backup may get, for example 168h.
	//
	// +optional
	MaxAge *metav1.Duration `json:"maxAge,omitempty"`
}

// EtcdBackupScheduleStatus is what the schedule last did.
type EtcdBackupScheduleStatus struct {
	// ObservedGeneration is the generation of the spec the status
	// describes. A new schedule starts at 0, and a changed one is behind
	// until the operator has looked at it, so tools that read status the
	// kstatus way see it in progress rather than with the old verdict.
	//
	// +optional
	// +kubebuilder:default=0
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// LastScheduleTime is the schedule time of the newest backup created.
	//
	// +optional
	LastScheduleTime *metav1.Time `json:"lastScheduleTime,omitempty"`

	// LastSuccessfulBackup is the newest succeeded backup.
	//
	// +optional
	LastSuccessfulBackup string `json:"lastSuccessfulBackup,omitempty"`

	// Active is the backup running now, if any; the next run waits for it.
	//
	// +optional
	Active string `json:"active,omitempty"`

	// Conditions: Ready says whether the schedule is valid and running.
	//
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// EtcdBackupSchedule takes EtcdBackups of a cluster on a cron schedule.
//
// Its name is at most 45 characters: its backups are named
// <name>-<Unix time of the slot> (a dash and 10 digits until the year 2286),
// and an EtcdBackup's name is at most 56. The rule runs only on create.
//
// +kubebuilder:object:root=true
// +kubebuilder:validation:XValidation:rule="oldSelf.hasValue() || self.metadata.name.size() <= 45",optionalOldSelf=true,message="the name of an EtcdBackupSchedule is at most 45 characters: its backups are named <name>-<10-digit Unix time>, and an EtcdBackup's name is at most 56 characters"
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=quorum
// +kubebuilder:printcolumn:name="Schedule",type=string,JSONPath=`.spec.schedule`
// +kubebuilder:printcolumn:name="Suspend",type=boolean,JSONPath=`.spec.suspend`
// +kubebuilder:printcolumn:name="Last",type=date,JSONPath=`.status.lastScheduleTime`
// +kubebuilder:printcolumn:name="Last Succeeded",type=string,JSONPath=`.status.lastSuccessfulBackup`
type EtcdBackupSchedule struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec EtcdBackupScheduleSpec `json:"spec"`
	// +kubebuilder:default={}
	Status EtcdBackupScheduleStatus `json:"status,omitempty"`
}

// EtcdBackupScheduleList is a list of EtcdBackupSchedule.
//
// +kubebuilder:object:root=true
type EtcdBackupScheduleList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []EtcdBackupSchedule `json:"items"`
}
