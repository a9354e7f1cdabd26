package e2e

import (
	"context"
	"os/exec"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
)

// The operator installed from the release manifest, then upgraded in place
// to another image, as a platform team would roll a new release: the
// members must not notice.
var _ = Describe("Installing with the manifest", Label("install"), Serial, func() {
	It("runs the operator from dist/install.yaml and upgrades it to a new image without restarting a member", func() {
		manifest := envOr("E2E_INSTALL_MANIFEST", "")
		nextImage := envOr("E2E_OPERATOR_NEXT_IMAGE", "")
		Expect(manifest).NotTo(BeEmpty(), "E2E_INSTALL_MANIFEST must name dist/install.yaml: run through 'make test-e2e'")
		Expect(nextImage).NotTo(BeEmpty(), "E2E_OPERATOR_NEXT_IMAGE must name a second tag of the operator image: run through 'make test-e2e'")

		By("applying the manifest, as kubectl apply of a release does")
		kubectlOK("apply", "--server-side", "--force-conflicts", "-f", manifest)
		kubectlOK("-n", operatorNamespace, "rollout", "status", "deployment/"+operatorDeployment, "--timeout=180s")
		before := operatorImage()
		DeferCleanup(func() {
			By("putting the suite's image back")
			kubectlOK("-n", operatorNamespace, "set", "image", "deployment/"+operatorDeployment, "manager="+before)
			kubectlOK("-n", operatorNamespace, "rollout", "status", "deployment/"+operatorDeployment, "--timeout=180s")
		})

		By("creating a 3-member cluster and writing a key")
		ns := newNamespace()
		cluster := createCluster(ns, "manifest", 3)
		cli := etcdClient(cluster, values(memberEndpoints(cluster))...)
		putCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_, err := cli.Put(putCtx, "/e2e/manifest", "installed")
		Expect(err).NotTo(HaveOccurred())
		members := podRestarts(cluster)
		Expect(members).To(HaveLen(3))

		By("upgrading the operator in place to " + nextImage)
		kubectlOK("-n", operatorNamespace, "set", "image", "deployment/"+operatorDeployment, "manager="+nextImage)
		kubectlOK("-n", operatorNamespace, "rollout", "status", "deployment/"+operatorDeployment, "--timeout=180s")
		Expect(operatorImage()).To(Equal(nextImage))

		By("changing the spec, so the new operator is seen to act: a new generation observed")
		unpatched := cluster.DeepCopy()
		cluster.Spec.DeletionPolicy = etcdv1alpha1.DeletionPolicyDelete
		Expect(k8sClient.Patch(ctx, cluster, client.MergeFrom(unpatched))).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(cluster), cluster)).To(Succeed())
			g.Expect(cluster.Status.ObservedGeneration).To(Equal(cluster.Generation))
		}, 2*time.Minute, time.Second).Should(Succeed())
		waitAvailable(cluster, 3)
		Expect(podRestarts(cluster)).To(Equal(members), "a member pod was replaced or restarted by the operator's upgrade")
		expectKey(cluster, "/e2e/manifest", "installed")
	})
})

// operatorImage is the image of the suite's operator Deployment.
func operatorImage() string {
	GinkgoHelper()
	var d appsv1.Deployment
	Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: operatorNamespace, Name: operatorDeployment}, &d)).To(Succeed())
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Name == "manager" {
			return c.Image
		}
	}
	Fail("the operator Deployment has no manager container")
	return ""
}

// kubectlOK runs kubectl and fails the spec with its output if it fails.
func kubectlOK(args ...string) {
	GinkgoHelper()
	out, err := exec.Command(kubectl, args...).CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "kubectl %v: %s", args, out)
}
