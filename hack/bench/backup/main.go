// Command backup measures backups and restores on the local cluster (the
// operator deployed there, its S3 server on the node address): it fills a
// 3-member EtcdCluster to at least -db-mib MiB, then for each of -runs
// runs times
//
//   - an EtcdBackup to S3, from creation to Succeeded (and the Job's own
//     snapshot-and-upload time from status), against
//   - `etcdctl snapshot save` from the same member to a local file,
//
// and prints the ratio; then, -runs times, a new cluster restored from the
// backup, from creation to Available. Medians close the output.
//
//	go run ./hack/bench/backup -etcdctl bin/etcd-v3.6.16/etcdctl
package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
	"github.com/quorum-operator/quorum/hack/bench/benchkube"
	"github.com/quorum-operator/quorum/internal/resources"
)

type bench struct {
	kube     client.Client
	ns       string
	version  string
	etcdctl  string
	s3       etcdv1alpha1.S3Location
	poll     time.Duration
	deadline time.Duration
}

func main() {
	etcdctl := flag.String("etcdctl", "etcdctl", "etcdctl binary")
	version := flag.String("version", "3.6.16", "etcd version")
	dbMiB := flag.Int("db-mib", 100, "fill the database to at least this many MiB")
	runs := flag.Int("runs", 3, "runs of each measurement")
	flag.Parse()
	if err := run(*etcdctl, *version, *dbMiB, *runs); err != nil {
		fmt.Fprintln(os.Stderr, "backup bench:", err)
		os.Exit(1)
	}
}

func run(etcdctl, version string, dbMiB, runs int) error {
	ctx := context.Background()
	b, err := newBench(ctx, etcdctl, version)
	if err != nil {
		return err
	}
	defer b.kube.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: b.ns}}) //nolint:errcheck // best effort

	source := &etcdv1alpha1.EtcdCluster{ObjectMeta: metav1.ObjectMeta{Name: "source", Namespace: b.ns},
		// memberSpread None: the local cluster has one node.
		Spec: etcdv1alpha1.EtcdClusterSpec{Size: 3, Version: version, DeletionPolicy: etcdv1alpha1.DeletionPolicyDelete,
			PodTemplate: &etcdv1alpha1.PodTemplate{MemberSpread: etcdv1alpha1.MemberSpreadNone}}}
	if err := b.createAvailable(ctx, source); err != nil {
		return err
	}
	member, endpoint, err := b.follower(ctx, source)
	if err != nil {
		return err
	}
	size, err := fill(ctx, endpoint, int64(dbMiB)<<20)
	if err != nil {
		return err
	}
	fmt.Printf("source: 3 members, etcd %s, DB %.1f MiB on %s\n", version, float64(size)/(1<<20), member)

	var ratios, restores []float64
	var lastBackup string
	for i := range runs {
		op, job, name, err := b.operatorBackup(ctx, source, i)
		if err != nil {
			return err
		}
		direct, err := b.etcdctlSnapshot(endpoint)
		if err != nil {
			return err
		}
		ratios = append(ratios, op.Seconds()/direct.Seconds())
		lastBackup = name
		fmt.Printf("run %d: EtcdBackup created->Succeeded %.2fs (the Job's snapshot+upload %.2fs), etcdctl snapshot save %.2fs, ratio %.2f\n",
			i+1, op.Seconds(), job.Seconds(), direct.Seconds(), op.Seconds()/direct.Seconds())
	}
	for i := range runs {
		took, err := b.restore(ctx, lastBackup, i)
		if err != nil {
			return err
		}
		restores = append(restores, took.Seconds())
		fmt.Printf("run %d: restore of %s into a new 3-member cluster, created->Available %.1fs\n", i+1, lastBackup, took.Seconds())
	}
	fmt.Printf("median of %d: backup/etcdctl ratio %.2f, restore to Available %.1fs\n", runs, median(ratios), median(restores))
	return nil
}

func newBench(ctx context.Context, etcdctl, version string) (*bench, error) {
	kube, err := benchkube.Client()
	if err != nil {
		return nil, err
	}
	b := &bench{kube: kube, version: version, etcdctl: etcdctl, poll: 100 * time.Millisecond, deadline: 10 * time.Minute}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "quorum-bench-backup-"}}
	if err := kube.Create(ctx, ns); err != nil {
		return nil, err
	}
	b.ns = ns.Name
	return b, b.setUpS3(ctx)
}

// setUpS3 makes a bucket on the local cluster's S3 server and a Secret
// with its test credentials (S3_* as the Makefile sets them).
func (b *bench) setUpS3(ctx context.Context) error {
	var nodes corev1.NodeList
	if err := b.kube.List(ctx, &nodes); err != nil || len(nodes.Items) == 0 {
		return fmt.Errorf("no node to find the S3 server on: %w", err)
	}
	var address string
	for _, a := range nodes.Items[0].Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			address = a.Address
		}
	}
	access, secret := os.Getenv("S3_ACCESS_KEY"), os.Getenv("S3_SECRET_KEY")
	b.s3 = etcdv1alpha1.S3Location{Endpoint: address + ":" + os.Getenv("S3_PORT"), Bucket: b.ns, ForcePathStyle: true, Insecure: true,
		CredentialsSecret: etcdv1alpha1.SecretReference{Name: "s3"}}
	s3, err := minio.New(b.s3.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(access, secret, ""), BucketLookup: minio.BucketLookupPath})
	if err != nil {
		return err
	}
	if err := s3.MakeBucket(ctx, b.s3.Bucket, minio.MakeBucketOptions{}); err != nil {
		return fmt.Errorf("make bucket on %s: %w", b.s3.Endpoint, err)
	}
	return b.kube.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s3", Namespace: b.ns},
		StringData: map[string]string{"AWS_ACCESS_KEY_ID": access, "AWS_SECRET_ACCESS_KEY": secret}})
}

