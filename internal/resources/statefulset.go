package resources

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
	"github.com/quorum-operator/quorum/internal/memberguard"
)

const (
	dataVolume = DataVolumeName
	dataMount  = "/var/lib/etcd"
	// The data directory is a subdirectory, so a filesystem's lost+found
	// never makes etcd think the directory holds data.
	dataDir = dataMount + "/data"
)

// AnnotationTemplateHash on the StatefulSet records the hash of the pod
// template the spec asked for when the template was last written, so the
// operator rewrites it only when the spec changed it.
const AnnotationTemplateHash = "etcd.quorum.dev/template-hash"

// AnnotationRollingTo on the StatefulSet marks a rolling update under way
// to the template of that hash. The operator sets it when it writes a new
// template and removes it once every member runs that template healthy on
// the spec's version; while it is set, a restarted member that does not
// come back halts the rollout.
const AnnotationRollingTo = "etcd.quorum.dev/rolling-to"

// TemplateHash identifies a pod template by content.
func TemplateHash(t corev1.PodTemplateSpec) string {
	b, err := json.Marshal(t)
	if err != nil {
		panic(fmt.Sprintf("marshal pod template: %v", err)) // a PodTemplateSpec always marshals
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// StatefulSet runs the members. Pods start in parallel (all initial members
// must be up together to elect a leader) and are only replaced when the
// operator deletes them (OnDelete), so the operator picks the order of
// restarts. replicas is the operator's decision, not always spec.size: a
// member is added to etcd before its pod exists.
func StatefulSet(c *etcdv1alpha1.EtcdCluster, replicas int32, trustedCA []byte, toolImage string) *appsv1.StatefulSet {
	template, hash := MemberTemplate(c, trustedCA, toolImage)
	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: StatefulSetName(c), Namespace: c.Namespace, Labels: Labels(c)},
		Spec: appsv1.StatefulSetSpec{
			Replicas:                             ptr.To(replicas),
			ServiceName:                          PeerServiceName(c),
			PodManagementPolicy:                  appsv1.ParallelPodManagement,
			UpdateStrategy:                       appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType},
			Selector:                             &metav1.LabelSelector{MatchLabels: SelectorLabels(c)},
			PersistentVolumeClaimRetentionPolicy: ClaimRetentionPolicy(),
			Template:                             template,
		},
	}
	sts.Annotations = map[string]string{AnnotationTemplateHash: hash, AnnotationMemberSpread: string(CreationMemberSpread(c))}
	if claim := dataClaim(c); claim != nil {
		sts.Spec.VolumeClaimTemplates = []corev1.PersistentVolumeClaim{*claim}
	}
	return sts
}

// ClaimRetentionPolicy keeps every claim whatever happens to the
// StatefulSet: the operator deletes a removed member's claim itself, after
// etcd no longer lists it, and a deleted cluster's claims only when its
// deletionPolicy says so.
func ClaimRetentionPolicy() *appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy {
	return &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
		WhenDeleted: appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
		WhenScaled:  appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
	}
}

// MemberTemplate is the pod template members run, and its hash: the spec's
// PodTemplate with the member guard first among the init containers, and
// the hash on the pod too, so a member is outdated exactly when its pod's
// hash differs from the StatefulSet's. The hash is that of the spec's
// template alone: a new operator image, or the guard added to the pods of
// an operator that had none, restarts no member (a pod gets the guard when
// it is next made, which is when the guard matters).
func MemberTemplate(c *etcdv1alpha1.EtcdCluster, trustedCA []byte, toolImage string) (corev1.PodTemplateSpec, string) {
	t := PodTemplate(c, trustedCA)
	hash := TemplateHash(t)
	addMemberGuard(&t, c, toolImage)
	if t.Annotations == nil {
		t.Annotations = map[string]string{}
	}
	t.Annotations[AnnotationTemplateHash] = hash
	return t, hash
}

// AnnotationUnannotatedPodsHash on the StatefulSet is the template hash
// that member pods without a hash annotation (made by an operator that did
// not write one) are on: the hash the StatefulSet had when the operator
// first added the guard to it.
const AnnotationUnannotatedPodsHash = "etcd.quorum.dev/unannotated-pods-hash"

// HasGuard says whether a pod template starts with the member guard.
func HasGuard(t *corev1.PodTemplateSpec) bool {
	for _, ic := range t.Spec.InitContainers {
		if ic.Name == GuardContainerName {
			return true
		}
	}
	return false
}

// GuardContainerName is the init container that stops a member that lost
// its data from starting under its old ID (memberguard).
const GuardContainerName = "member-guard"

