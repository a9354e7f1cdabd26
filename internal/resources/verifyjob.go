package resources

import (
	"encoding/json"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
)

// verifyWorkDir holds the downloaded snapshot and the throwaway etcd's data
// (an emptyDir: the root filesystem is read-only). It needs about three
// times the snapshot's size: the file, the restored database and its WAL.
const verifyWorkDir = "/work"

// VerifyJobName is the Job that verifies a backup.
func VerifyJobName(b *etcdv1alpha1.EtcdBackup) string { return b.Name + "-verify" }

// VerifyJob runs `manager verify` once on the backup's snapshot, with what
// the backup recorded (SHA-256, the member's HashKV) to compare against.
// It reads the destination as the backup Job wrote it; a claim is mounted
// read-only. A mismatch exits with the permanent code, which fails the Job
// at once; an unreachable store is retried like a backup.
func VerifyJob(b *etcdv1alpha1.EtcdBackup, image string) *batchv1.Job {
	command := []string{"verify", "--sha256=" + b.Status.SHA256, "--work-dir=" + verifyWorkDir}
	if h := b.Status.KVHash; h != nil {
		// The JSON of internal/backup.KVHash; hash is a uint32 there.
		kv, _ := json.Marshal(map[string]int64{"revision": h.Revision, "compactRevision": h.CompactRevision, "hash": h.Hash, "keys": h.Keys})
		command = append(command, "--kv-hash="+string(kv))
	}
	job := destinationJob(b, VerifyJobName(b), image, command...)
	job.Annotations = map[string]string{etcdv1alpha1.AnnotationVerify: b.Annotations[etcdv1alpha1.AnnotationVerify]}
	pod := &job.Spec.Template.Spec
	container := &pod.Containers[0]
	for i := range container.VolumeMounts {
		container.VolumeMounts[i].ReadOnly = true
	}
	// The work directory holds the snapshot, its restored copy and the
	// throwaway etcd's WAL: about three times the snapshot. Bounded and
	// requested, so the node's disk, which members may share, cannot fill.
	work := VerifyWorkSize(b)
	container.VolumeMounts = append(container.VolumeMounts, corev1.VolumeMount{Name: "work", MountPath: verifyWorkDir})
	pod.Volumes = append(pod.Volumes, corev1.Volume{Name: "work", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: &work}}})
	if container.Resources.Requests == nil {
		container.Resources.Requests = corev1.ResourceList{}
	}
	if _, set := container.Resources.Requests[corev1.ResourceEphemeralStorage]; !set {
		container.Resources.Requests[corev1.ResourceEphemeralStorage] = work
	}
	return job
}

// VerifyWorkSize is the work space a verification needs: three times the
// snapshot and 512 MiB for etcd's WAL.
func VerifyWorkSize(b *etcdv1alpha1.EtcdBackup) resource.Quantity {
	return *resource.NewQuantity(3*b.Status.SizeBytes+512<<20, resource.BinarySI)
}
