package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"sort"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	clientv3 "go.etcd.io/etcd/client/v3"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
)

// The local cluster's S3 server; the Makefile passes its port and test
// credentials, and it listens on the node's address.
var (
	s3Port      = envOr("S3_PORT", "9000")
	s3AccessKey = envOr("S3_ACCESS_KEY", "quorum-local")
	s3SecretKey = envOr("S3_SECRET_KEY", "quorum-local-secret")
)

var _ = Describe("An EtcdBackup", Label("backup"), func() {
	var (
		ns       string
		cluster  *etcdv1alpha1.EtcdCluster
		s3       *minio.Client
		endpoint string
		bucket   string
	)

	BeforeEach(func() {
		ns = newNamespace()
		cluster = createCluster(ns, "source", 3)
		putKeys(cluster, "/backup/", 200)
		endpoint, s3 = localS3()
		bucket = "e2e-" + ns
		createBucketAndCredentials(s3, bucket, ns)
	})

	s3Destination := func(bucket, secret string) etcdv1alpha1.BackupDestination {
		return etcdv1alpha1.BackupDestination{S3: &etcdv1alpha1.S3Location{
			Endpoint: endpoint, Bucket: bucket, ForcePathStyle: true, Insecure: true,
			CredentialsSecret: etcdv1alpha1.SecretReference{Name: secret},
		}}
	}

	It("streams a snapshot to the object store whose SHA-256 and size status records", func() {
		b := createBackup(ns, "to-s3", cluster.Name, s3Destination(bucket, "s3-credentials"))
		waitBackupPhase(b, etcdv1alpha1.BackupSucceeded)
		Expect(b.Status.Location).To(Equal(fmt.Sprintf("s3://%s/%s/source/to-s3.db", bucket, ns)))
		Expect(b.Status.Revision).To(BeNumerically(">", 200))
		Expect(b.Status.EtcdVersion).To(Equal(etcdVersion))
		Expect(b.Status.CompletionTime).NotTo(BeNil())

		obj, err := s3.GetObject(ctx, bucket, fmt.Sprintf("%s/source/to-s3.db", ns), minio.GetObjectOptions{})
		Expect(err).NotTo(HaveOccurred())
		digest := sha256.New()
		n, err := io.Copy(digest, obj)
		Expect(err).NotTo(HaveOccurred())
		Expect(n).To(Equal(b.Status.SizeBytes))
		Expect(hex.EncodeToString(digest.Sum(nil))).To(Equal(b.Status.SHA256))

		By("restoring it into a new cluster, which holds every key with the same KV hash")
		restored := createClusterSpec(ns, "from-s3", etcdv1alpha1.EtcdClusterSpec{Size: 3, Version: etcdVersion,
			Bootstrap: &etcdv1alpha1.BootstrapSpec{FromBackup: &etcdv1alpha1.BackupSource{BackupName: "to-s3"}}})
		expectSameData(cluster, restored)

		By("deleting the restore source's credentials, then a member pod: it starts again without them")
		Expect(k8sClient.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "s3-credentials"}})).To(Succeed())
		uid := podUID(ns, "from-s3-1")
		Expect(k8sClient.Delete(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "from-s3-1"}})).To(Succeed())
		Eventually(func(g Gomega) {
			var pod corev1.Pod
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "from-s3-1"}, &pod)).To(Succeed())
			g.Expect(string(pod.UID)).NotTo(Equal(uid))
			ready := false
			for _, c := range pod.Status.Conditions {
				ready = ready || (c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue)
			}
			g.Expect(ready).To(BeTrue(), "from-s3-1 is not ready: init %+v", pod.Status.InitContainerStatuses)
		}, 2*time.Minute, time.Second).Should(Succeed())
		waitAvailable(restored, 3)
		expectSameData(cluster, restored)
	})

	It("writes a snapshot to a claim", func() {
		claim := &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: "backups", Namespace: ns},
			Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
			},
		}
		Expect(k8sClient.Create(ctx, claim)).To(Succeed())
		b := createBackup(ns, "to-pvc", cluster.Name, etcdv1alpha1.BackupDestination{
			PersistentVolumeClaim: &etcdv1alpha1.PVCLocation{ClaimName: "backups", Directory: "etcd"}})
		waitBackupPhase(b, etcdv1alpha1.BackupSucceeded)
		Expect(b.Status.Location).To(Equal(fmt.Sprintf("pvc://backups/etcd/%s/source/to-pvc.db", ns)))
		Expect(b.Status.SHA256).To(HaveLen(64))
		Expect(b.Status.SizeBytes).To(BeNumerically(">", 0))

		By("restoring it into a new cluster, which holds every key with the same KV hash")
		restored := createClusterSpec(ns, "from-pvc", etcdv1alpha1.EtcdClusterSpec{Size: 3, Version: etcdVersion,
			Bootstrap: &etcdv1alpha1.BootstrapSpec{FromBackup: &etcdv1alpha1.BackupSource{BackupName: "to-pvc"}}})
		expectSameData(cluster, restored)
	})

	It("starts no member from a snapshot whose SHA-256 does not match", func() {
		b := createBackup(ns, "good", cluster.Name, s3Destination(bucket, "s3-credentials"))
		waitBackupPhase(b, etcdv1alpha1.BackupSucceeded)
		location := &etcdv1alpha1.S3Snapshot{S3Location: *s3Destination(bucket, "s3-credentials").S3, Key: ns + "/source/good.db"}
		wrong := "0000000000000000000000000000000000000000000000000000000000000000"
		bad := &etcdv1alpha1.EtcdCluster{ObjectMeta: metav1.ObjectMeta{Name: "corrupt", Namespace: ns},
			Spec: etcdv1alpha1.EtcdClusterSpec{Size: 3, Version: etcdVersion, PodTemplate: oneNode(),
				Bootstrap: &etcdv1alpha1.BootstrapSpec{FromBackup: &etcdv1alpha1.BackupSource{S3: location, SHA256: wrong}}}}
		Expect(k8sClient.Create(ctx, bad)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(bad), bad)).To(Succeed())
			available := meta.FindStatusCondition(bad.Status.Conditions, etcdv1alpha1.ConditionAvailable)
			g.Expect(available).NotTo(BeNil())
			g.Expect(available.Reason).To(Equal(etcdv1alpha1.ReasonRestoreFailed))
			g.Expect(available.Message).To(ContainSubstring("the backup recorded " + wrong))
		}, 3*time.Minute, time.Second).Should(Succeed())
		Consistently(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(bad), bad)).To(Succeed())
			g.Expect(bad.Status.ClusterID).To(BeEmpty(), "a cluster formed from a corrupt snapshot")
			g.Expect(bad.Status.ReadyMembers).To(BeZero())
		}, 10*time.Second, time.Second).Should(Succeed())
	})

	It("takes backups on a schedule, prunes old ones with their objects, stops when suspended, and leaves them when it or the namespace is deleted", func() {
		schedule := &etcdv1alpha1.EtcdBackupSchedule{
			ObjectMeta: metav1.ObjectMeta{Name: "every-10s", Namespace: ns},
			Spec: etcdv1alpha1.EtcdBackupScheduleSpec{
				Schedule:       "@every 10s",
				BackupTemplate: etcdv1alpha1.EtcdBackupSpec{ClusterName: cluster.Name, Destination: s3Destination(bucket, "s3-credentials")},
				Retention:      etcdv1alpha1.BackupRetention{MaxCount: ptr.To[int32](2)},
			},
		}
		Expect(k8sClient.Create(ctx, schedule)).To(Succeed())

		By("waiting until two backups were pruned, and only the kept ones' objects remain")
		Eventually(func(g Gomega) {
			g.Expect(eventReasons(ns, "")).To(ContainElements("BackupPruned", "SnapshotDeleted"))
			g.Expect(len(filterReasons(eventReasons(ns, ""), "BackupPruned"))).To(BeNumerically(">=", 2))
			kept := scheduledBackups(ns, schedule.Name)
			g.Expect(len(kept)).To(BeNumerically("<=", 3), "two kept and at most one running")
			var keys []string
			for _, b := range kept {
				if b.Status.Phase == etcdv1alpha1.BackupSucceeded && b.DeletionTimestamp.IsZero() {
					keys = append(keys, fmt.Sprintf("%s/source/%s.db", ns, b.Name))
				}
			}
			g.Expect(objectKeys(s3, bucket)).To(ConsistOf(keys))
		}, 3*time.Minute, 2*time.Second).Should(Succeed())

		By("suspending it: no new backup is created")
		editSchedule(schedule, func(s *etcdv1alpha1.EtcdBackupScheduleSpec) { s.Suspend = true })
		Eventually(func() string {
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(schedule), schedule)).To(Succeed())
			return schedule.Status.Active
		}, time.Minute, time.Second).Should(BeEmpty())
		// Pruning goes on while suspended, so only new names count.
		before := backupNames(scheduledBackups(ns, schedule.Name))
		Consistently(func() []string { return added(before, backupNames(scheduledBackups(ns, schedule.Name))) }, 25*time.Second, time.Second).
			Should(BeEmpty(), "a suspended schedule created a backup")

		By("deleting the schedule: its backups and their objects stay")
		var kept []etcdv1alpha1.EtcdBackup
		Eventually(func(g Gomega) {
			kept = scheduledBackups(ns, schedule.Name)
			g.Expect(len(kept)).To(BeNumerically("<=", 2), "pruning has not caught up")
			for _, b := range kept {
				g.Expect(b.DeletionTimestamp.IsZero()).To(BeTrue(), "%s is being pruned", b.Name)
				g.Expect(b.Status.Phase).To(BeElementOf(etcdv1alpha1.BackupSucceeded, etcdv1alpha1.BackupFailed), "%s", b.Name)
			}
		}, time.Minute, time.Second).Should(Succeed())
		var keys []string
		for _, b := range kept {
			if b.Status.Phase == etcdv1alpha1.BackupSucceeded {
				keys = append(keys, fmt.Sprintf("%s/source/%s.db", ns, b.Name))
			}
		}
		Expect(keys).NotTo(BeEmpty())
		Expect(objectKeys(s3, bucket)).To(ConsistOf(keys))
		// Foreground: the garbage collector deletes everything the schedule
		// owns before the schedule itself, so an owned backup would go.
		Expect(k8sClient.Delete(ctx, schedule, client.PropagationPolicy(metav1.DeletePropagationForeground))).To(Succeed())
		Eventually(func() error { return k8sClient.Get(ctx, client.ObjectKeyFromObject(schedule), schedule) }, time.Minute, time.Second).
			Should(Satisfy(apierrors.IsNotFound))
		Consistently(func(g Gomega) {
			now := scheduledBackups(ns, schedule.Name)
			g.Expect(backupNames(now)).To(Equal(backupNames(kept)))
			for _, b := range now {
				g.Expect(b.DeletionTimestamp.IsZero()).To(BeTrue(), "%s is being deleted with its schedule", b.Name)
			}
			g.Expect(objectKeys(s3, bucket)).To(ConsistOf(keys))
		}, 20*time.Second, 2*time.Second).Should(Succeed())

		By("deleting the namespace: it goes, although no Job can delete the snapshots there, which stay")
		namespace := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}
		Expect(k8sClient.Delete(ctx, namespace)).To(Succeed())
		Eventually(func() error { return k8sClient.Get(ctx, client.ObjectKeyFromObject(namespace), namespace) }, 3*time.Minute, 2*time.Second).
			Should(Satisfy(apierrors.IsNotFound), "the namespace is stuck terminating")
		Expect(objectKeys(s3, bucket)).To(ConsistOf(keys))
	})

	It("fails with a clear message for a missing bucket, Secret or cluster, and uploads nothing", func() {
		noBucket := createBackup(ns, "no-bucket", cluster.Name, s3Destination("no-such-bucket", "s3-credentials"))
		noSecret := createBackup(ns, "no-secret", cluster.Name, s3Destination(bucket, "no-such-secret"))
		noCluster := createBackup(ns, "no-cluster", "no-such-cluster", s3Destination(bucket, "s3-credentials"))

		waitBackupPhase(noBucket, etcdv1alpha1.BackupFailed)
		Expect(noBucket.Status.Message).To(ContainSubstring("bucket does not exist"))
		waitBackupPhase(noSecret, etcdv1alpha1.BackupFailed)
		Expect(noSecret.Status.Message).To(ContainSubstring(`secret "no-such-secret" not found`))
		By("checking that a failed backup's Job is stopped and never started again")
		job := &batchv1.Job{}
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "no-secret-backup"}, job))
		}, time.Minute, time.Second).Should(BeTrue())
		Consistently(func(g Gomega) {
			g.Expect(apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "no-secret-backup"}, job))).To(BeTrue())
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(noSecret), noSecret)).To(Succeed())
			g.Expect(noSecret.Status.Phase).To(Equal(etcdv1alpha1.BackupFailed))
		}, 5*time.Second, time.Second).Should(Succeed())
		waitBackupPhase(noCluster, etcdv1alpha1.BackupFailed)
		Expect(noCluster.Status.Message).To(ContainSubstring(`EtcdCluster "no-such-cluster" does not exist`))

		Expect(objectKeys(s3, bucket)).To(BeEmpty())
	})
})

