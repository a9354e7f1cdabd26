package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DefaultImageRepository is the official etcd image; the image of a cluster
// that names none is this repository tagged with "v" and the version.
const DefaultImageRepository = "gcr.io/etcd-development/etcd"

// EtcdClusterSpec is the desired state of one etcd cluster.
//
// +kubebuilder:validation:XValidation:rule="has(self.storage) == has(oldSelf.storage)",message="storage cannot be added or removed after creation"
// +kubebuilder:validation:XValidation:rule="has(self.bootstrap) == has(oldSelf.bootstrap)",message="bootstrap cannot be added or removed after creation"
// +kubebuilder:validation:XValidation:rule="(oldSelf.hasValue() && has(self.options) && has(self.options.quotaBackendBytes) && has(oldSelf.value().options) && has(oldSelf.value().options.quotaBackendBytes) && oldSelf.value().options.quotaBackendBytes == self.options.quotaBackendBytes) || !has(self.options) || !has(self.options.quotaBackendBytes) || (has(self.storage) && has(self.storage.emptyDir) ? !has(self.storage.emptyDir.sizeLimit) || quantity(string(self.options.quotaBackendBytes)).compareTo(quantity(string(self.storage.emptyDir.sizeLimit))) <= 0 : quantity(string(self.options.quotaBackendBytes)).compareTo(quantity(has(self.storage) && has(self.storage.size) ? string(self.storage.size) : '1Gi')) <= 0)",optionalOldSelf=true,message="options.quotaBackendBytes may not exceed the member's volume (storage.size, 1Gi by default, or storage.emptyDir.sizeLimit): the disk would fill before etcd raises NOSPACE; leave it unset for a safe default, (size - 512Mi) / 2",fieldPath=".options.quotaBackendBytes"
// +kubebuilder:validation:XValidation:rule="has(self.tls) == has(oldSelf.tls)",message="TLS cannot be turned on or off for an existing cluster: every member's URLs would change at once; back it up and restore into a new cluster with the TLS setting you want"
type EtcdClusterSpec struct {
	// Size is the number of voting members. An odd number (1, 3, 5) gives
	// the best fault tolerance for its cost; an even one tolerates no more
	// failures than the odd number below it.
	//
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=9
	Size int32 `json:"size"`

	// Version is the etcd release the members run, as MAJOR.MINOR.PATCH
	// (for example 3.6.16), 3.5.11 or later: the members' probes use
	// etcd's /livez and /readyz, which older releases do not serve.
	// Editing it rolls the members one at a time, the leader last. Patch
	// versions may change either way; the minor version may rise by one at
	// a time, and fall by one from 3.6 or later through etcd's downgrade
	// API. Otherwise a minor downgrade is refused, except back to the minor
	// some member still runs: that reverts an upgrade that has not
	// finished. Each step is judged against the old spec and against what
	// members run now (status.currentVersion), so editing the version
	// twice in quick succession cannot skip a minor version.
	//
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self.matches('^(0|[1-9][0-9]*)\\\\.(0|[1-9][0-9]*)\\\\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?$')",message="version must be a semantic version MAJOR.MINOR.PATCH such as 3.6.16, without a leading v"
	// +kubebuilder:validation:XValidation:rule="self.startsWith('3.')",message="only etcd 3.x versions are supported"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^3\\\\.(0|[1-9][0-9]*)\\\\.(0|[1-9][0-9]*)') || int(self.split('.')[1]) > 5 || (int(self.split('.')[1]) == 5 && int(self.split('.')[2].split('-')[0]) >= 11)",message="etcd versions before 3.5.11 are not supported: members are probed on etcd's /livez and /readyz, which etcd serves from 3.5.11 on; use 3.5.11 or later"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^[0-9]+\\\\.[0-9]+\\\\.') || !oldSelf.matches('^[0-9]+\\\\.[0-9]+\\\\.') || int(self.split('.')[1]) <= int(oldSelf.split('.')[1]) + 1",message="upgrade one minor version at a time (3.5 to 3.6, then 3.6 to 3.7): etcd supports no other path"
	Version string `json:"version"`

	// Image overrides the container image. By default it is the official
	// etcd image for Version (gcr.io/etcd-development/etcd:v<version>). The
	// image must run the etcd release named by Version.
	//
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Image string `json:"image,omitempty"`

	// Storage says where members keep their data. Only size may change
	// after creation, and only grow: the operator then expands each
	// member's claim where its StorageClass allows expansion. Anything
	// else would move data between volumes, a member replacement, not an
	// edit.
	//
	// +optional
	Storage *StorageSpec `json:"storage,omitempty"`

	// Resources are the compute resources of the etcd container.
	//
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`

	// PodTemplate adds metadata and scheduling constraints to member pods.
	//
	// +optional
	PodTemplate *PodTemplate `json:"podTemplate,omitempty"`

	// Options tunes etcd itself.
	//
	// +optional
	Options *EtcdOptions `json:"options,omitempty"`

	// Bootstrap says how the cluster starts. By default its members start
	// empty; fromBackup starts them from a snapshot. It cannot be changed
	// after creation.
	//
	// +optional
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="bootstrap cannot be changed after creation"
	Bootstrap *BootstrapSpec `json:"bootstrap,omitempty"`

	// TLS turns on mutual TLS for peer and client traffic. It is set when
	// the cluster is created and cannot be added, removed or switched
	// between operator-issued and user-provided certificates afterwards.
	//
	// +optional
	// +kubebuilder:validation:XValidation:rule="has(self.secrets) == has(oldSelf.secrets)",message="cannot switch between operator-issued and user-provided certificates: the trusted CA would change at once"
	TLS *TLSSpec `json:"tls,omitempty"`

	// DeletionPolicy says what happens to the members' data claims when the
	// EtcdCluster is deleted: Retain (the default) keeps them, so the data
	// survives a mistaken delete and an EtcdCluster of the same name and
	// size created again starts on it; Delete removes them with the
	// cluster. It may be changed at any time, for example to Delete just
	// before deleting a cluster whose data is no longer wanted.
	//
	// +optional
	// +kubebuilder:default=Retain
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`

	// Paused stops the operator from changing anything in this cluster
	// (members, pods, services); status is still reported. The etcd members
	// keep running.
	//
	// +optional
	Paused bool `json:"paused,omitempty"`

	// Monitoring says how Prometheus finds the members' own metrics, which
	// every member serves on its "metrics" port (2381, plain HTTP, also
	// under TLS).
	//
	// +optional
	Monitoring *MonitoringSpec `json:"monitoring,omitempty"`

	// Maintenance is housekeeping of the members' databases.
	//
	// +optional
	Maintenance *MaintenanceSpec `json:"maintenance,omitempty"`
}

