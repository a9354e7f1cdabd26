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
func StatefulSet(c *etcdv1alpha1.EtcdCluster, replicas int32, trustedCA []byte) *appsv1.StatefulSet {
	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: StatefulSetName(c), Namespace: c.Namespace, Labels: Labels(c)},
		Spec: appsv1.StatefulSetSpec{
			Replicas:                             ptr.To(replicas),
			ServiceName:                          PeerServiceName(c),
			PodManagementPolicy:                  appsv1.ParallelPodManagement,
			UpdateStrategy:                       appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType},
			Selector:                             &metav1.LabelSelector{MatchLabels: SelectorLabels(c)},
			PersistentVolumeClaimRetentionPolicy: ClaimRetentionPolicy(),
			Template:                             PodTemplate(c, trustedCA),
		},
	}
	sts.Annotations = map[string]string{AnnotationTemplateHash: TemplateHash(sts.Spec.Template)}
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
		spec.Affinity = t.Affinity
		spec.Tolerations = t.Tolerations
		spec.NodeSelector = t.NodeSelector
		spec.PriorityClassName = t.PriorityClassName
	}
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
		{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
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
	return corev1.Container{
		Name:    "etcd",
		Image:   Image(c),
		Command: []string{"/usr/local/bin/etcd"},
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