// expectSameData checks that restored holds exactly the keys and values of
// source, and that etcd's KV hash (over keys, values and revisions) agrees.
func expectSameData(source, restored *etcdv1alpha1.EtcdCluster) {
	GinkgoHelper()
	src, dst := etcdClient(source, values(memberEndpoints(source))...), etcdClient(restored, values(memberEndpoints(restored))...)
	getCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	want, err := src.Get(getCtx, "", clientv3.WithPrefix())
	Expect(err).NotTo(HaveOccurred())
	got, err := dst.Get(getCtx, "", clientv3.WithPrefix())
	Expect(err).NotTo(HaveOccurred())
	Expect(len(got.Kvs)).To(Equal(len(want.Kvs)))
	for i := range want.Kvs {
		Expect(string(got.Kvs[i].Key)).To(Equal(string(want.Kvs[i].Key)))
		Expect(string(got.Kvs[i].Value)).To(Equal(string(want.Kvs[i].Value)))
		Expect(got.Kvs[i].ModRevision).To(Equal(want.Kvs[i].ModRevision))
	}
	rev := want.Header.Revision
	sourceURLs := values(memberEndpoints(source))
	wantHash, err := src.HashKV(getCtx, sourceURLs[0], rev)
	Expect(err).NotTo(HaveOccurred())
	for name, url := range memberEndpoints(restored) {
		h, err := dst.HashKV(getCtx, url, rev)
		Expect(err).NotTo(HaveOccurred(), "hashkv of %s", name)
		Expect(h.Hash).To(Equal(wantHash.Hash), "the KV hash of %s differs from the source's", name)
	}
	GinkgoWriter.Printf("restored %d keys up to revision %d; KV hashes agree\n", len(want.Kvs), rev)
}