// MonitoringSpec is what the operator creates for Prometheus to scrape the
// members.
type MonitoringSpec struct {
	// PodMonitor creates a PodMonitor (monitoring.coreos.com/v1, the
	// Prometheus Operator's kind) named after the cluster, selecting its
	// member pods on their metrics port, and deletes it when turned off.
	// Where the PodMonitor kind is not installed, the operator creates
	// nothing and says so in a Warning event on the cluster
	// (PodMonitorUnavailable); it looks again every few minutes.
	//
	// +optional
	PodMonitor bool `json:"podMonitor,omitempty"`
}

// TLSSpec configures mutual TLS. Without secrets the operator creates a
// CA for the cluster and issues and renews every certificate itself.
type TLSSpec struct {
	// Secrets names Secrets the user provides (for example made by
	// cert-manager) instead of operator-issued certificates.
	//
	// +optional
	Secrets *TLSSecrets `json:"secrets,omitempty"`
}

// TLSSecrets are Secrets of type kubernetes.io/tls in the cluster's
// namespace, each with tls.crt, tls.key and ca.crt (the CAs to trust).
type TLSSecrets struct {
	// Member is the certificate every member serves clients and peers with
	// and presents to its peers. It must be valid for server and client
	// authentication and name each member's DNS name
	// (<cluster>-<n>.<cluster>-peer.<namespace>.svc) and the client Service
	// (<cluster>.<namespace>.svc); the operator dials members by IP with
	// that Service's name as the TLS server name.
	//
	// It cannot be changed on an existing cluster. Its ca.crt is what
	// members trust, and members read it only when they start: a member
	// restarted on another Secret, whose leaf may come from another CA,
	// would be refused by its peers (and refuse them), and the rollout would
	// halt with that member down. Renew the certificate inside this Secret
	// instead (cert-manager renews in place), and change the CA in the
	// steps docs/security.md describes.
	//
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="the member Secret cannot be changed on an existing cluster: members trust the CA in its ca.crt, so a member restarted on another Secret may be refused by its peers and halt the rollout with a member down; renew the certificate inside the same Secret instead (cert-manager renews in place), and change a CA as docs/security.md describes"
	Member string `json:"member"`

	// OperatorClient is the client certificate the operator and its backup
	// Jobs present to the members. It may be changed: members do not mount
	// it, so a wrong one restarts no member; the operator cannot reach the
	// members until it is signed by a CA they trust.
	//
	// +kubebuilder:validation:MinLength=1
	OperatorClient string `json:"operatorClient"`
}

