package e2e

import (
	"bytes"
	"fmt"
	"io"
	"time"

	"github.com/minio/minio-go/v7"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
)

var _ = Describe("A verified backup", Label("verify", "backup"), func() {
	It("is restored into a throwaway etcd and matches the member; corrupted in the bucket, verifying it again says so", func() {
		ns := newNamespace()
		cluster := createCluster(ns, "source", 3)
		putKeys(cluster, "/verify/", 500)
		dest := newS3Destination(ns)
		_, s3 := localS3()
		bucket := dest.S3.Bucket

		b := &etcdv1alpha1.EtcdBackup{ObjectMeta: metav1.ObjectMeta{Name: "checked", Namespace: ns},
			Spec: etcdv1alpha1.EtcdBackupSpec{ClusterName: cluster.Name, Destination: dest, Verify: true}}
		created := time.Now()
		Expect(k8sClient.Create(ctx, b)).To(Succeed())
		waitBackupPhase(b, etcdv1alpha1.BackupSucceeded)
		succeeded := time.Now()
		Expect(b.Status.KVHash).NotTo(BeNil(), "the backup recorded no HashKV")
		Expect(b.Status.KVHash.Revision).To(Equal(b.Status.Revision))
		Expect(b.Status.KVHash.Keys).To(BeNumerically(">=", 500))

		v := waitVerified(b, "")
		Expect(v.Result).To(Equal(etcdv1alpha1.VerificationPassed), "message: %s", v.Message)
		Expect(v.Hash).To(Equal(b.Status.KVHash.Hash))
		Expect(v.Keys).To(Equal(b.Status.KVHash.Keys))
		Expect(meta.IsStatusConditionTrue(b.Status.Conditions, etcdv1alpha1.ConditionVerified)).To(BeTrue())
		AddReportEntry("verification", fmt.Sprintf("%d bytes: backup created -> Succeeded %s, Succeeded -> Verified %s, the verify command %s",
			b.Status.SizeBytes, succeeded.Sub(created).Round(100*time.Millisecond), time.Since(succeeded).Round(100*time.Millisecond), v.Duration.Duration))
		GinkgoWriter.Printf("verification of %d bytes: created -> Succeeded %s, Succeeded -> Verified %s, the command itself %s\n",
			b.Status.SizeBytes, succeeded.Sub(created), time.Since(succeeded), v.Duration.Duration)

		By("flipping one byte of the object in the bucket")
		key := fmt.Sprintf("%s/%s/%s.db", ns, cluster.Name, b.Name)
		obj, err := s3.GetObject(ctx, bucket, key, minio.GetObjectOptions{})
		Expect(err).NotTo(HaveOccurred())
		data, err := io.ReadAll(obj)
		Expect(err).NotTo(HaveOccurred())
		data[len(data)/2] ^= 0x01
		_, err = s3.PutObject(ctx, bucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{})
		Expect(err).NotTo(HaveOccurred())

		By("asking for a verification again: it fails on the SHA-256, with the condition and a warning event")
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(b), b)).To(Succeed())
			b.Annotations = map[string]string{etcdv1alpha1.AnnotationVerify: "after-corruption"}
			g.Expect(k8sClient.Update(ctx, b)).To(Succeed())
		}, 30*time.Second, time.Second).Should(Succeed())
		v = waitVerified(b, "after-corruption")
		Expect(v.Result).To(Equal(etcdv1alpha1.VerificationFailed))
		Expect(v.Message).To(ContainSubstring("SHA-256"))
		cond := meta.FindStatusCondition(b.Status.Conditions, etcdv1alpha1.ConditionVerified)
		Expect(cond).NotTo(BeNil())
		Expect(cond.Status).To(BeEquivalentTo("False"))
		Expect(b.Status.Phase).To(Equal(etcdv1alpha1.BackupSucceeded))
		Eventually(func() []string { return eventReasons(ns, "Warning") }, time.Minute, time.Second).Should(ContainElement("VerificationFailed"))
	})
})

// waitVerified waits for the verification that answered request (empty:
// the one spec.verify asked for).
func waitVerified(b *etcdv1alpha1.EtcdBackup, request string) *etcdv1alpha1.BackupVerification {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(b), b)).To(Succeed())
		g.Expect(b.Status.Verification).NotTo(BeNil())
		g.Expect(b.Status.Verification.Request).To(Equal(request))
	}, 5*time.Minute, time.Second).Should(Succeed())
	return b.Status.Verification
}
