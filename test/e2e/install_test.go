package e2e

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
)

const (
	// helmRelease is not "quorum": its cluster-scoped objects
	// (quorum-e2e-...) must not collide with the suite's install (quorum-...).
	helmRelease   = "quorum-e2e"
	helmNamespace = "quorum-e2e-helm"
)

// The operator installed as a platform team would, with the chart in
// charts/quorum, upgraded and uninstalled in place. The suite's own
// operator (config/default, every namespace) is scaled to zero for the
// spec: two operators acting on one EtcdCluster would fight, and confining
// the chart's operator to the spec's namespace would not stop the suite's,
// which watches all of them. Its leader-election Lease is in its own
// namespace, so it would not hold the chart's operator back either.
var _ = Describe("Installing with Helm", Label("install"), Serial, func() {
	It("runs the operator from the chart, upgrades it without restarting a member, and uninstalls it leaving the CRDs, clusters and data", func() {
		helm := envOr("HELM", "")
		Expect(helm).NotTo(BeEmpty(), "HELM must name the helm binary: run through 'make test-e2e'")
		chart, err := filepath.Abs(filepath.Join("..", "..", "charts", "quorum"))
		Expect(err).NotTo(HaveOccurred())
		ns := newNamespace()

		By("stopping the suite's operator until the spec ends")
		stopSuiteOperator()

		By("installing the chart with the locally built image")
		// The CRDs are the suite's (kubectl apply): the release takes them
		// over, as a cluster moving from the manifest to the chart would.
		installChart(helm, chart, "--take-ownership")
		operator := helmOperatorPod(Default)

		By("creating a 3-member cluster and writing a key")
		cluster := createCluster(ns, "helm", 3)
		cli := etcdClient(cluster, values(memberEndpoints(cluster))...)
		putCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_, err = cli.Put(putCtx, "/e2e/helm", "installed")
		Expect(err).NotTo(HaveOccurred())
		members := podRestarts(cluster)
		Expect(members).To(HaveLen(3))

		By("upgrading the release with a new pod annotation: the operator restarts, no member does")
		runHelm(helm, "upgrade", helmRelease, chart, "--namespace", helmNamespace, "--reuse-values",
			"--set-string", "podAnnotations.e2e-rollout=upgraded", "--wait", "--timeout", "3m")
		Eventually(func(g Gomega) {
			p := helmOperatorPod(g)
			g.Expect(p.UID).NotTo(Equal(operator.UID), "the operator was not restarted")
			g.Expect(p.Annotations).To(HaveKeyWithValue("e2e-rollout", "upgraded"))
		}, 3*time.Minute, 2*time.Second).Should(Succeed())

		// A backup proves the new operator acts (and finds its own image
		// for the Job); until then, "no member restarted" would prove nothing.
		By("backing the cluster up through the upgraded operator")
		claim := &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: "backups", Namespace: ns},
			Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
			},
		}
		Expect(k8sClient.Create(ctx, claim)).To(Succeed())
		backup := createBackup(ns, "after-upgrade", cluster.Name, etcdv1alpha1.BackupDestination{
			PersistentVolumeClaim: &etcdv1alpha1.PVCLocation{ClaimName: claim.Name, Directory: "etcd"}})
		waitBackupPhase(backup, etcdv1alpha1.BackupSucceeded)
		waitAvailable(cluster, 3)
		Expect(podRestarts(cluster)).To(Equal(members), "a member pod was replaced or restarted by the operator's upgrade")
		expectKey(cluster, "/e2e/helm", "installed")

		By("uninstalling the release: the operator goes, the CRDs, the cluster and its data stay")
		runHelm(helm, "uninstall", helmRelease, "--namespace", helmNamespace, "--wait", "--timeout", "3m")
		Eventually(func(g Gomega) {
			var pods corev1.PodList
			g.Expect(k8sClient.List(ctx, &pods, client.InNamespace(helmNamespace),
				client.MatchingLabels{"app.kubernetes.io/instance": helmRelease})).To(Succeed())
			g.Expect(pods.Items).To(BeEmpty(), "operator pods left")
		}, 2*time.Minute, 2*time.Second).Should(Succeed())
		for _, name := range []string{"etcdclusters.etcd.quorum.dev", "etcdbackups.etcd.quorum.dev", "etcdbackupschedules.etcd.quorum.dev", "etcdrestores.etcd.quorum.dev"} {
			// Metadata only: the suite's scheme has no CRD type.
			crd := &metav1.PartialObjectMetadata{}
			crd.SetGroupVersionKind(apiextensionsv1.SchemeGroupVersion.WithKind("CustomResourceDefinition"))
			Expect(k8sClient.Get(ctx, client.ObjectKey{Name: name}, crd)).To(Succeed(), "helm uninstall deleted the CRD %s", name)
			Expect(crd.DeletionTimestamp).To(BeNil(), "helm uninstall is deleting the CRD %s", name)
		}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(cluster), cluster)).To(Succeed())
		Expect(cluster.DeletionTimestamp).To(BeNil())
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(backup), backup)).To(Succeed())
		Expect(podRestarts(cluster)).To(Equal(members), "a member pod went with the operator")
		expectKey(cluster, "/e2e/helm", "installed")
	})
})

