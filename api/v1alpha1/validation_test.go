package v1alpha1_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
)

// newNamespace gives each spec a namespace of its own, removed after it.
func newNamespace() string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "validation-"}}
	Expect(k8sClient.Create(ctx, ns)).To(Succeed())
	DeferCleanup(func() { Expect(k8sClient.Delete(ctx, ns)).To(Succeed()) })
	return ns.Name
}

func validCluster(namespace string) *etcdv1alpha1.EtcdCluster {
	return &etcdv1alpha1.EtcdCluster{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "etcd-", Namespace: namespace},
		Spec:       etcdv1alpha1.EtcdClusterSpec{Size: 3, Version: "3.6.16"},
	}
}

// expectInvalid checks that the API server refused the request as invalid
// and that its message says why in words a user would understand.
func expectInvalid(err error, message string) {
	GinkgoHelper()
	Expect(err).To(HaveOccurred(), "the API server accepted a spec it must refuse")
	Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want an Invalid error, got: %v", err)
	Expect(err.Error()).To(ContainSubstring(message))
}

var _ = Describe("EtcdCluster CRD", func() {
	It("is installed with its short name, category and subresources", func() {
		var crd apiextensionsv1.CustomResourceDefinition
		Expect(k8sClient.Get(ctx, client.ObjectKey{Name: "etcdclusters.etcd.quorum.dev"}, &crd)).To(Succeed())
		Expect(crd.Spec.Names.ShortNames).To(ConsistOf("etcd"))
		Expect(crd.Spec.Names.Categories).To(ConsistOf("quorum"))
		Expect(crd.Spec.Versions).To(HaveLen(1))
		version := crd.Spec.Versions[0]
		Expect(version.Subresources.Status).NotTo(BeNil())
		Expect(version.Subresources.Scale).NotTo(BeNil())
		Expect(version.Subresources.Scale.SpecReplicasPath).To(Equal(".spec.size"))
	})

	It("accepts a minimal valid cluster", func() {
		cluster := validCluster(newNamespace())
		Expect(k8sClient.Create(ctx, cluster)).To(Succeed())
		Expect(cluster.Spec.Size).To(BeEquivalentTo(3))
	})

	DescribeTable("refuses a bad spec at creation with a clear message",
		func(mutate func(*etcdv1alpha1.EtcdCluster), message string) {
			cluster := validCluster(newNamespace())
			mutate(cluster)
			expectInvalid(k8sClient.Create(ctx, cluster), message)
		},
		Entry("size 0", func(c *etcdv1alpha1.EtcdCluster) { c.Spec.Size = 0 },
			"spec.size: Invalid value: 0: spec.size in body should be greater than or equal to 1"),
		Entry("size 10", func(c *etcdv1alpha1.EtcdCluster) { c.Spec.Size = 10 },
			"spec.size: Invalid value: 10: spec.size in body should be less than or equal to 9"),
		Entry("negative size", func(c *etcdv1alpha1.EtcdCluster) { c.Spec.Size = -3 },
			"should be greater than or equal to 1"),
		Entry("a version that is a word", func(c *etcdv1alpha1.EtcdCluster) { c.Spec.Version = "latest" },
			"spec.version: Invalid value: \"latest\": version must be a semantic version MAJOR.MINOR.PATCH such as 3.6.16"),
		Entry("a version with a leading v", func(c *etcdv1alpha1.EtcdCluster) { c.Spec.Version = "v3.6.16" },
			"version must be a semantic version"),
		Entry("a version without a patch number", func(c *etcdv1alpha1.EtcdCluster) { c.Spec.Version = "3.6" },
			"version must be a semantic version"),
		Entry("a version with a leading zero", func(c *etcdv1alpha1.EtcdCluster) { c.Spec.Version = "3.06.1" },
			"version must be a semantic version"),
		Entry("an empty version", func(c *etcdv1alpha1.EtcdCluster) { c.Spec.Version = "" },
			"version must be a semantic version"),
		Entry("a major version other than 3", func(c *etcdv1alpha1.EtcdCluster) { c.Spec.Version = "4.0.0" },
			"only etcd 3.x versions are supported"),
		Entry("emptyDir together with a claim size", func(c *etcdv1alpha1.EtcdCluster) {
			c.Spec.Storage = &etcdv1alpha1.StorageSpec{
				EmptyDir: &corev1.EmptyDirVolumeSource{},
				Size:     ptr.To(resource.MustParse("1Gi")),
			}
		}, "emptyDir cannot be combined with storageClassName or size"),
		Entry("an election timeout under 5 heartbeats", func(c *etcdv1alpha1.EtcdCluster) {
			c.Spec.Options = &etcdv1alpha1.EtcdOptions{
				HeartbeatIntervalMillis: ptr.To[int32](100),
				ElectionTimeoutMillis:   ptr.To[int32](400),
			}
		}, "electionTimeoutMillis must be at least 5 times heartbeatIntervalMillis"),
		Entry("user TLS Secrets without the operator's client certificate", func(c *etcdv1alpha1.EtcdCluster) {
			c.Spec.TLS = &etcdv1alpha1.TLSSpec{Secrets: &etcdv1alpha1.TLSSecrets{Member: "m"}}
		}, "spec.tls.secrets.operatorClient"),
		Entry("an unknown auto-compaction mode", func(c *etcdv1alpha1.EtcdCluster) {
			c.Spec.Options = &etcdv1alpha1.EtcdOptions{AutoCompactionMode: "hourly"}
		}, `spec.options.autoCompactionMode: Unsupported value: "hourly"`),
	)

	It("accepts pre-release versions and tuned timeouts", func() {
		cluster := validCluster(newNamespace())
		cluster.Spec.Version = "3.6.0-rc.1"
		cluster.Spec.Options = &etcdv1alpha1.EtcdOptions{
			HeartbeatIntervalMillis: ptr.To[int32](100),
			ElectionTimeoutMillis:   ptr.To[int32](500),
		}
		Expect(k8sClient.Create(ctx, cluster)).To(Succeed())
	})

	Context("on update", func() {
		var cluster *etcdv1alpha1.EtcdCluster

		BeforeEach(func() {
			cluster = validCluster(newNamespace())
			cluster.Spec.Storage = &etcdv1alpha1.StorageSpec{Size: ptr.To(resource.MustParse("1Gi"))}
			Expect(k8sClient.Create(ctx, cluster)).To(Succeed())
		})

		It("allows changing the size", func() {
			cluster.Spec.Size = 5
			Expect(k8sClient.Update(ctx, cluster)).To(Succeed())
		})

		It("refuses a storage change", func() {
			cluster.Spec.Storage.Size = ptr.To(resource.MustParse("2Gi"))
			expectInvalid(k8sClient.Update(ctx, cluster), "storage cannot be changed after creation")
		})

		It("refuses removing the storage", func() {
			cluster.Spec.Storage = nil
			expectInvalid(k8sClient.Update(ctx, cluster), "storage cannot be added or removed after creation")
		})

		It("refuses turning TLS on for a running cluster", func() {
			cluster.Spec.TLS = &etcdv1alpha1.TLSSpec{}
			expectInvalid(k8sClient.Update(ctx, cluster), "TLS cannot be turned on or off for an existing cluster")
		})

		It("refuses turning TLS off, and switching who issues the certificates", func() {
			tls := validCluster(cluster.Namespace)
			tls.Name = "tls"
			tls.Spec.TLS = &etcdv1alpha1.TLSSpec{}
			Expect(k8sClient.Create(ctx, tls)).To(Succeed())

			tls.Spec.TLS.Secrets = &etcdv1alpha1.TLSSecrets{Member: "m", OperatorClient: "o"}
			expectInvalid(k8sClient.Update(ctx, tls), "cannot switch between operator-issued and user-provided certificates")
			tls.Spec.TLS = nil
			expectInvalid(k8sClient.Update(ctx, tls), "TLS cannot be turned on or off for an existing cluster")
		})

		It("refuses a size of 10 through the scale subresource", func() {
			scale := &autoscalingv1.Scale{Spec: autoscalingv1.ScaleSpec{Replicas: 10}}
			err := k8sClient.SubResource("scale").Update(ctx, cluster, client.WithSubResourceBody(scale))
			expectInvalid(err, "should be less than or equal to 9")
		})

		Context("of the version", func() {
			// setVersions stores the cluster at from, with a status whose
			// lowest member version is running, then edits the spec to to.
			setVersions := func(from, running, to string) error {
				cluster = validCluster(cluster.Namespace)
				cluster.Spec.Version = from
				Expect(k8sClient.Create(ctx, cluster)).To(Succeed())
				cluster.Status.CurrentVersion = running
				Expect(k8sClient.Status().Update(ctx, cluster)).To(Succeed())
				cluster.Spec.Version = to
				return k8sClient.Update(ctx, cluster)
			}
			DescribeTable("allows",
				func(from, running, to string) { Expect(setVersions(from, running, to)).To(Succeed()) },
				Entry("a patch upgrade", "3.6.15", "3.6.15", "3.6.16"),
				Entry("a patch downgrade", "3.6.16", "3.6.16", "3.6.15"),
				Entry("one minor upgrade", "3.5.35", "3.5.35", "3.6.16"),
				Entry("reverting an unfinished minor upgrade", "3.6.16", "3.5.35", "3.5.35"),
				Entry("one minor downgrade from 3.6 (etcd's downgrade API)", "3.6.16", "3.6.16", "3.5.35"),
			)
			DescribeTable("refuses",
				func(from, running, to, message string) { expectInvalid(setVersions(from, running, to), message) },
				Entry("skipping a minor version", "3.5.35", "3.5.35", "3.7.0", "upgrade one minor version at a time"),
				Entry("two minor versions down", "3.6.16", "3.6.16", "3.4.30", "a minor downgrade goes one minor version at a time"),
				Entry("a minor downgrade from 3.5, which has no downgrade API", "3.5.35", "3.5.35", "3.4.30", "spec.version: Invalid value"),
			)
		})

		It("scales through the scale subresource", func() {
			scale := &autoscalingv1.Scale{Spec: autoscalingv1.ScaleSpec{Replicas: 5}}
			Expect(k8sClient.SubResource("scale").Update(ctx, cluster, client.WithSubResourceBody(scale))).To(Succeed())
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(cluster), cluster)).To(Succeed())
			Expect(cluster.Spec.Size).To(BeEquivalentTo(5))
		})
	})
})
