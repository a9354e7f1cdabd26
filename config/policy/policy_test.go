package policy_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
	"github.com/quorum-operator/quorum/internal/testenv"
)

// The policies of this directory in a real kube-apiserver (envtest), which
// runs ValidatingAdmissionPolicy itself: each is applied as shipped, and
// each rule is shown to refuse what it says, with its message, and to let
// a compliant cluster through.
var (
	ctx    context.Context
	admin  client.Client
	scheme = runtime.NewScheme()
)

const (
	limitsMsg = "(ConfigMap quorum-system/quorum-limits)"
	tlsMsg    = "spec.tls is required in this namespace (label etcd.quorum.dev/require-tls=true)"
)

func TestPolicies(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Admission policies (envtest)")
}

var _ = BeforeSuite(func() {
	ctx = context.Background()
	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	Expect(etcdv1alpha1.AddToScheme(scheme)).To(Succeed())
	env, err := testenv.Start(scheme)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(env.Stop)
	admin = env.Client
	Expect(admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "quorum-system"}})).To(Succeed())
	for _, obj := range kustomizationObjects() {
		Expect(admin.Create(ctx, obj)).To(Succeed(), "%s %s", obj.GetKind(), obj.GetName())
	}
})

// kustomizationObjects reads every object of the files kustomization.yaml
// lists, so a file left out of it is not tested either.
func kustomizationObjects() []*unstructured.Unstructured {
	GinkgoHelper()
	data, err := os.ReadFile("kustomization.yaml")
	Expect(err).NotTo(HaveOccurred())
	var k struct {
		Resources []string `json:"resources"`
	}
	Expect(yaml.UnmarshalStrict(data, &k)).To(Succeed())
	Expect(k.Resources).NotTo(BeEmpty())
	var objs []*unstructured.Unstructured
	for _, f := range k.Resources {
		data, err := os.ReadFile(f)
		Expect(err).NotTo(HaveOccurred())
		r := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		for {
			obj := &unstructured.Unstructured{}
			if err := r.Decode(&obj.Object); errors.Is(err, io.EOF) {
				break
			} else {
				Expect(err).NotTo(HaveOccurred(), f)
			}
			if len(obj.Object) > 0 {
				objs = append(objs, obj)
			}
		}
	}
	return objs
}

func newNamespace(labels map[string]string) string {
	GinkgoHelper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "team-", Labels: labels}}
	Expect(admin.Create(ctx, ns)).To(Succeed())
	DeferCleanup(func() { Expect(admin.Delete(ctx, ns)).To(Succeed()) })
	return ns.Name
}

// cluster is one that every policy admits as shipped.
func cluster(namespace string) *etcdv1alpha1.EtcdCluster {
	size := resource.MustParse("1Gi")
	return &etcdv1alpha1.EtcdCluster{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "etcd-", Namespace: namespace},
		Spec: etcdv1alpha1.EtcdClusterSpec{
			Size: 3, Version: "3.6.16",
			Storage: &etcdv1alpha1.StorageSpec{Size: &size},
			TLS:     &etcdv1alpha1.TLSSpec{},
			Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("1Gi")},
				Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("2Gi")},
			},
		},
	}
}

// expectRefused checks that the API server refused the request through
// policy, with message.
func expectRefused(err error, policy, message string) {
	GinkgoHelper()
	Expect(err).To(HaveOccurred(), "the API server admitted what %s must refuse", policy)
	Expect(apierrors.IsForbidden(err)).To(BeTrue(), "want Forbidden, got: %v", err)
	Expect(err.Error()).To(ContainSubstring("ValidatingAdmissionPolicy '%s'", policy))
	Expect(err.Error()).To(ContainSubstring(message))
}

// create creates c, refused or not.
func create(c *etcdv1alpha1.EtcdCluster) error { return admin.Create(ctx, c) }

// inEffect waits until policy refuses c: a new policy, binding or
// parameter reaches the API server's admission a moment after it is
// written.
func inEffect(c *etcdv1alpha1.EtcdCluster, policy, message string) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		err := admin.Create(ctx, c.DeepCopy(), client.DryRunAll)
		g.Expect(err).To(HaveOccurred())
		g.Expect(err.Error()).To(ContainSubstring("ValidatingAdmissionPolicy '%s'", policy))
		g.Expect(err.Error()).To(ContainSubstring(message))
	}).WithTimeout(30 * time.Second).WithPolling(200 * time.Millisecond).Should(Succeed())
}

