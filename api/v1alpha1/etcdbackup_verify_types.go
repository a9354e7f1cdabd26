package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ConditionVerified on an EtcdBackup is True when its snapshot was
// restored into a throwaway etcd and matched what the backup recorded,
// False when it did not (or could not be checked); absent until a
// verification ran.
const ConditionVerified = "Verified"

// AnnotationVerify on an EtcdBackup asks for a verification: set it, or
// change its value, and the operator verifies the succeeded backup's
// snapshot again (an object can go bad in its store after it was first
// verified). The value is any token; status.verification.request records
// the one the newest verification answered.
const AnnotationVerify = "etcd.quorum.dev/verify"

// BackupKVHash is etcd's HashKV of the member the snapshot was read from,
// asked right after the snapshot at the snapshot's revision. HashKV at a
// revision is the same on every member holding the same history, so a
// snapshot restored elsewhere must give the same value.
type BackupKVHash struct {
	// Revision is the revision hashed: status.revision.
	Revision int64 `json:"revision"`

	// CompactRevision is the member's compaction revision when it hashed;
	// a verification compacts the restored copy to it first, since the
	// hash covers only revisions after it.
	//
	// +optional
	CompactRevision int64 `json:"compactRevision,omitempty"`

	// Hash is the CRC-32C etcd computed (etcdctl endpoint hashkv prints it).
	Hash int64 `json:"hash"`

	// Keys is how many keys existed at the revision.
	//
	// +optional
	Keys int64 `json:"keys,omitempty"`
}

// VerificationResult is how a verification ended.
//
// +kubebuilder:validation:Enum=Passed;Failed;Error
type VerificationResult string

// The results of a verification.
const (
	VerificationPassed VerificationResult = "Passed"
	VerificationFailed VerificationResult = "Failed"
	// VerificationError: the verification could not run or finish (its
	// pod did not start, the store or the disk failed); the snapshot was
	// not judged, and an in-place restore still takes it.
	VerificationError VerificationResult = "Error"
)

// BackupVerification is what restoring the snapshot into a throwaway
// one-member etcd showed.
type BackupVerification struct {
	// Time is when the verification ended.
	//
	// +optional
	Time *metav1.Time `json:"time,omitempty"`

	// Duration is how long the verifying pod worked: download, checks,
	// restore and the throwaway etcd.
	//
	// +optional
	Duration *metav1.Duration `json:"duration,omitempty"`

	// Revision is the snapshot's own revision (etcdutl snapshot status).
	//
	// +optional
	Revision int64 `json:"revision,omitempty"`

	// Keys is how many keys the restored etcd holds at the hashed revision.
	//
	// +optional
	Keys int64 `json:"keys,omitempty"`

	// HashRevision is the revision the hash below was taken at: that of
	// status.kvHash, or the snapshot's revision when none was recorded.
	//
	// +optional
	HashRevision int64 `json:"hashRevision,omitempty"`

	// Hash is the restored etcd's HashKV at hashRevision.
	//
	// +optional
	Hash int64 `json:"hash,omitempty"`

	// Result is Passed or Failed.
	Result VerificationResult `json:"result"`

	// Message says what was checked, or what did not match.
	//
	// +optional
	Message string `json:"message,omitempty"`

	// Request is the value of the annotation etcd.quorum.dev/verify this
	// verification answered; empty for one spec.verify asked for.
	//
	// +optional
	Request string `json:"request,omitempty"`
}

// ScheduleVerification says which of a schedule's backups are verified.
type ScheduleVerification struct {
	// Every verifies one backup in this many: a new backup is verified
	// unless one of the schedule's every-1 newest backups was. 1 verifies
	// each one.
	//
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	Every int32 `json:"every,omitempty"`
}
