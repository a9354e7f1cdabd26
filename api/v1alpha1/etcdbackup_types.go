package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// EtcdBackupSpec says which cluster to snapshot and where the snapshot
// goes. An EtcdBackup's cannot be changed (a backup is one event; create
// another); a schedule's backupTemplate can, and the next backups use it.
type EtcdBackupSpec struct {
	// ClusterName is the EtcdCluster, in the backup's namespace, to
	// snapshot.
	//
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	ClusterName string `json:"clusterName"`

	// Destination is where the snapshot is written.
	Destination BackupDestination `json:"destination"`

	// Job sets the pods of the Jobs that take and delete the snapshot:
	// image pull secrets, resources, tolerations, node selector, priority.
	//
	// +optional
	Job *BackupJobTemplate `json:"job,omitempty"`

	// Verify restores the snapshot, once taken, into a throwaway etcd in a
	// Job and compares it with what the backup recorded; the outcome goes
	// to status.verification and the condition Verified.
	//
	// +optional
	Verify bool `json:"verify,omitempty"`
}

// BackupDestination is exactly one of an S3-compatible bucket or a
// PersistentVolumeClaim.
//
// +kubebuilder:validation:XValidation:rule="has(self.s3) != has(self.persistentVolumeClaim)",message="set exactly one of s3 and persistentVolumeClaim"
type BackupDestination struct {
	// S3 is an S3-compatible object store (AWS S3, MinIO, Ceph RGW, ...).
	//
	// +optional
	S3 *S3Location `json:"s3,omitempty"`

	// PersistentVolumeClaim is a claim in the backup's namespace; the
	// snapshot is written as a file on it.
	//
	// +optional
	PersistentVolumeClaim *PVCLocation `json:"persistentVolumeClaim,omitempty"`
}

// S3Location is an object in an S3-compatible bucket.
type S3Location struct {
	// Endpoint is the store's address, host[:port] without a scheme, for
	// example s3.eu-west-1.amazonaws.com or minio.backup.svc:9000.
	//
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="!self.contains('://')",message="endpoint is host[:port] without a scheme; set insecure for plain HTTP"
	Endpoint string `json:"endpoint"`

	// Bucket must exist; the operator does not create it.
	//
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=63
	Bucket string `json:"bucket"`

	// Prefix is prepended to the object key, which is
	// <prefix><namespace>/<cluster>/<backup name>.db.
	//
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Prefix string `json:"prefix,omitempty"`

	// Region of the bucket; empty lets the client discover it.
	//
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Region string `json:"region,omitempty"`

	// ForcePathStyle addresses the bucket as endpoint/bucket instead of
	// bucket.endpoint, as MinIO and most self-hosted stores need.
	//
	// +optional
	ForcePathStyle bool `json:"forcePathStyle,omitempty"`

	// Insecure uses plain HTTP instead of HTTPS.
	//
	// +optional
	Insecure bool `json:"insecure,omitempty"`

	// CredentialsSecret names a Secret in the backup's namespace with the
	// keys AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY. Only the backup's
	// pod reads it, never the operator.
	CredentialsSecret SecretReference `json:"credentialsSecret"`
}