func objectKeys(s3 *minio.Client, bucket string) []string {
	GinkgoHelper()
	var keys []string
	for o := range s3.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true}) {
		Expect(o.Err).NotTo(HaveOccurred())
		keys = append(keys, o.Key)
	}
	return keys
}

func scheduledBackups(ns, schedule string) []etcdv1alpha1.EtcdBackup {
	GinkgoHelper()
	var list etcdv1alpha1.EtcdBackupList
	Expect(k8sClient.List(ctx, &list, client.InNamespace(ns), client.MatchingLabels{"etcd.quorum.dev/schedule": schedule})).To(Succeed())
	return list.Items
}

func backupNames(bs []etcdv1alpha1.EtcdBackup) []string {
	var out []string
	for _, b := range bs {
		out = append(out, b.Name)
	}
	sort.Strings(out)
	return out
}

// added lists the names in now that are not in before.
func added(before, now []string) []string {
	var out []string
	for _, n := range now {
		if !slices.Contains(before, n) {
			out = append(out, n)
		}
	}
	return out
}

func filterReasons(reasons []string, want string) []string {
	var out []string
	for _, r := range reasons {
		if r == want {
			out = append(out, r)
		}
	}
	return out
}

func editSchedule(s *etcdv1alpha1.EtcdBackupSchedule, edit func(*etcdv1alpha1.EtcdBackupScheduleSpec)) {
	GinkgoHelper()
	Eventually(func() error {
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(s), s); err != nil {
			return err
		}
		edit(&s.Spec)
		return k8sClient.Update(ctx, s)
	}, 30*time.Second, time.Second).Should(Succeed())
}

