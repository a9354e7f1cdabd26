package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// EtcdRestoreSpec names the cluster to restore in place and the snapshot to
// restore it from. Creating an EtcdRestore is the request: nothing is
// restored in place without one.
type EtcdRestoreSpec struct {
	// ClusterName is the EtcdCluster, in the restore's namespace, whose
	// members are stopped and restarted on the snapshot's data.
	//
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	ClusterName string `json:"clusterName"`

	// Source is the snapshot, as spec.bootstrap.fromBackup takes it: a
	// succeeded EtcdBackup of this namespace (backupName), or an S3 object
	// or a file on a claim with its SHA-256.
	Source BackupSource `json:"source"`
}

// RestorePhase is where an in-place restore is.
//
// +kubebuilder:validation:Enum=Pending;Stopping;Restoring;Succeeded;Failed
type RestorePhase string

// The phases of an EtcdRestore. The phase is the restore's memory: an
// operator restarted mid-restore goes on from it.
const (
	// RestorePending: not started; the request is checked first.
	RestorePending RestorePhase = "Pending"
	// RestoreStopping: the cluster is marked as restoring, its StatefulSet
	// scaled to 0 with the restore init container; waiting until no member
	// pod exists.
	RestoreStopping RestorePhase = "Stopping"
	// RestoreRestoring: the members start again; each moves its data aside
	// and restores the snapshot before etcd starts. Waiting for a healthy
	// cluster under a new cluster ID.
	RestoreRestoring RestorePhase = "Restoring"
	// RestoreSucceeded: the cluster runs on the snapshot's data (final).
	RestoreSucceeded RestorePhase = "Succeeded"
	// RestoreFailed: the restore was refused before anything was changed
	// (final); the message says why.
	RestoreFailed RestorePhase = "Failed"
)

// EtcdRestoreStatus says what the restore did.
type EtcdRestoreStatus struct {
	// ObservedGeneration is the generation the status describes.
	//
	// +optional
	// +kubebuilder:default=0
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Phase is Pending, Stopping, Restoring, Succeeded or Failed.
	//
	// +optional
	Phase RestorePhase `json:"phase,omitempty"`

	// Message says what the restore does or waits for, or why it failed.
	//
	// +optional
	Message string `json:"message,omitempty"`

	// StartedAt is when the members were first stopped.
	//
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`

	// FinishedAt is when the restore succeeded or was refused.
	//
	// +optional
	FinishedAt *metav1.Time `json:"finishedAt,omitempty"`

	// FromRevision is the etcd revision of the backup restored (its
	// status.revision); 0 for a snapshot given by location.
	//
	// +optional
	FromRevision int64 `json:"fromRevision,omitempty"`

	// PreviousClusterID is the cluster ID in hex the cluster last reported
	// before its members were stopped.
	//
	// +optional
	PreviousClusterID string `json:"previousClusterID,omitempty"`

	// NewClusterID is the cluster ID in hex the restored members formed.
	//
	// +optional
	NewClusterID string `json:"newClusterID,omitempty"`

	// Conditions: Ready, Reconciling and Stalled, as kstatus reads them.
	//
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// EtcdRestore restores an existing EtcdCluster in place from a snapshot:
// every member is stopped, its data directory moved aside on its own
// claim (<data>.before-restore-<restore UID>), the snapshot restored into
// it under a new cluster ID, and the members started again behind the same
// Services. For a cluster whose quorum is lost for good, or data that must
// be rolled back; see docs/backup.md.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=quorum
// +kubebuilder:printcolumn:name="Cluster",type=string,JSONPath=`.spec.clusterName`
// +kubebuilder:printcolumn:name="Backup",type=string,JSONPath=`.spec.source.backupName`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Revision",type=integer,JSONPath=`.status.fromRevision`
// +kubebuilder:printcolumn:name="Cluster ID",type=string,JSONPath=`.status.newClusterID`,priority=1
// +kubebuilder:printcolumn:name="Message",type=string,JSONPath=`.status.message`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type EtcdRestore struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec cannot be changed: a restore is one event; create another.
	//
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="an EtcdRestore cannot be changed; create a new one"
	Spec EtcdRestoreSpec `json:"spec"`
	// +kubebuilder:default={}
	Status EtcdRestoreStatus `json:"status,omitempty"`
}

// EtcdRestoreList is a list of EtcdRestore.
//
// +kubebuilder:object:root=true
type EtcdRestoreList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []EtcdRestore `json:"items"`
}

// The kind registers itself beside the others (groupversion_info.go), so
// this file is all the API change.
func init() {
	schemeBuilder.Register(func(s *runtime.Scheme) error {
		s.AddKnownTypes(GroupVersion, &EtcdRestore{}, &EtcdRestoreList{})
		return nil
	})
}

// AnnotationRestoring on an EtcdCluster names the EtcdRestore restoring it
// in place. While it is set the cluster's reconciler takes no step of its
// own (as with spec.paused), and no other restore may start. The restore
// sets it before it stops the members and removes it once the restored
// cluster is healthy.
const AnnotationRestoring = "etcd.quorum.dev/restoring"