// BootstrapSpec is how a new cluster starts.
type BootstrapSpec struct {
	// FromBackup restores every initial member from one snapshot, after its
	// SHA-256 is verified. A snapshot that is missing or does not match
	// starts no member.
	//
	// +optional
	FromBackup *BackupSource `json:"fromBackup,omitempty"`
}

// BackupSource is a snapshot: a succeeded EtcdBackup of this namespace, or
// a location with the snapshot's SHA-256.
//
// +kubebuilder:validation:XValidation:rule="(has(self.backupName) ? 1 : 0) + (has(self.s3) ? 1 : 0) + (has(self.persistentVolumeClaim) ? 1 : 0) == 1",message="set exactly one of backupName, s3 and persistentVolumeClaim"
// +kubebuilder:validation:XValidation:rule="has(self.backupName) || has(self.sha256)",message="sha256 is required with a location: a restore verifies the snapshot"
type BackupSource struct {
	// BackupName is an EtcdBackup in this namespace; the cluster is
	// created once it has succeeded.
	//
	// +optional
	// +kubebuilder:validation:MaxLength=253
	BackupName string `json:"backupName,omitempty"`

	// S3 is a snapshot object; its key is prefix + key.
	//
	// +optional
	S3 *S3Snapshot `json:"s3,omitempty"`

	// PersistentVolumeClaim is a snapshot file on a claim of this
	// namespace. Every member mounts it read-only while it restores, so
	// on more than one node it must allow ReadOnlyMany.
	//
	// +optional
	PersistentVolumeClaim *PVCSnapshot `json:"persistentVolumeClaim,omitempty"`

	// SHA256 is the hex SHA-256 of the snapshot (an EtcdBackup's
	// status.sha256).
	//
	// +optional
	// +kubebuilder:validation:Pattern=`^[0-9a-f]{64}$`
	SHA256 string `json:"sha256,omitempty"`
}

// S3Snapshot is a snapshot object in an S3-compatible bucket.
type S3Snapshot struct {
	S3Location `json:",inline"`

	// Key of the object, after the prefix.
	//
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	Key string `json:"key"`
}

// PVCSnapshot is a snapshot file on a claim.
type PVCSnapshot struct {
	// ClaimName is the claim, in the cluster's namespace.
	//
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	ClaimName string `json:"claimName"`

	// Path of the file, relative to the claim's root.
	//
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('/') && !self.contains('..')",message="path is relative to the claim's root and may not contain .."
	Path string `json:"path"`
}

// DeletionPolicy is the fate of member data when its cluster is deleted.
//
// +kubebuilder:validation:Enum=Retain;Delete
type DeletionPolicy string