var _ = Describe("Installing with Helm, confined to a namespace", Label("install"), Serial, func() {
	It("acts on a cluster in its watched namespace, leaves one outside it alone, and holds no rights there", func() {
		helm := envOr("HELM", "")
		Expect(helm).NotTo(BeEmpty(), "HELM must name the helm binary: run through 'make test-e2e'")
		chart, err := filepath.Abs(filepath.Join("..", "..", "charts", "quorum"))
		Expect(err).NotTo(HaveOccurred())
		watched, other := newNamespace(), newNamespace()
		stopSuiteOperator()

		By("installing the chart with watchNamespaces={" + watched + "}, beside the suite's CRDs")
		installChart(helm, chart, "--set", "crds.install=false", "--set", "watchNamespaces={"+watched+"}")

		By("granting the operator its rules in the watched namespace only")
		operatorUser := "system:serviceaccount:" + helmNamespace + ":" + helmRelease + "-controller-manager"
		Expect(operatorMay(operatorUser, watched, "list", "pods")).To(BeTrue())
		Expect(operatorMay(operatorUser, watched, "create", "statefulsets")).To(BeTrue())
		Expect(operatorMay(operatorUser, other, "list", "pods")).To(BeFalse())
		Expect(operatorMay(operatorUser, other, "create", "statefulsets")).To(BeFalse())

		By("creating a cluster in each namespace at once")
		theirs := &etcdv1alpha1.EtcdCluster{ObjectMeta: metav1.ObjectMeta{Name: "outside", Namespace: other},
			Spec: etcdv1alpha1.EtcdClusterSpec{Size: 1, Version: etcdVersion}}
		Expect(k8sClient.Create(ctx, theirs)).To(Succeed())
		createCluster(watched, "inside", 1)

		// By the time the watched cluster is Available, an operator that saw
		// the other one would long have made its StatefulSet and status.
		By("finding the cluster outside untouched: no status, no StatefulSet")
		Consistently(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(theirs), theirs)).To(Succeed())
			g.Expect(theirs.Status.Conditions).To(BeEmpty())
			g.Expect(theirs.Finalizers).To(BeEmpty())
			var sets appsv1.StatefulSetList
			g.Expect(k8sClient.List(ctx, &sets, client.InNamespace(other))).To(Succeed())
			g.Expect(sets.Items).To(BeEmpty())
		}, 15*time.Second, time.Second).Should(Succeed())
	})
})

// operatorMay asks the API server whether user may verb resource in
// namespace.
func operatorMay(user, namespace, verb, resource string) bool {
	GinkgoHelper()
	group := ""
	if resource == "statefulsets" {
		group = "apps"
	}
	review := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:               user,
		Groups:             []string{"system:serviceaccounts", "system:authenticated"},
		ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: namespace, Verb: verb, Group: group, Resource: resource},
	}}
	Expect(k8sClient.Create(ctx, review)).To(Succeed())
	return review.Status.Allowed
}