// createBucketAndCredentials makes the bucket and, in the namespace, the
// Secret s3-credentials that reaches it.
func createBucketAndCredentials(s3 *minio.Client, bucket, ns string) {
	GinkgoHelper()
	Expect(s3.MakeBucket(ctx, bucket, minio.MakeBucketOptions{})).To(Succeed())
	Expect(k8sClient.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "s3-credentials", Namespace: ns},
		StringData: map[string]string{"AWS_ACCESS_KEY_ID": s3AccessKey, "AWS_SECRET_ACCESS_KEY": s3SecretKey},
	})).To(Succeed())
}

// newS3Destination is a fresh bucket of the local S3 server for the
// namespace's backups, with its credentials Secret.
func newS3Destination(ns string) etcdv1alpha1.BackupDestination {
	GinkgoHelper()
	endpoint, s3 := localS3()
	bucket := "e2e-" + ns
	createBucketAndCredentials(s3, bucket, ns)
	return etcdv1alpha1.BackupDestination{S3: &etcdv1alpha1.S3Location{
		Endpoint: endpoint, Bucket: bucket, ForcePathStyle: true, Insecure: true,
		CredentialsSecret: etcdv1alpha1.SecretReference{Name: "s3-credentials"},
	}}
}

// localS3 is a client of the local cluster's S3 server, at the node's
// address, and that address as backups name it.
func localS3() (string, *minio.Client) {
	GinkgoHelper()
	var nodes corev1.NodeList
	Expect(k8sClient.List(ctx, &nodes)).To(Succeed())
	Expect(nodes.Items).NotTo(BeEmpty())
	var address string
	for _, a := range nodes.Items[0].Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			address = a.Address
		}
	}
	Expect(address).NotTo(BeEmpty(), "the node has no InternalIP")
	endpoint := address + ":" + s3Port
	cli, err := minio.New(endpoint, &minio.Options{Creds: credentials.NewStaticV4(s3AccessKey, s3SecretKey, ""), BucketLookup: minio.BucketLookupPath})
	Expect(err).NotTo(HaveOccurred())
	return endpoint, cli
}

func createBackup(ns, name, clusterName string, dest etcdv1alpha1.BackupDestination) *etcdv1alpha1.EtcdBackup {
	GinkgoHelper()
	b := &etcdv1alpha1.EtcdBackup{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       etcdv1alpha1.EtcdBackupSpec{ClusterName: clusterName, Destination: dest},
	}
	Expect(k8sClient.Create(ctx, b)).To(Succeed())
	return b
}

func waitBackupPhase(b *etcdv1alpha1.EtcdBackup, phase etcdv1alpha1.BackupPhase) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(b), b)).To(Succeed())
		g.Expect(b.Status.Phase).To(Equal(phase), "status: %+v", b.Status)
	}, 3*time.Minute, time.Second).Should(Succeed())
}

// putKeys writes n keys under prefix.
func putKeys(c *etcdv1alpha1.EtcdCluster, prefix string, n int) {
	GinkgoHelper()
	cli := etcdClient(c, values(memberEndpoints(c))...)
	for i := range n {
		putCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := cli.Put(putCtx, fmt.Sprintf("%s%04d", prefix, i), fmt.Sprintf("value-%d", i))
		cancel()
		Expect(err).NotTo(HaveOccurred())
	}
}