// The deletion policies of an EtcdCluster.
const (
	DeletionPolicyRetain DeletionPolicy = "Retain"
	DeletionPolicyDelete DeletionPolicy = "Delete"
)

// StorageSpec is either a PersistentVolumeClaim per member (the default) or
// an emptyDir whose data is lost when its pod goes.
//
// +kubebuilder:validation:XValidation:rule="!(has(self.emptyDir) && (has(self.storageClassName) || has(self.size)))",message="emptyDir cannot be combined with storageClassName or size"
// +kubebuilder:validation:XValidation:rule="has(self.emptyDir) == has(oldSelf.emptyDir) && (!has(self.emptyDir) || self.emptyDir == oldSelf.emptyDir)",message="storage.emptyDir cannot be added, removed or changed after creation"
// +kubebuilder:validation:XValidation:rule="has(self.storageClassName) == has(oldSelf.storageClassName) && (!has(self.storageClassName) || self.storageClassName == oldSelf.storageClassName)",message="storage.storageClassName cannot be changed after creation: moving data to another class is a member replacement"
// +kubebuilder:validation:XValidation:rule="quantity(has(self.size) ? string(self.size) : '1Gi').compareTo(quantity(has(oldSelf.size) ? string(oldSelf.size) : '1Gi')) >= 0",message="storage.size cannot shrink: a volume cannot be made smaller under its data; it may only grow"
type StorageSpec struct {
	// StorageClassName is the class of each member's claim; empty means the
	// cluster's default class.
	//
	// +optional
	StorageClassName *string `json:"storageClassName,omitempty"`

	// Size is the capacity requested for each member's claim (default 1Gi).
	// It may grow after creation: the operator expands each member's claim
	// when its StorageClass has allowVolumeExpansion, and otherwise says
	// in the StorageResized condition why it cannot (nothing else
	// changes). It cannot shrink.
	//
	// +optional
	Size *resource.Quantity `json:"size,omitempty"`

	// EmptyDir keeps member data in an emptyDir volume instead of a claim.
	// A member whose pod is deleted then loses its data and is replaced.
	//
	// +optional
	EmptyDir *corev1.EmptyDirVolumeSource `json:"emptyDir,omitempty"`
}