// addMemberGuard puts the member guard first: it must decide before
// anything (a restore) writes into the data directory.
func addMemberGuard(t *corev1.PodTemplateSpec, c *etcdv1alpha1.EtcdCluster, image string) {
	container := t.Spec.Containers[0]
	guard := corev1.Container{
		Name:    GuardContainerName,
		Image:   image,
		Command: []string{"/manager"},
		Args:    []string{"member-guard", "--data-dir=" + dataDir, "--name=$(POD_NAME)"},
		Env:     []corev1.EnvVar{podNameEnv()},
		// The bootstrap settings: KeyMayStartEmpty.
		EnvFrom:                  container.EnvFrom,
		VolumeMounts:             []corev1.VolumeMount{{Name: dataVolume, MountPath: dataMount}},
		Resources:                c.Spec.Resources, // the pod's request stays etcd's
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
		SecurityContext:          restrictedContainer(),
	}
	t.Spec.InitContainers = append([]corev1.Container{guard}, t.Spec.InitContainers...)
}

// GuardRefused says whether a member pod's guard stopped it because it lost
// its data, and the guard's message.
func GuardRefused(p *corev1.Pod) (string, bool) {
	for _, s := range p.Status.InitContainerStatuses {
		if s.Name != GuardContainerName {
			continue
		}
		if t := s.State.Terminated; t != nil {
			return t.Message, t.ExitCode == memberguard.ExitLostData
		}
		if t := s.LastTerminationState.Terminated; t != nil && s.State.Running == nil {
			return t.Message, t.ExitCode == memberguard.ExitLostData
		}
	}
	return "", false
}

// AnnotationTrustedCA on the pod template identifies the CAs a TLS member
// trusts (the member Secret's ca.crt). etcd reads them only at start, so a
// change of CA rolls the members one at a time through this annotation.
const AnnotationTrustedCA = "etcd.quorum.dev/trusted-ca"

// PodTemplate is the member pod template the spec asks for, for members
// that trust trustedCA (nil without TLS). Changing it restarts no pod by
// itself (OnDelete): the operator rolls members one at a time.
func PodTemplate(c *etcdv1alpha1.EtcdCluster, trustedCA []byte) corev1.PodTemplateSpec {
	labels := Labels(c)
	annotations := map[string]string{}
	container := etcdContainer(c)
	spec := corev1.PodSpec{
		// etcd flushes its WAL on SIGTERM quickly; a member that takes
		// longer is stuck, and its peers carry on without it.
		TerminationGracePeriodSeconds: ptr.To[int64](30),
		EnableServiceLinks:            ptr.To(false),
		// Members never call the Kubernetes API.
		AutomountServiceAccountToken: ptr.To(false),
		SecurityContext:              restrictedPod(),
	}
	if s := c.Spec.Storage; s != nil && s.EmptyDir != nil {
		spec.Volumes = []corev1.Volume{{Name: dataVolume, VolumeSource: corev1.VolumeSource{EmptyDir: s.EmptyDir}}}
	}
	addMemberTLS(c, &spec, &container)
	spec.Containers = []corev1.Container{container}
	if t := c.Spec.PodTemplate; t != nil {
		for k, v := range t.Labels {
			if _, reserved := labels[k]; !reserved {
				labels[k] = v
			}
		}
		maps.Copy(annotations, t.Annotations)
		spec.Tolerations = t.Tolerations
		spec.NodeSelector = t.NodeSelector
		spec.PriorityClassName = t.PriorityClassName
		spec.ImagePullSecrets = t.ImagePullSecrets
	}
	placeMembers(&spec, c)
	if c.Spec.TLS != nil {
		annotations[AnnotationTrustedCA] = TrustedCAHash(trustedCA)
	}
	if len(annotations) == 0 {
		annotations = nil // the template of a cluster without either stays as it was
	}
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: annotations},
		Spec:       spec,
	}
}