var _ = Describe("The policies in config/policy", func() {
	Describe("quorum-limits", func() {
		It("caps size, storage, resources and versions from its ConfigMap, and a compliant cluster is admitted", func() {
			ns := newNamespace(nil)
			big := cluster(ns)
			big.Spec.Size = 7
			inEffect(big, "quorum-limits", "an EtcdCluster may have at most 5 members here "+limitsMsg+", not 7")

			c := cluster(ns)
			c.Spec.Storage.Size = ptr.To(resource.MustParse("20Gi"))
			expectRefused(create(c), "quorum-limits", "spec.storage.size may be at most 10Gi per member here "+limitsMsg)

			c = cluster(ns)
			c.Spec.Resources.Requests[corev1.ResourceCPU] = resource.MustParse("3")
			expectRefused(create(c), "quorum-limits", "spec.resources may request or limit at most 2 cpu here "+limitsMsg)

			c = cluster(ns)
			c.Spec.Resources.Limits[corev1.ResourceMemory] = resource.MustParse("8Gi")
			expectRefused(create(c), "quorum-limits", "spec.resources may request or limit at most 4Gi memory here "+limitsMsg)

			c = cluster(ns)
			c.Spec.Version = "3.6.14"
			expectRefused(create(c), "quorum-limits", "etcd 3.6.14 is not offered here; spec.version may be one of 3.5.21,3.6.15,3.6.16 "+limitsMsg)

			c = cluster(ns)
			c.Spec.Size = 5
			Expect(create(c)).To(Succeed())
		})

		It("caps kubectl scale too", func() {
			c := cluster(newNamespace(nil))
			Expect(create(c)).To(Succeed())
			scale := &autoscalingv1.Scale{}
			Expect(admin.SubResource("scale").Get(ctx, c, scale)).To(Succeed())
			scale.Spec.Replicas = 7
			expectRefused(admin.SubResource("scale").Update(ctx, c, client.WithSubResourceBody(scale)),
				"quorum-limits", "an EtcdCluster may have at most 5 members here "+limitsMsg+", not 7")
			scale.Spec.Replicas = 5
			Expect(admin.SubResource("scale").Update(ctx, c, client.WithSubResourceBody(scale))).To(Succeed())
		})

		It("refuses an upgrade to a version not listed, and lets an existing cluster keep, or lower, what tighter caps now refuse", func() {
			ns := newNamespace(nil)
			c := cluster(ns)
			c.Spec.Size = 5
			c.Spec.Version = "3.6.15"
			Expect(create(c)).To(Succeed())
			upgrade := c.DeepCopy()
			upgrade.Spec.Version = "3.6.17"
			expectRefused(admin.Update(ctx, upgrade), "quorum-limits", "etcd 3.6.17 is not offered here")

			var params corev1.ConfigMap
			Expect(admin.Get(ctx, client.ObjectKey{Namespace: "quorum-system", Name: "quorum-limits"}, &params)).To(Succeed())
			original := params.DeepCopy()
			DeferCleanup(func() {
				Expect(admin.Get(ctx, client.ObjectKeyFromObject(&params), &params)).To(Succeed())
				params.Data = original.Data
				Expect(admin.Update(ctx, &params)).To(Succeed())
			})
			params.Data["maxSize"] = "3"
			params.Data["maxMemory"] = "1Gi"
			params.Data["versions"] = "3.6.16"
			Expect(admin.Update(ctx, &params)).To(Succeed())
			inEffect(cluster(ns), "quorum-limits", "at most 1Gi memory")

			// An update that changes none of them (a label, the operator's
			// finalizer) is admitted; so is scaling down.
			c.Labels = map[string]string{"team": "a"}
			c.Finalizers = []string{"example.com/keep"}
			Expect(admin.Update(ctx, c)).To(Succeed())
			c.Spec.Size = 4
			Expect(admin.Update(ctx, c)).To(Succeed())
			c.Spec.Size = 5
			expectRefused(admin.Update(ctx, c), "quorum-limits", "at most 3 members here "+limitsMsg+", not 5")
			c.Spec.Size = 4
			c.Spec.Version = "3.6.16"
			Expect(admin.Update(ctx, c)).To(Succeed())
			c.Finalizers = nil
			Expect(admin.Update(ctx, c)).To(Succeed())
		})
	})

	Describe("quorum-require-tls", func() {
		It("refuses a cluster without TLS in a namespace labelled for it, and admits one with TLS, or any elsewhere", func() {
			ns := newNamespace(map[string]string{"etcd.quorum.dev/require-tls": "true"})
			plain := cluster(ns)
			plain.Spec.TLS = nil
			inEffect(plain, "quorum-require-tls", tlsMsg)
			Expect(create(cluster(ns))).To(Succeed())

			elsewhere := cluster(newNamespace(nil))
			elsewhere.Spec.TLS = nil
			Expect(create(elsewhere)).To(Succeed())
		})
	})

	Describe("quorum-production", func() {
		It("refuses fewer than 3 members, emptyDir and deletionPolicy Delete in a production namespace, and admits a durable cluster", func() {
			ns := newNamespace(map[string]string{"etcd.quorum.dev/production": "true"})
			one := cluster(ns)
			one.Spec.Size = 1
			inEffect(one, "quorum-production", "an EtcdCluster in a production namespace has at least 3 members")

			c := cluster(ns)
			c.Spec.Storage = &etcdv1alpha1.StorageSpec{EmptyDir: &corev1.EmptyDirVolumeSource{}}
			expectRefused(create(c), "quorum-production", "an EtcdCluster in a production namespace keeps its data on claims, not spec.storage.emptyDir")

			c = cluster(ns)
			c.Spec.DeletionPolicy = etcdv1alpha1.DeletionPolicyDelete
			expectRefused(create(c), "quorum-production", "deletionPolicy Delete is not allowed in a production namespace")

			c = cluster(ns)
			Expect(create(c)).To(Succeed())
			c.Spec.DeletionPolicy = etcdv1alpha1.DeletionPolicyDelete
			expectRefused(admin.Update(ctx, c), "quorum-production", "deletionPolicy Delete is not allowed in a production namespace")

			scale := &autoscalingv1.Scale{}
			Expect(admin.SubResource("scale").Get(ctx, c, scale)).To(Succeed())
			scale.Spec.Replicas = 1
			expectRefused(admin.SubResource("scale").Update(ctx, c, client.WithSubResourceBody(scale)),
				"quorum-production", "at least 3 members")

			elsewhere := cluster(newNamespace(nil))
			elsewhere.Spec.Size = 1
			elsewhere.Spec.DeletionPolicy = etcdv1alpha1.DeletionPolicyDelete
			Expect(create(elsewhere)).To(Succeed())
		})
	})
})