// stopSuiteOperator scales the suite's operator to zero and waits until
// its pods are gone; after the spec it scales it back and waits for it.
func stopSuiteOperator() {
	GinkgoHelper()
	deployment := "deployment/" + operatorDeployment
	DeferCleanup(func() {
		out, err := exec.Command(kubectl, "-n", operatorNamespace, "scale", deployment, "--replicas=1").CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "kubectl scale: %s", out)
		out, err = exec.Command(kubectl, "-n", operatorNamespace, "rollout", "status", deployment, "--timeout=180s").CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "kubectl rollout status: %s", out)
	})
	out, err := exec.Command(kubectl, "-n", operatorNamespace, "scale", deployment, "--replicas=0").CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "kubectl scale: %s", out)
	Eventually(func(g Gomega) {
		var pods corev1.PodList
		g.Expect(k8sClient.List(ctx, &pods, client.InNamespace(operatorNamespace),
			client.MatchingLabels{"control-plane": "controller-manager"})).To(Succeed())
		g.Expect(pods.Items).To(BeEmpty(), "the suite's operator pods are still there")
	}, 2*time.Minute, time.Second).Should(Succeed())
}

// installChart installs the chart as helmRelease in helmNamespace with the
// locally built image, and waits for the operator. After the spec it
// uninstalls the release and waits until the namespace is gone, so the
// next spec can make it again.
func installChart(helm, chart string, args ...string) {
	GinkgoHelper()
	namespace := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: helmNamespace}}
	DeferCleanup(func() {
		runHelm(helm, "uninstall", helmRelease, "--namespace", helmNamespace, "--ignore-not-found", "--wait", "--timeout", "3m")
		Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, namespace))).To(Succeed())
		Eventually(func() error {
			return k8sClient.Get(ctx, client.ObjectKeyFromObject(namespace), &corev1.Namespace{})
		}, 3*time.Minute, 2*time.Second).Should(Satisfy(apierrors.IsNotFound), "namespace %s is not gone", helmNamespace)
	})
	runHelm(helm, append([]string{"install", helmRelease, chart, "--namespace", helmNamespace, "--create-namespace",
		"--set", "image.tag=dev", "--set", "image.pullPolicy=Never", "--wait", "--timeout", "3m"}, args...)...)
}

// helmOperatorPod is the chart's one live, ready operator pod.
func helmOperatorPod(g Gomega) corev1.Pod {
	var pods corev1.PodList
	g.Expect(k8sClient.List(ctx, &pods, client.InNamespace(helmNamespace),
		client.MatchingLabels{"app.kubernetes.io/instance": helmRelease})).To(Succeed())
	var live []corev1.Pod
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			live = append(live, p)
		}
	}
	g.Expect(live).To(HaveLen(1), "operator pods of the release")
	g.Expect(live[0].Status.ContainerStatuses).To(ContainElement(HaveField("Ready", true)), "the operator pod is not ready")
	return live[0]
}

func runHelm(helm string, args ...string) {
	GinkgoHelper()
	out, err := exec.Command(helm, args...).CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "helm %s: %s", strings.Join(args, " "), out)
	GinkgoWriter.Printf("helm %s:\n%s\n", args[0], out)
}

// expectKey reads key through the cluster's members (linearizable) and
// expects value.
func expectKey(c *etcdv1alpha1.EtcdCluster, key, value string) {
	GinkgoHelper()
	cli := etcdClient(c, values(memberEndpoints(c))...)
	Eventually(func(g Gomega) {
		getCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		resp, err := cli.Get(getCtx, key)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(resp.Kvs).To(HaveLen(1), "%s is gone", key)
		g.Expect(string(resp.Kvs[0].Value)).To(Equal(value))
	}, 30*time.Second, time.Second).Should(Succeed())
}
