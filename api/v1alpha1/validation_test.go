package v1alpha1_test

import (
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
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
		Expect(crd.Spec.Names.ShortNames).To(ConsistOf("etcdc"))
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
		Entry("3.5.10, which has no /livez and /readyz", func(c *etcdv1alpha1.EtcdCluster) { c.Spec.Version = "3.5.10" },
			"spec.version: Invalid value: \"3.5.10\": etcd versions before 3.5.11 are not supported"),
		Entry("a 3.4 release", func(c *etcdv1alpha1.EtcdCluster) { c.Spec.Version = "3.4.30" },
			"etcd versions before 3.5.11 are not supported"),
		Entry("a release without learners", func(c *etcdv1alpha1.EtcdCluster) { c.Spec.Version = "3.3.27" },
			"etcd versions before 3.5.11 are not supported"),
		Entry("a cluster name over 52 characters", func(c *etcdv1alpha1.EtcdCluster) { c.GenerateName, c.Name = "", strings.Repeat("a", 53) },
			"the name of an EtcdCluster is at most 52 characters"),
		Entry("a cluster name with a dot", func(c *etcdv1alpha1.EtcdCluster) { c.GenerateName, c.Name = "", "etcd.main" },
			"the name of an EtcdCluster must be a DNS label"),
		Entry("a cluster name that starts with a digit", func(c *etcdv1alpha1.EtcdCluster) { c.GenerateName, c.Name = "", "3node" },
			"the name of an EtcdCluster must be a DNS label"),
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

	It("accepts the oldest supported version and the longest name", func() {
		cluster := validCluster(newNamespace())
		cluster.GenerateName, cluster.Name = "", "a"+strings.Repeat("0", 50)+"z"
		cluster.Spec.Version = "3.5.11"
		Expect(k8sClient.Create(ctx, cluster)).To(Succeed())
	})

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

		It("refuses a storage change other than growth", func() {
			cluster.Spec.Storage.StorageClassName = ptr.To("fast")
			expectInvalid(k8sClient.Update(ctx, cluster), "storage.storageClassName cannot be changed after creation")
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

		Context("with certificates the user provides", func() {
			var tls *etcdv1alpha1.EtcdCluster

			BeforeEach(func() {
				tls = validCluster(cluster.Namespace)
				tls.Spec.TLS = &etcdv1alpha1.TLSSpec{Secrets: &etcdv1alpha1.TLSSecrets{Member: "member-tls", OperatorClient: "operator-tls"}}
				Expect(k8sClient.Create(ctx, tls)).To(Succeed())
			})

			It("refuses another member Secret, which may hold another CA", func() {
				tls.Spec.TLS.Secrets.Member = "other-member-tls"
				expectInvalid(k8sClient.Update(ctx, tls),
					"spec.tls.secrets.member: Invalid value: \"other-member-tls\": the member Secret cannot be changed on an existing cluster")
				expectInvalid(k8sClient.Update(ctx, tls), "renew the certificate inside the same Secret")
			})

			It("allows another operator client Secret, which members do not read", func() {
				tls.Spec.TLS.Secrets.OperatorClient = "other-operator-tls"
				Expect(k8sClient.Update(ctx, tls)).To(Succeed())
			})
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
				Entry("the next minor while members still run the one before (3.5 to 3.6 to 3.7 in quick succession)",
					"3.6.16", "3.5.35", "3.7.0",
					"spec.version: Invalid value: members run 3.5.35 now (status.currentVersion, the lowest version a healthy member reports): upgrade one minor version at a time from what they run; wait until no member runs 3.5 before setting 3.7.0"),
				Entry("a minor downgrade two below what members run (3.7 to 3.6 to 3.5 in quick succession)",
					"3.6.16", "3.7.0", "3.5.35",
					"spec.version: Invalid value: members run 3.7.0 now (status.currentVersion, the lowest version a healthy member reports): a minor downgrade goes to one minor version below what they run"),
			)
			DescribeTable("judges against the old spec while no member reports a version",
				func(from, to string, allowed bool) {
					err := setVersions(from, "", to)
					if allowed {
						Expect(err).To(Succeed())
					} else {
						expectInvalid(err, "upgrade one minor version at a time")
					}
				},
				Entry("one minor up", "3.5.35", "3.6.16", true),
				Entry("two minors up", "3.5.35", "3.7.0", false),
			)

			It("refuses 3.5, 3.6, 3.7 in quick succession, before members run 3.6", func() {
				cluster = validCluster(cluster.Namespace)
				cluster.Spec.Version = "3.5.35"
				Expect(k8sClient.Create(ctx, cluster)).To(Succeed())
				cluster.Status.CurrentVersion = "3.5.35"
				Expect(k8sClient.Status().Update(ctx, cluster)).To(Succeed())
				cluster.Spec.Version = "3.6.16"
				Expect(k8sClient.Update(ctx, cluster)).To(Succeed())
				cluster.Spec.Version = "3.7.0"
				expectInvalid(k8sClient.Update(ctx, cluster), "members run 3.5.35 now")

				// Once the operator reports every member on 3.6, 3.7 is next.
				Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(cluster), cluster)).To(Succeed())
				cluster.Status.CurrentVersion = "3.6.16"
				Expect(k8sClient.Status().Update(ctx, cluster)).To(Succeed())
				cluster.Spec.Version = "3.7.0"
				Expect(k8sClient.Update(ctx, cluster)).To(Succeed())
			})

			It("never refuses the operator's status writes, whatever members run", func() {
				cluster = validCluster(cluster.Namespace)
				cluster.Spec.Version = "3.6.16"
				Expect(k8sClient.Create(ctx, cluster)).To(Succeed())
				for _, running := range []string{"3.4.30", "3.8.0", "3.6.16", ""} {
					patch := client.MergeFrom(cluster.DeepCopy())
					cluster.Status.CurrentVersion = running
					Expect(k8sClient.Status().Patch(ctx, cluster, patch)).To(Succeed(), running)
				}
			})
		})

		It("scales through the scale subresource", func() {
			scale := &autoscalingv1.Scale{Spec: autoscalingv1.ScaleSpec{Replicas: 5}}
			Expect(k8sClient.SubResource("scale").Update(ctx, cluster, client.WithSubResourceBody(scale))).To(Succeed())
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(cluster), cluster)).To(Succeed())
			Expect(cluster.Spec.Size).To(BeEquivalentTo(5))
		})
	})

	// With emptyDir a member's data lives only in its pod: a restart of the
	// only member, or of one of two (the other is no quorum), loses the
	// cluster. Every change of the pod template restarts members.
	Context("with emptyDir storage and 1 or 2 members", func() {
		const restartMessage = "with spec.storage.emptyDir and 1 or 2 members, a change of the pod template"

		emptyDirCluster := func(namespace string, size int32) *etcdv1alpha1.EtcdCluster {
			c := validCluster(namespace)
			c.Spec.Size = size
			c.Spec.Storage = &etcdv1alpha1.StorageSpec{EmptyDir: &corev1.EmptyDirVolumeSource{}}
			Expect(k8sClient.Create(ctx, c)).To(Succeed())
			return c
		}

		DescribeTable("refuses a change that restarts members",
			func(mutate func(*etcdv1alpha1.EtcdCluster)) {
				ns := newNamespace()
				for _, size := range []int32{1, 2} {
					c := emptyDirCluster(ns, size)
					mutate(c)
					expectInvalid(k8sClient.Update(ctx, c), restartMessage)
					expectInvalid(k8sClient.Update(ctx, c), "scale to 3 or more members first")
				}
			},
			Entry("the version", func(c *etcdv1alpha1.EtcdCluster) { c.Spec.Version = "3.6.15" }),
			Entry("the image", func(c *etcdv1alpha1.EtcdCluster) { c.Spec.Image = "registry.example/etcd:v3.6.16" }),
			Entry("the resources", func(c *etcdv1alpha1.EtcdCluster) {
				c.Spec.Resources.Requests = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")}
			}),
			Entry("the options", func(c *etcdv1alpha1.EtcdCluster) {
				c.Spec.Options = &etcdv1alpha1.EtcdOptions{AutoCompactionMode: "periodic", AutoCompactionRetention: "1h"}
			}),
			Entry("pod labels", func(c *etcdv1alpha1.EtcdCluster) {
				c.Spec.PodTemplate = &etcdv1alpha1.PodTemplate{Labels: map[string]string{"team": "db"}}
			}),
			Entry("pod annotations", func(c *etcdv1alpha1.EtcdCluster) {
				c.Spec.PodTemplate = &etcdv1alpha1.PodTemplate{Annotations: map[string]string{"note": "x"}}
			}),
			Entry("the node selector", func(c *etcdv1alpha1.EtcdCluster) {
				c.Spec.PodTemplate = &etcdv1alpha1.PodTemplate{NodeSelector: map[string]string{"disk": "ssd"}}
			}),
			Entry("the tolerations", func(c *etcdv1alpha1.EtcdCluster) {
				c.Spec.PodTemplate = &etcdv1alpha1.PodTemplate{Tolerations: []corev1.Toleration{{Key: "db", Operator: corev1.TolerationOpExists}}}
			}),
			Entry("the affinity", func(c *etcdv1alpha1.EtcdCluster) {
				c.Spec.PodTemplate = &etcdv1alpha1.PodTemplate{Affinity: &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
					PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{Weight: 1,
						PodAffinityTerm: corev1.PodAffinityTerm{TopologyKey: "kubernetes.io/hostname"}}}}}}
			}),
			Entry("the priority class", func(c *etcdv1alpha1.EtcdCluster) {
				c.Spec.PodTemplate = &etcdv1alpha1.PodTemplate{PriorityClassName: "critical"}
			}),
		)

		It("refuses a change of the pod template together with a scale from or to 2", func() {
			ns := newNamespace()
			up := emptyDirCluster(ns, 1)
			up.Spec.Size, up.Spec.Version = 3, "3.6.15"
			expectInvalid(k8sClient.Update(ctx, up), restartMessage)

			down := emptyDirCluster(ns, 3)
			down.Spec.Size, down.Spec.Version = 2, "3.6.15"
			expectInvalid(k8sClient.Update(ctx, down), restartMessage)
		})

		It("allows what restarts no member: size, paused, deletionPolicy, and the operator's status", func() {
			c := emptyDirCluster(newNamespace(), 1)
			c.Spec.Paused = true
			c.Spec.DeletionPolicy = etcdv1alpha1.DeletionPolicyDelete
			Expect(k8sClient.Update(ctx, c)).To(Succeed())
			c.Status.CurrentVersion = "3.6.16"
			Expect(k8sClient.Status().Update(ctx, c)).To(Succeed())
			c.Spec.Size = 3
			Expect(k8sClient.Update(ctx, c)).To(Succeed())
			c.Spec.Size = 1
			Expect(k8sClient.Update(ctx, c)).To(Succeed())
		})

		It("takes resources left out (kubectl) and empty (a Go client) as the same", func() {
			ns := newNamespace()
			created := &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "etcd.quorum.dev/v1alpha1", "kind": "EtcdCluster",
				"metadata": map[string]any{"generateName": "etcd-", "namespace": ns},
				"spec":     map[string]any{"size": int64(1), "version": "3.6.16", "storage": map[string]any{"emptyDir": map[string]any{}}},
			}}
			Expect(k8sClient.Create(ctx, created)).To(Succeed())
			var c etcdv1alpha1.EtcdCluster
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(created), &c)).To(Succeed())
			c.Spec.Paused = true // the update also sends "resources": {}
			Expect(k8sClient.Update(ctx, &c)).To(Succeed())
		})

		It("allows pod template changes with 3 or more members, or with claims", func() {
			ns := newNamespace()
			three := emptyDirCluster(ns, 3)
			three.Spec.Version = "3.6.15"
			three.Spec.PodTemplate = &etcdv1alpha1.PodTemplate{Labels: map[string]string{"team": "db"}}
			Expect(k8sClient.Update(ctx, three)).To(Succeed())

			claims := validCluster(ns)
			claims.Spec.Size = 1
			Expect(k8sClient.Create(ctx, claims)).To(Succeed())
			claims.Spec.Version = "3.6.15"
			Expect(k8sClient.Update(ctx, claims)).To(Succeed())
		})
	})
})