// SecretReference names a Secret in the same namespace.
type SecretReference struct {
	// Name of the Secret, in the namespace of the object that refers to it.
	//
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// PVCLocation is a file on a PersistentVolumeClaim.
type PVCLocation struct {
	// ClaimName is the claim, in the backup's namespace.
	//
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	ClaimName string `json:"claimName"`

	// Directory on the claim for the file
	// <namespace>/<cluster>/<backup name>.db; default the claim's root.
	//
	// +optional
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('/') && !self.contains('..')",message="directory is relative to the claim's root and may not contain .."
	Directory string `json:"directory,omitempty"`
}

// BackupPhase is where a backup is in its life.
//
// +kubebuilder:validation:Enum=Pending;Running;Succeeded;Failed
type BackupPhase string

// The phases of an EtcdBackup.
const (
	BackupPending   BackupPhase = "Pending"
	BackupRunning   BackupPhase = "Running"
	BackupSucceeded BackupPhase = "Succeeded"
	BackupFailed    BackupPhase = "Failed"
)

// EtcdBackupStatus describes the snapshot once taken.
type EtcdBackupStatus struct {
	// ObservedGeneration is the generation the status describes. A new
	// backup starts at 0, before the operator has seen it, so tools that
	// read status the kstatus way (Flux, kubectl wait, Argo CD) see it in
	// progress rather than done.
	//
	// +optional
	// +kubebuilder:default=0
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Phase is Pending, Running, Succeeded or Failed; the last two are
	// final.
	//
	// +optional
	Phase BackupPhase `json:"phase,omitempty"`

	// Message says why a backup failed or what it waits for.
	//
	// +optional
	Message string `json:"message,omitempty"`

	// Member is the member the snapshot was taken from. The backup chose
	// it when the snapshot began: a voter without errors that followed the
	// leader a majority of the voters followed, and served a linearizable
	// read just before.
	//
	// +optional
	Member string `json:"member,omitempty"`

	// MemberID is that member's ID in hex, as etcdctl prints it; a member
	// replaced under the same name has another ID.
	//
	// +optional
	MemberID string `json:"memberID,omitempty"`

	// StartTime is when the snapshot began.
	//
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`

	// CompletionTime is when the snapshot was completely written.
	//
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`

	// SizeBytes is the snapshot's size.
	//
	// +optional
	SizeBytes int64 `json:"sizeBytes,omitempty"`

	// SHA256 is the hex SHA-256 of the snapshot as written; a restore
	// verifies it.
	//
	// +optional
	SHA256 string `json:"sha256,omitempty"`

	// Revision is the member's revision when the snapshot began; the
	// snapshot holds at least that revision. It is no lower than the
	// revision a linearizable read through the cluster returned when the
	// backup began, so every write acknowledged before startTime is in the
	// snapshot.
	//
	// +optional
	Revision int64 `json:"revision,omitempty"`

	// EtcdVersion is the version of the member the snapshot was taken from.
	//
	// +optional
	EtcdVersion string `json:"etcdVersion,omitempty"`

	// Location is where the snapshot is: s3://bucket/key or
	// pvc://claim/path.
	//
	// +optional
	Location string `json:"location,omitempty"`

	// KVHash is the member's HashKV at the revision, asked right after the
	// snapshot; absent when it could not be had (a compaction past the
	// revision raced it), and a verification then checks the rest.
	//
	// +optional
	KVHash *BackupKVHash `json:"kvHash,omitempty"`

	// Verification is what restoring the snapshot showed (spec.verify).
	//
	// +optional
	Verification *BackupVerification `json:"verification,omitempty"`

	// Conditions: Complete or Failed, True once the backup ended.
	//
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// EtcdBackup is one snapshot of an EtcdCluster.
//
// Its name is at most 56 characters: the Jobs that take and delete its
// snapshot are <name>-backup, <name>-verify and <name>-delete (7 more), and a Job's name
// must fit the label batch.kubernetes.io/job-name of its pods, 63
// characters, or the Job is refused and the backup retried in a loop. The
// rule runs only on create, so a backup stored before it can still lose
// its finalizer.
//
// +kubebuilder:object:root=true
// +kubebuilder:validation:XValidation:rule="oldSelf.hasValue() || self.metadata.name.size() <= 56",optionalOldSelf=true,message="the name of an EtcdBackup is at most 56 characters: its Jobs are named <name>-backup and <name>-delete, and a Job's name must fit the 63-character label job-name on its pods"
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=quorum
// +kubebuilder:printcolumn:name="Cluster",type=string,JSONPath=`.spec.clusterName`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Size",type=integer,JSONPath=`.status.sizeBytes`
// +kubebuilder:printcolumn:name="Revision",type=integer,JSONPath=`.status.revision`
// +kubebuilder:printcolumn:name="Verified",type=string,JSONPath=`.status.verification.result`
// +kubebuilder:printcolumn:name="Member",type=string,JSONPath=`.status.member`,priority=1
// +kubebuilder:printcolumn:name="Location",type=string,JSONPath=`.status.location`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type EtcdBackup struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec cannot be changed: a backup is one event; create another.
	//
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="an EtcdBackup cannot be changed; create a new one"
	Spec EtcdBackupSpec `json:"spec"`
	// +kubebuilder:default={}
	Status EtcdBackupStatus `json:"status,omitempty"`
}

// EtcdBackupList is a list of EtcdBackup.
//
// +kubebuilder:object:root=true
type EtcdBackupList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []EtcdBackup `json:"items"`
}
