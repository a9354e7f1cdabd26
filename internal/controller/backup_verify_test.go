package controller

import (
	"encoding/json"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
	"github.com/quorum-operator/quorum/internal/backup"
	"github.com/quorum-operator/quorum/internal/resources"
	"github.com/quorum-operator/quorum/internal/verify"
)

var _ = Describe("Backup verification", func() {
	// takeVerifiedBackup creates a backup with spec.verify, ends its backup
	// Job as the command would, and returns the verify Job the operator
	// then starts.
	takeVerifiedBackup := func(ns, name string) (*etcdv1alpha1.EtcdBackup, *batchv1.Job) {
		GinkgoHelper()
		b := &etcdv1alpha1.EtcdBackup{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: etcdv1alpha1.EtcdBackupSpec{ClusterName: "main", Destination: s3Destination(), Verify: true}}
		Expect(k8sClient.Create(ctx, b)).To(Succeed())
		var upload batchv1.Job
		Eventually(func() error {
			return k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: resources.BackupJobName(b)}, &upload)
		}, timeout).Should(Succeed())
		finishJob(&upload, backup.Result{Location: "s3://backups/" + ns + "/main/" + name + ".db", SizeBytes: 1024, SHA256: "ab", Revision: 7,
			EtcdVersion: "3.6.16", KVHash: &backup.KVHash{Revision: 7, CompactRevision: 3, Hash: 4000000000, Keys: 5}})
		var job batchv1.Job
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(b), b)).To(Succeed())
			g.Expect(b.Status.Phase).To(Equal(etcdv1alpha1.BackupSucceeded))
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: resources.VerifyJobName(b)}, &job)).To(Succeed())
		}, timeout).Should(Succeed())
		Expect(b.Status.KVHash).To(Equal(&etcdv1alpha1.BackupKVHash{Revision: 7, CompactRevision: 3, Hash: 4000000000, Keys: 5}))
		Expect(b.Status.Verification).To(BeNil())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(b), b)).To(Succeed())
			g.Expect(meta.FindStatusCondition(b.Status.Conditions, etcdv1alpha1.ConditionVerified)).To(HaveField("Reason", "Verifying"))
		}, timeout).Should(Succeed())
		c := job.Spec.Template.Spec.Containers[0]
		Expect(c.Image).To(Equal("quorum:envtest"))
		Expect(c.Args[0]).To(Equal("verify"))
		Expect(c.Args).To(ContainElements("--sha256=ab", `--kv-hash={"compactRevision":3,"hash":4000000000,"keys":5,"revision":7}`))
		return b, &job
	}

	var ns string
	BeforeEach(func() {
		ns = newTestNamespace("verify-")
		c := createTestCluster(ns, "main", etcdv1alpha1.EtcdClusterSpec{Size: 3, Version: "3.6.16"})
		startInitialMembers(c)
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(c), c)).To(Succeed())
			g.Expect(c.Status.ReadyMembers).To(BeEquivalentTo(3))
		}, timeout).Should(Succeed())
	})

	It("records a failed verification with a warning event, the condition and the metric", func() {
		b, job := takeVerifiedBackup(ns, "bad")
		start := time.Now().UTC()
		res := verify.Result{Mismatch: true, Message: "the snapshot's SHA-256 does not match the backup's", StartTime: start, EndTime: start.Add(3 * time.Second)}
		endPod(job, res, 2)
		failJob(job)
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(b), b)).To(Succeed())
			g.Expect(b.Status.Verification).NotTo(BeNil())
		}, timeout).Should(Succeed())
		v := b.Status.Verification
		Expect(v.Result).To(Equal(etcdv1alpha1.VerificationFailed))
		Expect(v.Message).To(Equal(res.Message))
		Expect(v.Duration.Duration).To(Equal(3 * time.Second))
		cond := meta.FindStatusCondition(b.Status.Conditions, etcdv1alpha1.ConditionVerified)
		Expect(cond).To(HaveField("Status", metav1.ConditionFalse))
		Expect(cond.Message).To(ContainSubstring("SHA-256"))
		Expect(b.Status.Phase).To(Equal(etcdv1alpha1.BackupSucceeded), "the snapshot was written; only its check failed")
		Eventually(func(g Gomega) {
			var list eventsv1.EventList
			g.Expect(k8sClient.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
			g.Expect(list.Items).To(ContainElement(And(HaveField("Reason", "VerificationFailed"), HaveField("Type", "Warning"),
				HaveField("Regarding.Name", "bad"), HaveField("Note", ContainSubstring("SHA-256")))))
			g.Expect(seriesValue(g, "quorum_cluster_backup_verification_success", ns, "main")).To(Equal(0.0))
		}, timeout).Should(Succeed())
	})

	It("records a passed verification with what the throwaway etcd computed", func() {
		b, job := takeVerifiedBackup(ns, "good")
		start := time.Now().UTC()
		endPod(job, verify.Result{Passed: true, Message: "HashKV equal", Revision: 9, StartTime: start, EndTime: start.Add(time.Second),
			Restored: &backup.KVHash{Revision: 7, CompactRevision: 3, Hash: 4000000000, Keys: 5}}, 0)
		completeJob(job)
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(b), b)).To(Succeed())
			g.Expect(b.Status.Verification).NotTo(BeNil())
			g.Expect(seriesValue(g, "quorum_cluster_backup_verification_success", ns, "main")).To(Equal(1.0))
		}, timeout).Should(Succeed())
		Expect(*b.Status.Verification).To(MatchFields2(etcdv1alpha1.BackupVerification{Result: etcdv1alpha1.VerificationPassed,
			Revision: 9, Keys: 5, HashRevision: 7, Hash: 4000000000, Message: "HashKV equal"}))
		Expect(meta.IsStatusConditionTrue(b.Status.Conditions, etcdv1alpha1.ConditionVerified)).To(BeTrue())

		By("asking again with the annotation: a new Job replaces the finished one, and its result replaces the last")
		oldUID := job.UID
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(b), b)).To(Succeed())
			b.Annotations = map[string]string{etcdv1alpha1.AnnotationVerify: "again"}
			g.Expect(k8sClient.Update(ctx, b)).To(Succeed())
		}, timeout).Should(Succeed())
		Eventually(func(g Gomega) {
			// Background deletion leaves the old Job's pod to the garbage
			// collector; only the new Job's own pod may count.
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(job), job)).To(Succeed())
			g.Expect(job.UID).NotTo(Equal(oldUID))
		}, timeout).Should(Succeed())
		Expect(job.Annotations).To(HaveKeyWithValue(etcdv1alpha1.AnnotationVerify, "again"))
		endPod(job, verify.Result{Mismatch: true, Message: "HashKV differs", StartTime: start, EndTime: start.Add(time.Minute)}, 2)
		failJob(job)
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(b), b)).To(Succeed())
			g.Expect(b.Status.Verification.Request).To(Equal("again"))
			g.Expect(seriesValue(g, "quorum_cluster_backup_verification_success", ns, "main")).To(Equal(0.0))
		}, timeout).Should(Succeed())
		Expect(b.Status.Verification.Result).To(Equal(etcdv1alpha1.VerificationFailed))
		Expect(b.Status.Verification.Message).To(Equal("HashKV differs"))
		newUID := job.UID
		Consistently(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(job), job)).To(Succeed())
			g.Expect(job.UID).To(Equal(newUID))
		}, 2*time.Second).Should(Succeed(), "a request answered must not start another Job")
	})
})

