package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
)

// Faults of the node and of the control plane, and user actions that meet
// faults (issue #15, items 10, 12, 13).
var _ = Describe("Draining the node of every member through the eviction API", Label("faults"), Serial, func() {
	It("evicts one member at a time: the PodDisruptionBudget refuses the second until the first is back", func() {
		ns := newNamespace()
		cluster := createCluster(ns, "drain", 3)
		idsBefore := memberIDs(cluster)
		load := recordLoad(cluster)

		By("cordoning the node and evicting every member, as kubectl drain does")
		setUnschedulable(true)
		DeferCleanup(setUnschedulable, false)
		members := []string{"drain-0", "drain-1", "drain-2"}
		evicted := map[string]bool{}
		deadline := time.Now().Add(45 * time.Second)
		refusals := 0
		for time.Now().Before(deadline) {
			for _, name := range members {
				if evicted[name] {
					continue
				}
				err := evict(ns, name)
				switch {
				case err == nil:
					evicted[name] = true
				case apierrors.IsTooManyRequests(err):
					refusals++
				default:
					Expect(err).NotTo(HaveOccurred(), "evicting %s", name)
				}
			}
			Expect(len(evicted)).To(BeNumerically("<=", 1), "two members were evicted while the first was not back: %v", evicted)
			time.Sleep(time.Second) // drain's own retry interval is 5 s
		}
		Expect(evicted).To(HaveLen(1), "the first eviction was refused")
		Expect(refusals).To(BeNumerically(">", 0))
		GinkgoWriter.Printf("evictions refused by the PDB while one member was out: %d\n", refusals)
		Expect(meta.IsStatusConditionTrue(getCluster(cluster).Status.Conditions, etcdv1alpha1.ConditionAvailable)).To(BeTrue())

		By("uncordoning: the drain goes on one member at a time, each back before the next goes")
		setUnschedulable(false)
		for len(evicted) < len(members) {
			Eventually(func(g Gomega) {
				for _, name := range members {
					if evicted[name] {
						continue
					}
					err := evict(ns, name)
					if err == nil {
						evicted[name] = true
						return
					}
					g.Expect(apierrors.IsTooManyRequests(err)).To(BeTrue(), "evicting %s: %v", name, err)
				}
				g.Expect(false).To(BeTrue(), "every eviction refused")
			}, 3*time.Minute, 2*time.Second).Should(Succeed())
		}
		waitAvailable(cluster, 3)
		Expect(memberIDs(cluster)).To(Equal(idsBefore), "an evicted member came back under a new ID")
		load.verify()
	})
})

var _ = Describe("A backup that meets a fault", Label("faults"), func() {
	It("succeeds with a whole snapshot or fails leaving no object, when the leader is killed or a member restarts during it", func() {
		ns := newNamespace()
		cluster := createCluster(ns, "bkf", 3)
		By("writing about 20 MiB so that a snapshot takes a while")
		putValues(cluster, "/big/", 200, 100<<10)
		dest := newS3Destination(ns)
		_, s3 := localS3()

		faults := map[string]func(){
			"leader-killed": func() { killEtcd(ns, memberWithRole(cluster, true)) },
			"member-restarted": func() {
				Expect(k8sClient.Delete(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bkf-1"}})).To(Succeed())
			},
		}
		for _, name := range []string{"leader-killed", "member-restarted"} {
			By("taking a backup while: " + name)
			b := createBackup(ns, name, cluster.Name, dest)
			waitBackupPodRunning(ns)
			faults[name]()
			Eventually(func(g Gomega) {
				g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(b), b)).To(Succeed())
				g.Expect(b.Status.Phase).To(BeElementOf(etcdv1alpha1.BackupSucceeded, etcdv1alpha1.BackupFailed))
			}, 4*time.Minute, time.Second).Should(Succeed())
			key := fmt.Sprintf("%s/%s/%s.db", ns, cluster.Name, name)
			GinkgoWriter.Printf("backup %s: %s %s\n", name, b.Status.Phase, backupMessage(b))
			if b.Status.Phase == etcdv1alpha1.BackupFailed {
				Expect(objectKeys(s3, dest.S3.Bucket)).NotTo(ContainElement(key), "a failed backup left an object")
			} else {
				expectWholeObject(s3, dest.S3.Bucket, key, b)
			}
			waitAvailable(cluster, 3)
		}
	})
})

