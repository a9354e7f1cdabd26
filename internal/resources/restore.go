package resources

import (
	"fmt"
	"path"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
)

const (
	restoreContainer = "restore"
	restoreVolume    = "restore-source"
	restoreMount     = "/restore"
)

// RestoreSource is the snapshot a new cluster's members start from,
// resolved from spec.bootstrap.fromBackup.
type RestoreSource struct {
	S3        *etcdv1alpha1.S3Location // the object is S3.Prefix + Key
	Key       string
	ClaimName string // or a file on a claim
	Path      string
	SHA256    string
}

// RestoreFromBackup resolves a succeeded EtcdBackup to its snapshot.
func RestoreFromBackup(b *etcdv1alpha1.EtcdBackup) RestoreSource {
	src := RestoreSource{SHA256: b.Status.SHA256}
	if d := b.Spec.Destination; d.S3 != nil {
		src.S3, src.Key = d.S3, BackupObjectPath(b)
	} else if d.PersistentVolumeClaim != nil {
		src.ClaimName, src.Path = d.PersistentVolumeClaim.ClaimName, path.Join(d.PersistentVolumeClaim.Directory, BackupObjectPath(b))
	}
	return src
}

// RestoreFromLocation is a snapshot the spec names directly.
func RestoreFromLocation(s *etcdv1alpha1.BackupSource) RestoreSource {
	src := RestoreSource{SHA256: s.SHA256}
	if s.S3 != nil {
		src.S3, src.Key = &s.S3.S3Location, s.S3.Key
	} else if s.PersistentVolumeClaim != nil {
		src.ClaimName, src.Path = s.PersistentVolumeClaim.ClaimName, s.PersistentVolumeClaim.Path
	}
	return src
}

// AddRestore gives a member pod template the init container that restores
// the snapshot into an empty data directory while the cluster is created
// (`manager restore`, from image). It reads the bootstrap settings the
// etcd container reads, so every initial member restores with the same
// initial cluster and token.
func AddRestore(t *corev1.PodTemplateSpec, c *etcdv1alpha1.EtcdCluster, src RestoreSource, image string) {
	host := fmt.Sprintf("$(POD_NAME).%s.%s.svc", PeerServiceName(c), c.Namespace)
	args := []string{"restore", "--data-dir=" + dataDir, "--name=$(POD_NAME)",
		fmt.Sprintf("--peer-url=%s://%s:%d", Scheme(c), host, PeerPort),
		"--initial-cluster=$(ETCD_INITIAL_CLUSTER)", "--initial-cluster-token=$(ETCD_INITIAL_CLUSTER_TOKEN)",
		"--initial-cluster-state=$(ETCD_INITIAL_CLUSTER_STATE)", "--sha256=" + src.SHA256}
	env := []corev1.EnvVar{podNameEnv()}
	mounts := []corev1.VolumeMount{{Name: dataVolume, MountPath: dataMount}}
	if src.S3 != nil {
		args = append(args, s3Args(src.S3, src.Key)...)
		// Optional: a member whose sandbox is recreated after the cluster
		// formed re-runs this container, which then restores nothing and
		// must not need a Secret the user may have deleted.
		for _, e := range credentialEnv(src.S3.CredentialsSecret.Name) {
			e.ValueFrom.SecretKeyRef.Optional = ptr.To(true)
			env = append(env, e)
		}
	} else {
		args = append(args, "--file="+path.Join(restoreMount, src.Path))
		mounts = append(mounts, corev1.VolumeMount{Name: restoreVolume, MountPath: restoreMount, ReadOnly: true})
		t.Spec.Volumes = append(t.Spec.Volumes, corev1.Volume{Name: restoreVolume, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: src.ClaimName, ReadOnly: true}}})
	}
	t.Spec.InitContainers = append(t.Spec.InitContainers, corev1.Container{
		Name:                     restoreContainer,
		Image:                    image,
		Command:                  []string{"/manager"},
		Args:                     args,
		Env:                      env,
		EnvFrom:                  []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: ConfigMapName(c)}}}},
		VolumeMounts:             mounts,
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
		SecurityContext:          restrictedContainer(),
	})
}

// KeepRestore carries the restore init container and its volume from the
// running template into a new one while the cluster is created: a template
// rewritten then (a new operator image) must still restore.
// Once every initial member has started, the operator drops them instead
// (see HasRestore): members must not depend on the restore source (its
// Secret or claim) after the cluster formed, or deleting it would keep
// every restarted member from starting.
func KeepRestore(running, desired *corev1.PodTemplateSpec) {
	for _, ic := range running.Spec.InitContainers {
		if ic.Name == restoreContainer {
			desired.Spec.InitContainers = append(desired.Spec.InitContainers, ic)
		}
	}
	for _, v := range running.Spec.Volumes {
		if v.Name == restoreVolume {
			desired.Spec.Volumes = append(desired.Spec.Volumes, v)
		}
	}
}

// HasRestore says whether a pod template restores a snapshot (at
// bootstrap or in place).
func HasRestore(t *corev1.PodTemplateSpec) bool {
	for _, ic := range t.Spec.InitContainers {
		if isRestoreContainer(ic.Name) {
			return true
		}
	}
	return false
}

// RestoreFailure is what a member's restore init container reported when
// it failed, if it did.
func RestoreFailure(p *corev1.Pod) (string, bool) {
	for _, s := range p.Status.InitContainerStatuses {
		if !isRestoreContainer(s.Name) {
			continue
		}
		for _, t := range []*corev1.ContainerStateTerminated{s.State.Terminated, s.LastTerminationState.Terminated} {
			if t != nil && t.ExitCode != 0 {
				return t.Message, true
			}
		}
	}
	return "", false
}