var _ = Describe("Names the operator derives other names from", func() {
	validBackupSpec := func() etcdv1alpha1.EtcdBackupSpec {
		return etcdv1alpha1.EtcdBackupSpec{ClusterName: "main", Destination: etcdv1alpha1.BackupDestination{
			PersistentVolumeClaim: &etcdv1alpha1.PVCLocation{ClaimName: "backups"}}}
	}
	backup := func(ns, name string) *etcdv1alpha1.EtcdBackup {
		return &etcdv1alpha1.EtcdBackup{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: validBackupSpec()}
	}
	schedule := func(ns, name string) *etcdv1alpha1.EtcdBackupSchedule {
		return &etcdv1alpha1.EtcdBackupSchedule{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: etcdv1alpha1.EtcdBackupScheduleSpec{Schedule: "@hourly", BackupTemplate: validBackupSpec()}}
	}

	It("refuses an EtcdBackup name over 56 characters, whose Job name would not fit a label", func() {
		ns := newNamespace()
		expectInvalid(k8sClient.Create(ctx, backup(ns, strings.Repeat("b", 57))),
			"the name of an EtcdBackup is at most 56 characters")
		Expect(k8sClient.Create(ctx, backup(ns, strings.Repeat("b", 56)))).To(Succeed())
	})

	It("refuses an EtcdBackupSchedule name over 45 characters, whose backups' names would be too long", func() {
		ns := newNamespace()
		expectInvalid(k8sClient.Create(ctx, schedule(ns, strings.Repeat("s", 46))),
			"the name of an EtcdBackupSchedule is at most 45 characters")
		Expect(k8sClient.Create(ctx, schedule(ns, strings.Repeat("s", 45)))).To(Succeed())
	})
})

