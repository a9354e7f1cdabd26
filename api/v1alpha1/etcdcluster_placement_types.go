package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
)

// MemberSpread says how strictly member pods are kept off each other's
// nodes.
//
// +kubebuilder:validation:Enum=Required;Preferred;None
type MemberSpread string

// The member spreads. Required and Preferred also spread members across
// zones (topology.kubernetes.io/zone) where the scheduler can
// (ScheduleAnyway), unless podTemplate.topologySpreadConstraints is set.
const (
	// MemberSpreadRequired: no two members of a cluster on one node (a
	// required pod anti-affinity on kubernetes.io/hostname). A cluster
	// with more members than schedulable nodes leaves the rest Pending,
	// and status says why. The default for clusters created by an
	// operator that knows this field.
	MemberSpreadRequired MemberSpread = "Required"
	// MemberSpreadPreferred: the scheduler avoids putting two members on
	// one node but does so rather than leave a member Pending.
	MemberSpreadPreferred MemberSpread = "Preferred"
	// MemberSpreadNone: no anti-affinity and no zone spread from the
	// operator; for one-node clusters (kind, k3d, a laptop), where losing
	// the node loses every member anyway.
	MemberSpreadNone MemberSpread = "None"
)

// BackupJobTemplate is what a user may set on the pods of the Jobs that
// take and delete a backup's snapshot.
type BackupJobTemplate struct {
	// ImagePullSecrets pull the operator's image, which the Jobs run.
	//
	// +optional
	// +listType=atomic
	ImagePullSecrets []corev1.LocalObjectReference `json:"imagePullSecrets,omitempty"`

	// Resources of the Job's container. A snapshot is streamed, so memory
	// stays small; it is the member's database size that takes time.
	//
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`

	// Tolerations of the Job's pod.
	//
	// +optional
	// +listType=atomic
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`

	// NodeSelector of the Job's pod.
	//
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`

	// PriorityClassName of the Job's pod.
	//
	// +optional
	// +kubebuilder:validation:MaxLength=253
	PriorityClassName string `json:"priorityClassName,omitempty"`
}

// EtcdFlag is one etcd command-line flag, --name=value. The operator owns
// the flags it sets itself: the member's name, data and WAL directories
// (a WAL off the member's volume would be lost with its pod), every
// listen and advertised URL, the initial cluster (initial-*, discovery*),
// TLS (cert and key files, client-cert-auth, peer-*, any *-file),
// force-new-cluster (which would drop every other member), the config
// file, and the flags spec.options has fields for (quota, compaction,
// heartbeat, election timeout); and flags that trade safety away:
// unsafe-no-fsync (an acknowledged write lost at a power cut),
// strict-reconfig-check (etcd's own refusal of a membership change that
// loses quorum), max-wals and max-snapshots (0 keeps every file until the
// volume is full).
//
// +kubebuilder:validation:MaxLength=1024
// +kubebuilder:validation:XValidation:rule="self.matches('^--[a-z0-9][a-z0-9.-]*=')",message="an extraArgs entry is one etcd flag written --name=value, such as --snapshot-count=50000 or --enable-pprof=true"
// +kubebuilder:validation:XValidation:rule="!self.matches('^--[a-z0-9][a-z0-9.-]*=') || (!(self.split('=')[0].substring(2) in ['name', 'data-dir', 'wal-dir', 'advertise-client-urls', 'cert-file', 'key-file', 'trusted-ca-file', 'client-cert-auth', 'auto-tls', 'quota-backend-bytes', 'auto-compaction-mode', 'auto-compaction-retention', 'heartbeat-interval', 'election-timeout', 'config-file', 'force-new-cluster', 'experimental-peer-skip-client-san-verification', 'unsafe-no-fsync', 'strict-reconfig-check', 'max-wals', 'max-snapshots']) && !self.startsWith('--initial-') && !self.startsWith('--listen-') && !self.startsWith('--peer-') && !self.startsWith('--discovery') && !self.split('=')[0].endsWith('-file'))",messageExpression="'extraArgs may not set ' + self.split('=')[0] + ': the operator sets it (names, directories, URLs, the initial cluster and TLS), or spec.options has a field for it (quota, compaction, heartbeat, election timeout), or it trades safety away (fsync, reconfiguration checks, WAL and snapshot retention)'"
type EtcdFlag string
