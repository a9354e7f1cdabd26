package v1alpha1_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
)

var _ = Describe("Placement, extra flags and claim growth (#17)", func() {
	It("refuses an unknown memberSpread", func() {
		c := validCluster(newNamespace())
		c.Spec.PodTemplate = &etcdv1alpha1.PodTemplate{MemberSpread: "Always"}
		expectInvalid(k8sClient.Create(ctx, c), `supported values: "Required", "Preferred", "None"`)
	})

	It("accepts placement, pull secrets and etcd flags the operator does not own", func() {
		c := validCluster(newNamespace())
		c.Spec.PodTemplate = &etcdv1alpha1.PodTemplate{
			MemberSpread:     etcdv1alpha1.MemberSpreadPreferred,
			ImagePullSecrets: []corev1.LocalObjectReference{{Name: "registry"}},
			TopologySpreadConstraints: []corev1.TopologySpreadConstraint{{
				MaxSkew: 1, TopologyKey: "topology.kubernetes.io/zone", WhenUnsatisfiable: corev1.DoNotSchedule,
			}},
		}
		c.Spec.Options = &etcdv1alpha1.EtcdOptions{ExtraArgs: []etcdv1alpha1.EtcdFlag{
			"--experimental-warning-apply-duration=200ms", "--snapshot-count=50000", "--log-level=warn", "--enable-pprof=true",
		}}
		Expect(k8sClient.Create(ctx, c)).To(Succeed())
	})

	DescribeTable("refuses extraArgs the operator owns, naming them",
		func(flag string) {
			c := validCluster(newNamespace())
			c.Spec.Options = &etcdv1alpha1.EtcdOptions{ExtraArgs: []etcdv1alpha1.EtcdFlag{"--log-level=warn", etcdv1alpha1.EtcdFlag("--" + flag + "=x")}}
			expectInvalid(k8sClient.Create(ctx, c), "spec.options.extraArgs[1]: Invalid value: \"--"+flag+"=x\": extraArgs may not set --"+flag+": ")
		},
		Entry("the member name", "name"),
		Entry("the data directory", "data-dir"),
		Entry("a WAL directory off the member's volume", "wal-dir"),
		Entry("the initial cluster", "initial-cluster"),
		Entry("the initial cluster state", "initial-cluster-state"),
		Entry("a listen URL", "listen-client-urls"),
		Entry("the advertised client URL", "advertise-client-urls"),
		Entry("a TLS file", "cert-file"),
		Entry("a peer TLS setting", "peer-client-cert-auth"),
		Entry("a CRL file", "client-crl-file"),
		Entry("the quota, which has a field", "quota-backend-bytes"),
		Entry("compaction, which has a field", "auto-compaction-retention"),
		Entry("the election timeout, which has a field", "election-timeout"),
		Entry("force-new-cluster, which would drop every other member", "force-new-cluster"),
		Entry("discovery", "discovery-srv"),
		Entry("unsafe-no-fsync, which loses acknowledged writes at a power cut", "unsafe-no-fsync"),
		Entry("strict-reconfig-check, etcd's refusal of a membership change that loses quorum", "strict-reconfig-check"),
		Entry("max-wals, whose 0 keeps every WAL file", "max-wals"),
		Entry("max-snapshots, whose 0 keeps every snapshot file", "max-snapshots"),
	)

	DescribeTable("refuses an extraArgs entry that is not --name=value",
		func(arg string) {
			c := validCluster(newNamespace())
			c.Spec.Options = &etcdv1alpha1.EtcdOptions{ExtraArgs: []etcdv1alpha1.EtcdFlag{etcdv1alpha1.EtcdFlag(arg)}}
			expectInvalid(k8sClient.Create(ctx, c), "an extraArgs entry is one etcd flag written --name=value")
		},
		Entry("without a value", "--enable-pprof"),
		Entry("with one dash", "-log-level=warn"),
		Entry("without the dashes", "log-level=warn"),
	)

	Context("a cluster with claims", func() {
		var c *etcdv1alpha1.EtcdCluster
		BeforeEach(func() {
			c = validCluster(newNamespace())
			c.Spec.Storage = &etcdv1alpha1.StorageSpec{StorageClassName: ptr.To("standard"), Size: ptr.To(resource.MustParse("1Gi"))}
			Expect(k8sClient.Create(ctx, c)).To(Succeed())
		})

		It("lets storage.size grow", func() {
			c.Spec.Storage.Size = ptr.To(resource.MustParse("1536Mi"))
			Expect(k8sClient.Update(ctx, c)).To(Succeed())
		})

		It("refuses storage.size shrinking, also in other units", func() {
			c.Spec.Storage.Size = ptr.To(resource.MustParse("1000Mi"))
			expectInvalid(k8sClient.Update(ctx, c), "storage.size cannot shrink")
		})

		It("refuses removing a size below the default it then means", func() {
			c.Spec.Storage.Size = ptr.To(resource.MustParse("4Gi"))
			Expect(k8sClient.Update(ctx, c)).To(Succeed())
			c.Spec.Storage.Size = nil
			expectInvalid(k8sClient.Update(ctx, c), "storage.size cannot shrink")
		})

		It("refuses another storage class", func() {
			c.Spec.Storage.StorageClassName = nil
			expectInvalid(k8sClient.Update(ctx, c), "storage.storageClassName cannot be changed after creation")
		})
	})

	It("refuses turning claims into emptyDir", func() {
		c := validCluster(newNamespace())
		c.Spec.Storage = &etcdv1alpha1.StorageSpec{}
		Expect(k8sClient.Create(ctx, c)).To(Succeed())
		c.Spec.Storage = &etcdv1alpha1.StorageSpec{EmptyDir: &corev1.EmptyDirVolumeSource{}}
		expectInvalid(k8sClient.Update(ctx, c), "storage.emptyDir cannot be added, removed or changed after creation")
	})

	It("takes backup Job settings on a backup and a schedule's template", func() {
		ns := newNamespace()
		job := &etcdv1alpha1.BackupJobTemplate{
			ImagePullSecrets:  []corev1.LocalObjectReference{{Name: "registry"}},
			NodeSelector:      map[string]string{"disk": "ssd"},
			Tolerations:       []corev1.Toleration{{Key: "backup", Operator: corev1.TolerationOpExists}},
			PriorityClassName: "low",
			Resources:         corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")}},
		}
		b := &etcdv1alpha1.EtcdBackup{}
		b.GenerateName, b.Namespace = "b-", ns
		b.Spec = etcdv1alpha1.EtcdBackupSpec{ClusterName: "etcd", Job: job, Destination: etcdv1alpha1.BackupDestination{
			PersistentVolumeClaim: &etcdv1alpha1.PVCLocation{ClaimName: "backups"}}}
		Expect(k8sClient.Create(ctx, b)).To(Succeed())
		Expect(b.Spec.Job.PriorityClassName).To(Equal("low"))
		s := &etcdv1alpha1.EtcdBackupSchedule{}
		s.GenerateName, s.Namespace = "s-", ns
		s.Spec = etcdv1alpha1.EtcdBackupScheduleSpec{Schedule: "@hourly", BackupTemplate: b.Spec}
		Expect(k8sClient.Create(ctx, s)).To(Succeed())
	})
})