var _ = Describe("Backup specs under GitOps", func() {
	spec := func(claim string) etcdv1alpha1.EtcdBackupSpec {
		return etcdv1alpha1.EtcdBackupSpec{ClusterName: "main", Destination: etcdv1alpha1.BackupDestination{
			PersistentVolumeClaim: &etcdv1alpha1.PVCLocation{ClaimName: claim}}}
	}

	It("lets a schedule's backupTemplate change (the next backups use it), but not a backup taken", func() {
		ns := newNamespace()
		s := &etcdv1alpha1.EtcdBackupSchedule{ObjectMeta: metav1.ObjectMeta{Name: "nightly", Namespace: ns},
			Spec: etcdv1alpha1.EtcdBackupScheduleSpec{Schedule: "@daily", BackupTemplate: spec("backups")}}
		Expect(k8sClient.Create(ctx, s)).To(Succeed())
		s.Spec.BackupTemplate = spec("other-backups")
		Expect(k8sClient.Update(ctx, s)).To(Succeed(), "a GitOps sync of a changed destination must apply")

		b := &etcdv1alpha1.EtcdBackup{ObjectMeta: metav1.ObjectMeta{Name: "once", Namespace: ns}, Spec: spec("backups")}
		Expect(k8sClient.Create(ctx, b)).To(Succeed())
		b.Spec = spec("other-backups")
		expectInvalid(k8sClient.Update(ctx, b), "an EtcdBackup cannot be changed; create a new one")
	})
})

var _ = Describe("Backup verification settings", func() {
	It("refuses a schedule that verifies one backup in 0, and defaults every to 1", func() {
		ns := newNamespace()
		template := etcdv1alpha1.EtcdBackupSpec{ClusterName: "main", Verify: true, Destination: etcdv1alpha1.BackupDestination{
			PersistentVolumeClaim: &etcdv1alpha1.PVCLocation{ClaimName: "backups"}}}
		s := &etcdv1alpha1.EtcdBackupSchedule{ObjectMeta: metav1.ObjectMeta{Name: "checked", Namespace: ns},
			Spec: etcdv1alpha1.EtcdBackupScheduleSpec{Schedule: "@daily", BackupTemplate: template,
				Verify: &etcdv1alpha1.ScheduleVerification{Every: -1}}}
		expectInvalid(k8sClient.Create(ctx, s), "spec.verify.every")
		s.Spec.Verify = &etcdv1alpha1.ScheduleVerification{}
		Expect(k8sClient.Create(ctx, s)).To(Succeed())
		Expect(s.Spec.Verify.Every).To(BeEquivalentTo(1))
	})
})