var _ = Describe("The control plane and the node restarting", Label("faults"), Serial, func() {
	It("leave a scale-out to converge after a 30 s API server outage, and members come back with their data after a runtime and kubelet restart", func() {
		restart := os.Getenv("E2E_CLUSTER_RESTART")
		Expect(restart).NotTo(BeEmpty(), "E2E_CLUSTER_RESTART names hack/localcluster/restart.sh (make test-e2e sets it)")
		ns := newNamespace()
		cluster := createCluster(ns, "node", 3)
		idsBefore := memberIDs(cluster)
		load := recordLoad(cluster)

		By("scaling 3 to 5, and stopping the API server for 30 s once the first learner is in")
		resize(cluster, 5)
		Eventually(func() int { return len(memberIDs(cluster)) }, 2*time.Minute, time.Second).Should(BeNumerically(">", 3))
		runRestart(restart, "--down", "30", "kube-apiserver")
		waitMembers(cluster, 5)
		ids := memberIDs(cluster)
		for name, id := range idsBefore {
			Expect(ids).To(HaveKeyWithValue(name, id))
		}

		By("killing every member's etcd and restarting containerd and the kubelet, as a node reboot would")
		idsBefore = ids
		for name := range memberEndpoints(cluster) {
			killEtcd(ns, name)
		}
		runRestart(restart, "containerd", "kubelet", "kube-proxy")
		waitMembers(cluster, 5)
		Expect(memberIDs(cluster)).To(Equal(idsBefore), "a member came back under a new ID")
		load.verify()
	})
})

func runRestart(script string, args ...string) {
	GinkgoHelper()
	start := time.Now()
	out, err := exec.Command(script, args...).CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "%s %s: %s", script, strings.Join(args, " "), out)
	GinkgoWriter.Printf("restart.sh %s: %s\n", strings.Join(args, " "), time.Since(start).Round(time.Second))
}

func evict(ns, pod string) error {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: pod}}
	return k8sClient.SubResource("eviction").Create(ctx, p, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: pod}})
}

func getCluster(c *etcdv1alpha1.EtcdCluster) *etcdv1alpha1.EtcdCluster {
	GinkgoHelper()
	Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(c), c)).To(Succeed())
	return c
}

// putValues writes n keys of size bytes each under prefix.
func putValues(c *etcdv1alpha1.EtcdCluster, prefix string, n, size int) {
	GinkgoHelper()
	cli := etcdClient(c, values(memberEndpoints(c))...)
	value := strings.Repeat("x", size)
	for i := range n {
		_, err := cli.Put(ctx, fmt.Sprintf("%s%04d", prefix, i), value)
		Expect(err).NotTo(HaveOccurred())
	}
}

// waitBackupPodRunning waits until a backup Job's pod runs in ns.
func waitBackupPodRunning(ns string) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		var pods corev1.PodList
		g.Expect(k8sClient.List(ctx, &pods, client.InNamespace(ns), client.HasLabels{"job-name"})).To(Succeed())
		running := false
		for _, p := range pods.Items {
			running = running || p.Status.Phase == corev1.PodRunning
		}
		g.Expect(running).To(BeTrue(), "no backup pod runs yet")
	}, 2*time.Minute, 200*time.Millisecond).Should(Succeed())
}

func backupMessage(b *etcdv1alpha1.EtcdBackup) string {
	for _, c := range b.Status.Conditions {
		if c.Message != "" {
			return c.Type + ": " + c.Message
		}
	}
	return ""
}

// expectWholeObject checks that the object is the snapshot status describes.
func expectWholeObject(s3 *minio.Client, bucket, key string, b *etcdv1alpha1.EtcdBackup) {
	GinkgoHelper()
	obj, err := s3.GetObject(ctx, bucket, key, minio.GetObjectOptions{})
	Expect(err).NotTo(HaveOccurred())
	defer obj.Close()
	digest := sha256.New()
	n, err := io.Copy(digest, obj)
	Expect(err).NotTo(HaveOccurred())
	Expect(n).To(Equal(b.Status.SizeBytes))
	Expect(hex.EncodeToString(digest.Sum(nil))).To(Equal(b.Status.SHA256))
}