// MatchFields2 compares a verification without its times.
func MatchFields2(want etcdv1alpha1.BackupVerification) OmegaMatcher {
	return WithTransform(func(v etcdv1alpha1.BackupVerification) etcdv1alpha1.BackupVerification {
		v.Time, v.Duration = nil, nil
		return v
	}, Equal(want))
}

// endPod stands in for the kubelet: a pod of the Job ends with a
// command's result (backup or verify) as its termination message and the
// exit code.
func endPod(job *batchv1.Job, res any, code int32) {
	GinkgoHelper()
	msg, err := json.Marshal(res)
	Expect(err).NotTo(HaveOccurred())
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: job.Name + "-", Namespace: job.Namespace, Labels: job.Spec.Template.Labels,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(job, batchv1.SchemeGroupVersion.WithKind("Job"))}},
		Spec: job.Spec.Template.Spec,
	}
	Expect(k8sClient.Create(ctx, pod)).To(Succeed())
	pod.Status.Phase = corev1.PodSucceeded
	if code != 0 {
		pod.Status.Phase = corev1.PodFailed
	}
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{
		Name: pod.Spec.Containers[0].Name, Image: pod.Spec.Containers[0].Image,
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Message: string(msg)}},
	}}
	Expect(k8sClient.Status().Update(ctx, pod)).To(Succeed())
}

// completeJob stands in for the Job controller: the Job completed.
func completeJob(job *batchv1.Job) {
	GinkgoHelper()
	Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(job), job)).To(Succeed())
	now := metav1.Now()
	job.Status.StartTime, job.Status.CompletionTime, job.Status.Succeeded = &now, &now, 1
	for _, t := range []batchv1.JobConditionType{batchv1.JobSuccessCriteriaMet, batchv1.JobComplete} {
		job.Status.Conditions = append(job.Status.Conditions, batchv1.JobCondition{
			Type: t, Status: corev1.ConditionTrue, LastTransitionTime: now, LastProbeTime: now})
	}
	Expect(k8sClient.Status().Update(ctx, job)).To(Succeed())
}

func TestAScheduleVerifiesOneBackupInEvery(t *testing.T) {
	backups := func(verified ...bool) []etcdv1alpha1.EtcdBackup { // newest first
		var out []etcdv1alpha1.EtcdBackup
		for _, v := range verified {
			out = append(out, etcdv1alpha1.EtcdBackup{Spec: etcdv1alpha1.EtcdBackupSpec{Verify: v}})
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		v     *etcdv1alpha1.ScheduleVerification
		older []etcdv1alpha1.EtcdBackup
		want  bool
	}{
		{"not asked", nil, backups(), false},
		{"every one", &etcdv1alpha1.ScheduleVerification{Every: 1}, backups(true, true), true},
		{"every 3, the first", &etcdv1alpha1.ScheduleVerification{Every: 3}, backups(), true},
		{"every 3, one verified just before", &etcdv1alpha1.ScheduleVerification{Every: 3}, backups(true), false},
		{"every 3, one verified two before", &etcdv1alpha1.ScheduleVerification{Every: 3}, backups(false, true), false},
		{"every 3, one verified three before", &etcdv1alpha1.ScheduleVerification{Every: 3}, backups(false, false, true), true},
	} {
		if got := verifyNext(tc.v, tc.older); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}