// etcdContainer configures etcd through its ETCD_* environment variables:
// the official image has no shell to compute flags in, and Kubernetes
// expands $(POD_NAME) in env values, which gives each member its own name
// and URLs from one template.
func etcdContainer(c *etcdv1alpha1.EtcdCluster) corev1.Container {
	host := fmt.Sprintf("$(POD_NAME).%s.%s.svc", PeerServiceName(c), c.Namespace)
	scheme := Scheme(c)
	env := []corev1.EnvVar{
		podNameEnv(),
		{Name: "ETCD_NAME", Value: "$(POD_NAME)"},
		{Name: "ETCD_DATA_DIR", Value: dataDir},
		{Name: "ETCD_LISTEN_PEER_URLS", Value: fmt.Sprintf("%s://0.0.0.0:%d", scheme, PeerPort)},
		{Name: "ETCD_LISTEN_CLIENT_URLS", Value: fmt.Sprintf("%s://0.0.0.0:%d", scheme, ClientPort)},
		// Plain HTTP even with TLS: the kubelet's probes use it, and it
		// serves only /metrics and the health endpoints, never keys.
		{Name: "ETCD_LISTEN_METRICS_URLS", Value: fmt.Sprintf("http://0.0.0.0:%d", MetricsPort)},
		{Name: "ETCD_INITIAL_ADVERTISE_PEER_URLS", Value: fmt.Sprintf("%s://%s:%d", scheme, host, PeerPort)},
		{Name: "ETCD_ADVERTISE_CLIENT_URLS", Value: fmt.Sprintf("%s://%s:%d", scheme, host, ClientPort)},
	}
	env = append(env, optionEnv(c.Spec.Options)...)
	env = append(env, spaceDefaultEnv(c)...)
	return corev1.Container{
		Name:    "etcd",
		Image:   Image(c),
		Command: []string{"/usr/local/bin/etcd"},
		Args:    extraArgs(c.Spec.Options),
		Env:     env,
		EnvFrom: []corev1.EnvFromSource{{
			ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: ConfigMapName(c)}},
		}},
		Ports: []corev1.ContainerPort{
			{Name: "client", ContainerPort: ClientPort},
			{Name: "peer", ContainerPort: PeerPort},
			{Name: "metrics", ContainerPort: MetricsPort},
		},
		Resources:       c.Spec.Resources,
		VolumeMounts:    []corev1.VolumeMount{{Name: dataVolume, MountPath: dataMount}},
		SecurityContext: restrictedContainer(),
		// Probes use the metrics listener, which stays plain HTTP when
		// client traffic moves to TLS. Readiness is etcd's own: the member
		// is part of a cluster with a leader and serves reads.
		ReadinessProbe: &corev1.Probe{
			ProbeHandler:     corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/readyz", Port: intstr.FromInt32(MetricsPort)}},
			PeriodSeconds:    5,
			FailureThreshold: 3,
		},
		// Liveness restarts only a process that is wedged, never one that is
		// merely without a leader: that is a cluster problem a restart
		// cannot fix.
		LivenessProbe: &corev1.Probe{
			ProbeHandler:     corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/livez", Port: intstr.FromInt32(MetricsPort)}},
			PeriodSeconds:    10,
			FailureThreshold: 8,
		},
	}
}

// podNameEnv gives a container its pod's name, from which each member
// derives its own name and URLs.
func podNameEnv() corev1.EnvVar {
	return corev1.EnvVar{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}
}

// DefaultQuotaBackendBytes is etcd's own quota when none is set: 2 GiB.
const DefaultQuotaBackendBytes int64 = 2 << 30

// QuotaBackendBytes is the database size at which the members raise
// NOSPACE: the spec's, else the default for the volume (DefaultQuota),
// else etcd's own.
func QuotaBackendBytes(c *etcdv1alpha1.EtcdCluster) int64 {
	if o := c.Spec.Options; o != nil && o.QuotaBackendBytes != nil {
		return o.QuotaBackendBytes.Value()
	}
	if q, ok := DefaultQuota(c); ok {
		return q
	}
	return DefaultQuotaBackendBytes
}

// optionEnv maps spec.options to etcd's environment variables.
func optionEnv(o *etcdv1alpha1.EtcdOptions) []corev1.EnvVar {
	if o == nil {
		return nil
	}
	var env []corev1.EnvVar
	add := func(name, value string) { env = append(env, corev1.EnvVar{Name: name, Value: value}) }
	if o.QuotaBackendBytes != nil {
		add("ETCD_QUOTA_BACKEND_BYTES", fmt.Sprint(o.QuotaBackendBytes.Value()))
	}
	if o.AutoCompactionMode != "" {
		add("ETCD_AUTO_COMPACTION_MODE", o.AutoCompactionMode)
	}
	if o.AutoCompactionRetention != "" {
		add("ETCD_AUTO_COMPACTION_RETENTION", o.AutoCompactionRetention)
	}
	if o.HeartbeatIntervalMillis != nil {
		add("ETCD_HEARTBEAT_INTERVAL", fmt.Sprint(*o.HeartbeatIntervalMillis))
	}
	if o.ElectionTimeoutMillis != nil {
		add("ETCD_ELECTION_TIMEOUT", fmt.Sprint(*o.ElectionTimeoutMillis))
	}
	return env
}

// dataClaim is the per-member claim template, or nil for emptyDir storage.
func dataClaim(c *etcdv1alpha1.EtcdCluster) *corev1.PersistentVolumeClaim {
	s := c.Spec.Storage
	if s != nil && s.EmptyDir != nil {
		return nil
	}
	size := resource.MustParse(DefaultStorageSize)
	var class *string
	if s != nil {
		if s.Size != nil {
			size = *s.Size
		}
		class = s.StorageClassName
	}
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: dataVolume, Labels: Labels(c)},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: class,
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: size}},
		},
	}
}
