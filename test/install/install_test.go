package install

import (
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
)

var crdNames = []string{"etcdclusters.etcd.quorum.dev", "etcdbackups.etcd.quorum.dev", "etcdbackupschedules.etcd.quorum.dev", "etcdrestores.etcd.quorum.dev"}

// On envtest's API server, which runs no controllers: nothing starts, but
// every object is admitted or refused as on a real cluster, and what Helm
// and kubectl leave behind can be read back. The e2e spec with the label
// "install" runs the operator installed this way on the local cluster.
var _ = Describe("Installing on an API server", Ordered, func() {
	var c client.Client

	BeforeAll(func() {
		scheme := runtime.NewScheme()
		Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
		Expect(apiextensionsv1.AddToScheme(scheme)).To(Succeed())
		Expect(etcdv1alpha1.AddToScheme(scheme)).To(Succeed())
		var err error
		c, err = client.New(cfg, client.Options{Scheme: scheme})
		Expect(err).NotTo(HaveOccurred())
	})

	helmRun := func(args ...string) string {
		GinkgoHelper()
		return run(nil, helm, append([]string{"--kubeconfig", kubeconfig}, args...)...)
	}
	exists := func(obj client.Object, namespace, name string) func() error {
		return func() error { return c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, obj) }
	}

	It("installs the chart, upgrades it, and uninstalls it leaving the CRDs and every EtcdCluster", func() {
		helmRun("install", "quorum-test", chartDir, "--namespace", "quorum-helm", "--create-namespace")
		Expect(exists(&appsv1.Deployment{}, "quorum-helm", "quorum-test-controller-manager")()).To(Succeed())
		Expect(exists(&rbacv1.ClusterRoleBinding{}, "", "quorum-test-manager-rolebinding")()).To(Succeed())
		for _, name := range crdNames {
			var crd apiextensionsv1.CustomResourceDefinition
			Expect(exists(&crd, "", name)()).To(Succeed())
			Expect(crd.Annotations).To(HaveKeyWithValue(keepAnnotation, "keep"))
		}

		By("creating an EtcdCluster, as a user would once the operator runs")
		Expect(c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "apps"}})).To(Succeed())
		sample, err := os.ReadFile(filepath.Join(root, "config", "samples", "etcd_v1alpha1_etcdcluster.yaml"))
		Expect(err).NotTo(HaveOccurred())
		// The CRD is served a moment after it is created.
		Eventually(func() error {
			_, err := tryRun(sample, kubectl, "--kubeconfig", kubeconfig, "-n", "apps", "apply", "--server-side", "-f", "-")
			return err
		}, 30*time.Second, 250*time.Millisecond).Should(Succeed())

		By("upgrading with a changed pod annotation: the pod template changes, nothing else is recreated")
		var before appsv1.Deployment
		Expect(exists(&before, "quorum-helm", "quorum-test-controller-manager")()).To(Succeed())
		helmRun("upgrade", "quorum-test", chartDir, "--namespace", "quorum-helm", "--reuse-values", "--set", "podAnnotations.rollout=second")
		var after appsv1.Deployment
		Expect(exists(&after, "quorum-helm", "quorum-test-controller-manager")()).To(Succeed())
		Expect(after.UID).To(Equal(before.UID))
		Expect(after.Spec.Template.Annotations).To(HaveKeyWithValue("rollout", "second"))

		By("uninstalling: the operator goes, the CRDs and the EtcdCluster stay")
		helmRun("uninstall", "quorum-test", "--namespace", "quorum-helm", "--wait")
		Expect(apierrors.IsNotFound(exists(&appsv1.Deployment{}, "quorum-helm", "quorum-test-controller-manager")())).To(BeTrue())
		Expect(apierrors.IsNotFound(exists(&rbacv1.ClusterRole{}, "", "quorum-test-manager-role")())).To(BeTrue())
		for _, name := range crdNames {
			var crd apiextensionsv1.CustomResourceDefinition
			Expect(exists(&crd, "", name)()).To(Succeed(), "helm uninstall deleted %s", name)
			Expect(crd.DeletionTimestamp).To(BeNil(), "helm uninstall is deleting %s", name)
		}
		Expect(exists(&etcdv1alpha1.EtcdCluster{}, "apps", "example")()).To(Succeed())

		By("installing it again: the release takes the CRDs it kept back")
		helmRun("install", "quorum-test", chartDir, "--namespace", "quorum-helm")
		helmRun("uninstall", "quorum-test", "--namespace", "quorum-helm", "--wait")
	})

	It("installs the chart confined to some namespaces, beside CRDs it does not manage", func() {
		Expect(c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}})).To(Succeed())
		helmRun("install", "quorum-ns", chartDir, "--namespace", "quorum-ns", "--create-namespace",
			"--set", "crds.install=false", "--set", "watchNamespaces={team-a}")
		Expect(exists(&rbacv1.Role{}, "team-a", "quorum-ns-manager-role")()).To(Succeed())
		Expect(exists(&rbacv1.RoleBinding{}, "team-a", "quorum-ns-manager-rolebinding")()).To(Succeed())
		Expect(exists(&rbacv1.Role{}, "quorum-ns", "quorum-ns-own-pod-role")()).To(Succeed())
		Expect(apierrors.IsNotFound(exists(&rbacv1.ClusterRole{}, "", "quorum-ns-manager-role")())).To(BeTrue())
		helmRun("uninstall", "quorum-ns", "--namespace", "quorum-ns", "--wait")
		for _, name := range crdNames {
			Expect(exists(&apiextensionsv1.CustomResourceDefinition{}, "", name)()).To(Succeed())
		}
	})

	It("applies the kustomize manifest (dist/install.yaml) with kubectl, and applying it again changes nothing", func() {
		manifest := []byte(run(nil, kubectl, "kustomize", filepath.Join(root, "config", "default")))
		objs := parseObjects(string(manifest))
		Expect(ofKind(objs, "CustomResourceDefinition")).To(ConsistOf(crdNames))
		Expect(ofKind(objs, "Namespace")).To(ConsistOf("quorum-system"))
		Expect(ofKind(objs, "Deployment")).To(ConsistOf("quorum-system/quorum-controller-manager"))

		By("refusing nothing in a server-side dry run, once its namespace exists")
		Expect(c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "quorum-system"}})).To(Succeed())
		run(manifest, kubectl, "--kubeconfig", kubeconfig, "apply", "--server-side", "--dry-run=server", "-f", "-")

		By("applying it")
		run(manifest, kubectl, "--kubeconfig", kubeconfig, "apply", "--server-side", "-f", "-")
		versions := map[string]string{}
		for _, o := range objs {
			got := o.DeepCopy()
			Expect(c.Get(ctx, client.ObjectKeyFromObject(o), got)).To(Succeed(), "%s %s", o.GetKind(), o.GetName())
			versions[o.GetKind()+"/"+o.GetNamespace()+"/"+o.GetName()] = got.GetResourceVersion()
		}

		By("applying it again: no object changes")
		run(manifest, kubectl, "--kubeconfig", kubeconfig, "apply", "--server-side", "-f", "-")
		for _, o := range objs {
			got := o.DeepCopy()
			Expect(c.Get(ctx, client.ObjectKeyFromObject(o), got)).To(Succeed())
			Expect(got.GetResourceVersion()).To(Equal(versions[o.GetKind()+"/"+o.GetNamespace()+"/"+o.GetName()]), "%s %s changed", o.GetKind(), o.GetName())
		}
	})

	It("takes over the CRDs the manifest applied, as a move from the manifest to the chart does (and the e2e spec)", func() {
		helmRun("install", "quorum-adopt", chartDir, "--namespace", "quorum-adopt", "--create-namespace", "--take-ownership")
		for _, name := range crdNames {
			var crd apiextensionsv1.CustomResourceDefinition
			Expect(exists(&crd, "", name)()).To(Succeed())
			Expect(crd.Annotations).To(HaveKeyWithValue("meta.helm.sh/release-name", "quorum-adopt"))
			Expect(crd.Annotations).To(HaveKeyWithValue(keepAnnotation, "keep"))
		}
		helmRun("uninstall", "quorum-adopt", "--namespace", "quorum-adopt", "--wait")
		for _, name := range crdNames {
			Expect(exists(&apiextensionsv1.CustomResourceDefinition{}, "", name)()).To(Succeed(), "helm uninstall deleted %s", name)
		}
		Expect(exists(&etcdv1alpha1.EtcdCluster{}, "apps", "example")()).To(Succeed())
	})
})