// createAvailable creates c and waits until every member is ready.
func (b *bench) createAvailable(ctx context.Context, c *etcdv1alpha1.EtcdCluster) error {
	if err := b.kube.Create(ctx, c); err != nil {
		return err
	}
	return b.waitFor(ctx, c, func() bool {
		return meta.IsStatusConditionTrue(c.Status.Conditions, etcdv1alpha1.ConditionAvailable) && c.Status.ReadyMembers == c.Spec.Size
	})
}

func (b *bench) waitFor(ctx context.Context, obj client.Object, done func() bool) error {
	for deadline := time.Now().Add(b.deadline); time.Now().Before(deadline); time.Sleep(b.poll) {
		if err := b.kube.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		if done() {
			return nil
		}
	}
	return fmt.Errorf("timed out waiting for %s", obj.GetName())
}

// follower is a healthy non-leader member and its client URL by pod IP:
// the member the operator takes its snapshot from.
func (b *bench) follower(ctx context.Context, c *etcdv1alpha1.EtcdCluster) (string, string, error) {
	for _, m := range c.Status.Members {
		if m.Healthy && !m.Leader && !m.Learner {
			var pod corev1.Pod
			if err := b.kube.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: m.Name}, &pod); err != nil {
				return "", "", err
			}
			return m.Name, fmt.Sprintf("http://%s:%d", pod.Status.PodIP, resources.ClientPort), nil
		}
	}
	return "", "", fmt.Errorf("no healthy follower in %s", c.Name)
}

// fill writes 100 KiB random values until the member's DB is target bytes.
func fill(ctx context.Context, endpoint string, target int64) (int64, error) {
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return 0, err
	}
	defer cli.Close()
	value := make([]byte, 100<<10)
	for i := 0; ; i++ {
		if i%50 == 0 {
			st, err := cli.Status(ctx, endpoint)
			if err != nil {
				return 0, err
			}
			if st.DbSize >= target {
				return st.DbSize, nil
			}
		}
		_, _ = rand.Read(value)
		if _, err := cli.Put(ctx, fmt.Sprintf("/fill/%06d", i), string(value)); err != nil {
			return 0, err
		}
	}
}

// operatorBackup times one EtcdBackup to S3.
func (b *bench) operatorBackup(ctx context.Context, c *etcdv1alpha1.EtcdCluster, run int) (total, job time.Duration, name string, err error) {
	bk := &etcdv1alpha1.EtcdBackup{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("b%d", run), Namespace: b.ns},
		Spec: etcdv1alpha1.EtcdBackupSpec{ClusterName: c.Name, Destination: etcdv1alpha1.BackupDestination{S3: &b.s3}}}
	start := time.Now()
	if err := b.kube.Create(ctx, bk); err != nil {
		return 0, 0, "", err
	}
	if err := b.waitFor(ctx, bk, func() bool {
		return bk.Status.Phase == etcdv1alpha1.BackupSucceeded || bk.Status.Phase == etcdv1alpha1.BackupFailed
	}); err != nil {
		return 0, 0, "", err
	}
	total = time.Since(start)
	if bk.Status.Phase != etcdv1alpha1.BackupSucceeded {
		return 0, 0, "", fmt.Errorf("backup %s failed: %s", bk.Name, bk.Status.Message)
	}
	return total, bk.Status.CompletionTime.Sub(bk.Status.StartTime.Time), bk.Name, nil
}

// etcdctlSnapshot times `etcdctl snapshot save` from the member here.
func (b *bench) etcdctlSnapshot(endpoint string) (time.Duration, error) {
	dir, err := os.MkdirTemp("", "quorum-bench-snapshot-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	start := time.Now()
	out, err := exec.Command(b.etcdctl, "--endpoints="+endpoint, "snapshot", "save", filepath.Join(dir, "snap.db")).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("etcdctl snapshot save: %w: %s", err, out)
	}
	return time.Since(start), nil
}

// restore times a new cluster from the backup to Available, then removes it.
func (b *bench) restore(ctx context.Context, backup string, run int) (time.Duration, error) {
	c := &etcdv1alpha1.EtcdCluster{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("restored-%d", run), Namespace: b.ns},
		Spec: etcdv1alpha1.EtcdClusterSpec{Size: 3, Version: b.version, DeletionPolicy: etcdv1alpha1.DeletionPolicyDelete,
			PodTemplate: &etcdv1alpha1.PodTemplate{MemberSpread: etcdv1alpha1.MemberSpreadNone}, // one node
			Bootstrap:   &etcdv1alpha1.BootstrapSpec{FromBackup: &etcdv1alpha1.BackupSource{BackupName: backup}}}}
	start := time.Now()
	if err := b.createAvailable(ctx, c); err != nil {
		return 0, err
	}
	took := time.Since(start)
	if err := b.kube.Delete(ctx, c); err != nil {
		return 0, err
	}
	// Let the next run start on a quiet node: wait for the pods to go.
	return took, b.waitGone(ctx, c)
}

func (b *bench) waitGone(ctx context.Context, c *etcdv1alpha1.EtcdCluster) error {
	for deadline := time.Now().Add(b.deadline); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		var pods corev1.PodList
		if err := b.kube.List(ctx, &pods, client.InNamespace(c.Namespace), client.MatchingLabels(resources.SelectorLabels(c))); err != nil {
			return err
		}
		if len(pods.Items) == 0 {
			return nil
		}
	}
	return fmt.Errorf("pods of %s did not go", c.Name)
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[(len(s)-1)/2]
}
