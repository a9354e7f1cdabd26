package resources

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
	"github.com/quorum-operator/quorum/internal/jobexit"
)

const (
	backupContainer = "backup"
	backupMount     = "/backup"
	// backupRetries is how often a failed snapshot or upload is tried
	// again, with the Job controller's exponential backoff (10 s, 20 s,
	// 40 s, ...).
	backupRetries = 4
)

// BackupJobName is the Job that takes a backup.
func BackupJobName(b *etcdv1alpha1.EtcdBackup) string { return b.Name + "-backup" }

// BackupObjectPath is where a backup's snapshot goes below the
// destination's prefix or directory: <namespace>/<cluster>/<backup>.db.
func BackupObjectPath(b *etcdv1alpha1.EtcdBackup) string {
	return path.Join(b.Namespace, b.Spec.ClusterName, b.Name+".db")
}

// BackupLocation is where a backup's snapshot is written, as the backup
// command reports it: s3://bucket/key or pvc://claim/path.
func BackupLocation(b *etcdv1alpha1.EtcdBackup) string {
	switch d := b.Spec.Destination; {
	case d.S3 != nil:
		return fmt.Sprintf("s3://%s/%s%s", d.S3.Bucket, d.S3.Prefix, BackupObjectPath(b))
	case d.PersistentVolumeClaim != nil:
		return fmt.Sprintf("pvc://%s/%s", d.PersistentVolumeClaim.ClaimName, path.Join(d.PersistentVolumeClaim.Directory, BackupObjectPath(b)))
	}
	return ""
}

// MemberClientURL is a member's client URL by its stable DNS name.
func MemberClientURL(c *etcdv1alpha1.EtcdCluster, member string) string {
	return fmt.Sprintf("%s://%s:%d", Scheme(c), MemberHost(c, member), ClientPort)
}

// BackupJob runs `manager backup` once against the cluster, writing to the
// backup's destination. The command gets every member's URL and picks the
// member to read from when the snapshot begins (internal/backup), so a
// member status the operator saw earlier never decides it. Credentials
// reach only this pod, through a secretKeyRef; the operator never reads
// them.
func BackupJob(b *etcdv1alpha1.EtcdBackup, c *etcdv1alpha1.EtcdCluster, image string) *batchv1.Job {
	job := destinationJob(b, BackupJobName(b), image, "backup", "--endpoints="+strings.Join(MemberClientURLs(c), ","))
	pod := &job.Spec.Template.Spec
	addClientTLS(c, pod, &pod.Containers[0])
	return job
}

// MemberClientURLs are the client URLs of the cluster's members: those in
// its status and those spec.size names, in name order. The backup command
// finds the members through any of them that answers.
func MemberClientURLs(c *etcdv1alpha1.EtcdCluster) []string {
	names := map[string]bool{}
	for _, m := range c.Status.Members {
		names[m.Name] = true
	}
	for i := range int(c.Spec.Size) {
		names[MemberName(c, i)] = true
	}
	var urls []string
	for _, name := range slices.Sorted(maps.Keys(names)) {
		urls = append(urls, MemberClientURL(c, name))
	}
	return urls
}

// SnapshotDeleteJobName is the Job that deletes a pruned backup's snapshot.
func SnapshotDeleteJobName(b *etcdv1alpha1.EtcdBackup) string { return b.Name + "-delete" }

// SnapshotDeleteJob runs `manager backup --delete`: it removes the backup's
// object or file.
func SnapshotDeleteJob(b *etcdv1alpha1.EtcdBackup, image string) *batchv1.Job {
	return destinationJob(b, SnapshotDeleteJobName(b), image, "backup", "--delete")
}

// destinationJob runs a command of the manager once with access to the
// backup's destination (credentials or the claim): the subcommand and its
// first arguments, followed by those naming the destination.
func destinationJob(b *etcdv1alpha1.EtcdBackup, name, image string, command ...string) *batchv1.Job {
	args := command
	container := corev1.Container{
		Name:                     backupContainer,
		Image:                    image,
		Command:                  []string{"/manager"},
		TerminationMessagePolicy: corev1.TerminationMessageReadFile,
		SecurityContext:          restrictedContainer(),
	}
	pod := corev1.PodSpec{
		RestartPolicy:                corev1.RestartPolicyNever,
		AutomountServiceAccountToken: ptr.To(false),
		EnableServiceLinks:           ptr.To(false),
		SecurityContext:              restrictedPod(),
	}
	switch d := b.Spec.Destination; {
	case d.S3 != nil:
		args = append(args, s3Args(d.S3, BackupObjectPath(b))...)
		container.Env = credentialEnv(d.S3.CredentialsSecret.Name)
	case d.PersistentVolumeClaim != nil:
		rel := path.Join(d.PersistentVolumeClaim.Directory, BackupObjectPath(b))
		args = append(args, "--file="+path.Join(backupMount, rel), "--location="+BackupLocation(b))
		container.VolumeMounts = []corev1.VolumeMount{{Name: "destination", MountPath: backupMount}}
		pod.Volumes = []corev1.Volume{{Name: "destination", VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: d.PersistentVolumeClaim.ClaimName},
		}}}
	}
	container.Args = args
	pod.Containers = []corev1.Container{container}
	applyJobTemplate(&pod, b.Spec.Job)

	// Not the cluster's own label: the cluster's reconciler takes pods with
	// it for members.
	labels := map[string]string{"etcd.quorum.dev/backup-of": b.Spec.ClusterName, LabelJob: name}
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: b.Namespace, Labels: labels},
		Spec: batchv1.JobSpec{
			BackoffLimit: ptr.To[int32](backupRetries),
			PodFailurePolicy: &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
				Action: batchv1.PodFailurePolicyActionFailJob,
				OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
					ContainerName: ptr.To(backupContainer),
					Operator:      batchv1.PodFailurePolicyOnExitCodesOpIn,
					Values:        []int32{jobexit.Permanent},
				},
			}}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: pod},
		},
	}
}

func s3Args(s *etcdv1alpha1.S3Location, objectPath string) []string {
	args := []string{"--s3-endpoint=" + s.Endpoint, "--s3-bucket=" + s.Bucket, "--s3-key=" + s.Prefix + objectPath}
	if s.Region != "" {
		args = append(args, "--s3-region="+s.Region)
	}
	if s.ForcePathStyle {
		args = append(args, "--s3-path-style")
	}
	if s.Insecure {
		args = append(args, "--s3-insecure")
	}
	return args
}

func credentialEnv(secret string) []corev1.EnvVar {
	ref := func(key string) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: secret}, Key: key}}
	}
	return []corev1.EnvVar{
		{Name: "AWS_ACCESS_KEY_ID", ValueFrom: ref("AWS_ACCESS_KEY_ID")},
		{Name: "AWS_SECRET_ACCESS_KEY", ValueFrom: ref("AWS_SECRET_ACCESS_KEY")},
	}
}