// PodTemplate is what a user may set on member pods.
type PodTemplate struct {
	// Labels are added to every member pod.
	//
	// +optional
	Labels map[string]string `json:"labels,omitempty"`

	// Annotations are added to every member pod.
	//
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`

	// Affinity of member pods. Its podAntiAffinity, when set, replaces the
	// one memberSpread adds; its nodeAffinity and podAffinity are kept
	// alongside it.
	//
	// +optional
	Affinity *corev1.Affinity `json:"affinity,omitempty"`

	// MemberSpread keeps members off each other's nodes: Required (no two
	// on one node), Preferred (avoided where the scheduler can) or None.
	// Required and Preferred also spread members across zones where they
	// can. Unset, a cluster created by this operator version gets Required
	// (recorded on its StatefulSet), and a cluster created by an earlier
	// one keeps the None it ran with, so an operator upgrade restarts no
	// member. Set None on a one-node Kubernetes. See docs/operations.md,
	// Placement.
	//
	// +optional
	MemberSpread MemberSpread `json:"memberSpread,omitempty"`

	// TopologySpreadConstraints of member pods. When set they replace the
	// zone spread memberSpread adds; select the members with the label
	// etcd.quorum.dev/cluster=<name>.
	//
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=8
	TopologySpreadConstraints []corev1.TopologySpreadConstraint `json:"topologySpreadConstraints,omitempty"`

	// ImagePullSecrets of member pods: they pull the etcd image and, in a
	// cluster restored from a backup, the operator's image of the restore
	// init container.
	//
	// +optional
	// +listType=atomic
	ImagePullSecrets []corev1.LocalObjectReference `json:"imagePullSecrets,omitempty"`

	// Tolerations of member pods.
	//
	// +optional
	// +listType=atomic
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`

	// NodeSelector of member pods.
	//
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`

	// PriorityClassName of member pods.
	//
	// +optional
	PriorityClassName string `json:"priorityClassName,omitempty"`
}

// EtcdOptions are etcd settings a user may tune; each maps to the etcd flag
// of the same name.
//
// +kubebuilder:validation:XValidation:rule="!has(self.heartbeatIntervalMillis) || !has(self.electionTimeoutMillis) || self.electionTimeoutMillis >= 5 * self.heartbeatIntervalMillis",message="electionTimeoutMillis must be at least 5 times heartbeatIntervalMillis"
type EtcdOptions struct {
	// QuotaBackendBytes is the size at which the backend raises a NOSPACE
	// alarm and refuses writes. It may not exceed the member's volume. By
	// default it is (size - 512Mi) / 2 of the volume (storage.size, or
	// storage.emptyDir.sizeLimit), at least a quarter of it and at most
	// 8Gi: the volume also holds etcd's write-ahead log and, while a
	// defragmentation runs, a second copy of the data. An emptyDir without
	// a sizeLimit keeps etcd's default, 2Gi. A quota above the volume,
	// stored before that was refused, stays accepted while unchanged.
	//
	// +optional
	QuotaBackendBytes *resource.Quantity `json:"quotaBackendBytes,omitempty"`

	// AutoCompactionMode is periodic or revision (default revision).
	//
	// +optional
	// +kubebuilder:validation:Enum=periodic;revision
	AutoCompactionMode string `json:"autoCompactionMode,omitempty"`

	// AutoCompactionRetention is how much history to keep: a duration such
	// as 1h in periodic mode, a number of revisions in revision mode
	// (default 10000 in revision mode). "0" turns auto-compaction off.
	//
	// +optional
	// +kubebuilder:validation:MaxLength=32
	AutoCompactionRetention string `json:"autoCompactionRetention,omitempty"`

	// HeartbeatIntervalMillis is the leader's heartbeat interval.
	//
	// +optional
	// +kubebuilder:validation:Minimum=10
	// +kubebuilder:validation:Maximum=10000
	HeartbeatIntervalMillis *int32 `json:"heartbeatIntervalMillis,omitempty"`

	// ElectionTimeoutMillis is how long a follower waits for a heartbeat
	// before it starts an election.
	//
	// +optional
	// +kubebuilder:validation:Minimum=50
	// +kubebuilder:validation:Maximum=50000
	ElectionTimeoutMillis *int32 `json:"electionTimeoutMillis,omitempty"`

	// ExtraArgs are other etcd flags, each as --name=value, passed to
	// etcd in this order. Flags the operator sets itself are refused (see
	// EtcdFlag). Editing them rolls the members one at a time; a flag etcd
	// does not know stops the first restarted member, which halts the
	// rollout.
	//
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	ExtraArgs []EtcdFlag `json:"extraArgs,omitempty"`
}

// ClusterPhase is a one-word summary of the cluster for people; automation
// should read the conditions.
//
// +kubebuilder:validation:Enum=Pending;Creating;Running;Scaling;Upgrading;Degraded;QuorumLost;Paused;Restoring
type ClusterPhase string

// The phases of an EtcdCluster.
const (
	PhasePending    ClusterPhase = "Pending"
	PhaseCreating   ClusterPhase = "Creating"
	PhaseRunning    ClusterPhase = "Running"
	PhaseScaling    ClusterPhase = "Scaling"
	PhaseUpgrading  ClusterPhase = "Upgrading"
	PhaseDegraded   ClusterPhase = "Degraded"
	PhaseQuorumLost ClusterPhase = "QuorumLost"
	PhasePaused     ClusterPhase = "Paused"
	// PhaseRestoring: an EtcdRestore restores the cluster in place.
	PhaseRestoring ClusterPhase = "Restoring"
)

// EtcdClusterStatus is what the operator last observed of the cluster.
type EtcdClusterStatus struct {
	// ObservedGeneration is the generation of the spec the status describes.
	// A new cluster starts at 0, before the operator has seen it, so tools
	// that read status the kstatus way (Flux, kubectl wait, Argo CD) see it
	// in progress rather than done.
	//
	// +optional
	// +kubebuilder:default=0
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Phase summarises the cluster in one word.
	//
	// +optional
	Phase ClusterPhase `json:"phase,omitempty"`

	// Conditions are Available, Progressing and Degraded (see the
	// Condition* constants), in the form kstatus reads.
	//
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// ClusterID is etcd's cluster ID in hex.
	//
	// +optional
	ClusterID string `json:"clusterID,omitempty"`

	// CurrentVersion is the lowest etcd version any member runs.
	//
	// +optional
	CurrentVersion string `json:"currentVersion,omitempty"`

	// UpdatedMembers counts member pods that run the current pod template
	// (version, image, resources and options of the spec).
	//
	// +optional
	UpdatedMembers int32 `json:"updatedMembers"`

	// ReadyMembers counts healthy voting members.
	//
	// +optional
	ReadyMembers int32 `json:"readyMembers"`

	// Members lists every etcd member, as etcd reports it.
	//
	// +optional
	// +listType=map
	// +listMapKey=name
	Members []MemberStatus `json:"members,omitempty"`

	// Certificates are the TLS certificates the cluster uses and when each
	// expires.
	//
	// +optional
	// +listType=map
	// +listMapKey=secret
	Certificates []CertificateStatus `json:"certificates,omitempty"`

	// ClientEndpoint is the URL clients use, through the client Service.
	//
	// +optional
	ClientEndpoint string `json:"clientEndpoint,omitempty"`

	// Maintenance records the operator's last compaction and
	// defragmentation.
	//
	// +optional
	Maintenance *MaintenanceStatus `json:"maintenance,omitempty"`
}

// CertificateStatus is one certificate of the cluster's TLS.
type CertificateStatus struct {
	// Secret holds the certificate.
	Secret string `json:"secret"`

	// Purpose is ca, member, operator-client or client.
	Purpose string `json:"purpose"`

	// NotAfter is when the certificate expires.
	NotAfter metav1.Time `json:"notAfter"`

	// RenewAt is when the operator renews it; empty for certificates the
	// user provides.
	//
	// +optional
	RenewAt *metav1.Time `json:"renewAt,omitempty"`
}

// MemberStatus is one etcd member.
type MemberStatus struct {
	// Name is the member's name, which is also its pod's name.
	Name string `json:"name"`

	// ID is the member ID in hex, as etcdctl prints it.
	//
	// +optional
	ID string `json:"id,omitempty"`

	// PeerURL is the URL other members reach it at.
	//
	// +optional
	PeerURL string `json:"peerURL,omitempty"`

	// Version is the etcd version the member runs.
	//
	// +optional
	Version string `json:"version,omitempty"`

	// Leader is true for the raft leader.
	//
	// +optional
	Leader bool `json:"leader,omitempty"`

	// Learner is true for a member that does not vote yet.
	//
	// +optional
	Learner bool `json:"learner,omitempty"`

	// Healthy is true when the member answered its status call as itself
	// and reported no error: it has a leader and no alarm is raised.
	Healthy bool `json:"healthy"`

	// Errors is what the member reported wrong with itself when it
	// answered, for example "etcdserver: no leader" or an alarm.
	//
	// +optional
	// +listType=atomic
	Errors []string `json:"errors,omitempty"`

	// DBSizeBytes is the size of the member's backend database. It and
	// Revision move with every write to etcd: when nothing else in status
	// changed, they are refreshed at most every 5 minutes (the metrics
	// have live figures).
	//
	// +optional
	DBSizeBytes int64 `json:"dbSizeBytes,omitempty"`

	// Revision is the member's current store revision.
	//
	// +optional
	Revision int64 `json:"revision,omitempty"`
}

// EtcdCluster is one etcd cluster run by Quorum.
//
// Rules on the whole object, as the API server checks them:
//
// Names. The name is at most 52 characters: it names the StatefulSet, and
// the StatefulSet controller labels each member pod
// controller-revision-hash=<name>-<hash>, the hash up to 10 characters (a
// 32-bit FNV hash in decimal), in a label value of at most 63 characters;
// a longer name makes a StatefulSet that never creates a pod. It is a DNS
// label starting with a letter: it is also the name of the client and
// peer Services (<name>, <name>-peer), which Kubernetes before 1.36
// accepts only in that form, and the prefix of the members' host names,
// which cannot hold dots. Both rules run only on create (names are
// immutable), so an object stored before them can still be updated and
// have its finalizer removed.
//
// Versions against what members run. The version rules on spec.version
// compare with the old spec; these compare with status.currentVersion,
// the lowest version a healthy member reports, when the operator has set
// it, so two edits in quick succession (3.5 to 3.6, then 3.7 before any
// member runs 3.6) cannot restart a member two minor versions away.
// Creation (no old object) and the operator's status writes (the spec
// stays as stored) never meet them.
//
// emptyDir with 1 or 2 members. With spec.storage.emptyDir a member's data
// lives only in its pod, so a restarted member comes back empty and must be
// re-added from its peers; with 1 member there are none, and with 2 the
// other one alone is no quorum, so the cluster never comes back. Every
// spec field that feeds the member pod template (resources.PodTemplate and
// addMemberTLS) restarts members when it changes: version (the default
// image, and the TLS setting names), image, resources, options (etcd's
// environment and extraArgs) and podTemplate (labels, annotations,
// affinity, memberSpread, topologySpreadConstraints, tolerations,
// nodeSelector, priorityClassName, imagePullSecrets). Those are refused
// when the old or the new size is 2 or less. The other fields that reach
// the template cannot change at all: storage (its size may grow, which
// reaches the claims, not the template), bootstrap, tls and
// tls.secrets.member. size, paused, deletionPolicy and
// tls.secrets.operatorClient do not reach it and stay editable.
//
// +kubebuilder:object:root=true
// +kubebuilder:validation:XValidation:rule="oldSelf.hasValue() || self.metadata.name.size() <= 52",optionalOldSelf=true,message="the name of an EtcdCluster is at most 52 characters: its member pods carry the label controller-revision-hash=<name>-<hash of up to 10 characters>, and a label value is at most 63 characters, so the StatefulSet of a longer name never creates a pod"
// +kubebuilder:validation:XValidation:rule="oldSelf.hasValue() || self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')",optionalOldSelf=true,message="the name of an EtcdCluster must be a DNS label (lowercase letters, digits and '-', starting with a letter and ending with a letter or digit): it names the cluster's Services and begins its members' host names"
// +kubebuilder:validation:XValidation:rule="self.spec.version == oldSelf.spec.version || !has(self.status) || !has(self.status.currentVersion) || !self.status.currentVersion.matches('^[0-9]+\\\\.[0-9]+\\\\.') || !self.spec.version.matches('^[0-9]+\\\\.[0-9]+\\\\.') || int(self.spec.version.split('.')[1]) <= int(self.status.currentVersion.split('.')[1]) + 1",messageExpression="'members run ' + self.status.currentVersion + ' now (status.currentVersion, the lowest version a healthy member reports): upgrade one minor version at a time from what they run; wait until no member runs ' + self.status.currentVersion.split('.')[0] + '.' + self.status.currentVersion.split('.')[1] + ' before setting ' + self.spec.version",fieldPath=".spec.version"
// +kubebuilder:validation:XValidation:rule="self.spec.version == oldSelf.spec.version || !has(self.status) || !has(self.status.currentVersion) || !self.status.currentVersion.matches('^[0-9]+\\\\.[0-9]+\\\\.') || !self.spec.version.matches('^[0-9]+\\\\.[0-9]+\\\\.') || int(self.spec.version.split('.')[1]) >= int(self.status.currentVersion.split('.')[1]) || (int(self.spec.version.split('.')[1]) == int(self.status.currentVersion.split('.')[1]) - 1 && int(self.status.currentVersion.split('.')[1]) >= 6)",messageExpression="'members run ' + self.status.currentVersion + ' now (status.currentVersion, the lowest version a healthy member reports): a minor downgrade goes to one minor version below what they run, and only from 3.6 or later, where etcd has a downgrade API'",fieldPath=".spec.version"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.spec.storage) || !has(oldSelf.spec.storage.emptyDir) || (self.spec.size > 2 && oldSelf.spec.size > 2) || (self.spec.version == oldSelf.spec.version && has(self.spec.image) == has(oldSelf.spec.image) && (!has(self.spec.image) || self.spec.image == oldSelf.spec.image) && (has(self.spec.resources) && has(self.spec.resources.limits) ? self.spec.resources.limits : {}) == (has(oldSelf.spec.resources) && has(oldSelf.spec.resources.limits) ? oldSelf.spec.resources.limits : {}) && (has(self.spec.resources) && has(self.spec.resources.requests) ? self.spec.resources.requests : {}) == (has(oldSelf.spec.resources) && has(oldSelf.spec.resources.requests) ? oldSelf.spec.resources.requests : {}) && (has(self.spec.resources) && has(self.spec.resources.claims) ? self.spec.resources.claims : []) == (has(oldSelf.spec.resources) && has(oldSelf.spec.resources.claims) ? oldSelf.spec.resources.claims : []) && has(self.spec.options) == has(oldSelf.spec.options) && (!has(self.spec.options) || self.spec.options == oldSelf.spec.options) && has(self.spec.podTemplate) == has(oldSelf.spec.podTemplate) && (!has(self.spec.podTemplate) || self.spec.podTemplate == oldSelf.spec.podTemplate))",message="with spec.storage.emptyDir and 1 or 2 members, a change of the pod template (version, image, resources, options or podTemplate) is refused: it restarts members, a restarted member's data lives only in its pod, and with fewer than 3 members none can be re-added from its peers, so the cluster would not come back; scale to 3 or more members first (spec.size alone may change), then make the change",fieldPath=".spec"
// +kubebuilder:validation:XValidation:rule="oldSelf.spec.version == self.spec.version || !self.spec.version.matches('^[0-9]+\\\\.[0-9]+\\\\.') || !oldSelf.spec.version.matches('^[0-9]+\\\\.[0-9]+\\\\.') || int(self.spec.version.split('.')[1]) >= int(oldSelf.spec.version.split('.')[1]) || (int(self.spec.version.split('.')[1]) == int(oldSelf.spec.version.split('.')[1]) - 1 && int(oldSelf.spec.version.split('.')[1]) >= 6) || (has(self.status) && has(self.status.currentVersion) && self.status.currentVersion.split('.')[1] == self.spec.version.split('.')[1])",message="a minor downgrade goes one minor version at a time and only from 3.6 or later, where etcd has a downgrade API; otherwise it is allowed only back to the minor version a member still runs (reverting an unfinished upgrade)",fieldPath=".spec.version"
// +kubebuilder:subresource:status
// +kubebuilder:subresource:scale:specpath=.spec.size,statuspath=.status.readyMembers
// +kubebuilder:resource:shortName=etcdc,categories=quorum
// +kubebuilder:printcolumn:name="Size",type=integer,JSONPath=`.spec.size`
// +kubebuilder:printcolumn:name="Ready",type=integer,JSONPath=`.status.readyMembers`
// +kubebuilder:printcolumn:name="Version",type=string,JSONPath=`.status.currentVersion`
// +kubebuilder:printcolumn:name="Updated",type=integer,JSONPath=`.status.updatedMembers`,priority=1
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Available",type=string,JSONPath=`.status.conditions[?(@.type=="Available")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type EtcdCluster struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec EtcdClusterSpec `json:"spec"`
	// +kubebuilder:default={}
	Status EtcdClusterStatus `json:"status,omitempty"`
}

// EtcdClusterList is a list of EtcdCluster.
//
// +kubebuilder:object:root=true
type EtcdClusterList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []EtcdCluster `json:"items"`
}
