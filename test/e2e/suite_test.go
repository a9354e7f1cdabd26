package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
)

const (
	operatorNamespace  = "quorum-system"
	operatorDeployment = "quorum-controller-manager"
)

var (
	ctx       context.Context
	k8sClient client.Client
	// kubectl is the kubectl binary; the Makefile passes the one it built.
	kubectl = envOr("KUBECTL", "kubectl")
)

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

func TestE2E(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Quorum e2e")
}

// The suite runs on several processes (make test-e2e: ginkgo -p): the
// first deploys the operator, then every process makes its client.
var _ = SynchronizedBeforeSuite(func() {
	connect()
	deployOperator()
}, func() {
	connect()
})

func connect() {
	ctx = context.Background()
	cfg, err := ctrl.GetConfig()
	Expect(err).NotTo(HaveOccurred(), "KUBECONFIG must name a cluster")
	scheme := runtime.NewScheme()
	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	Expect(etcdv1alpha1.AddToScheme(scheme)).To(Succeed())
	k8sClient, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
}

func deployOperator() {
	By("deploying the operator from config/default")
	root, err := filepath.Abs(filepath.Join("..", ".."))
	Expect(err).NotTo(HaveOccurred())
	render := exec.Command(kubectl, "kustomize", filepath.Join(root, "config", "default"))
	manifests, err := render.Output()
	Expect(err).NotTo(HaveOccurred(), "kubectl kustomize config/default")
	apply := exec.Command(kubectl, "apply", "--server-side", "--force-conflicts", "-f", "-")
	apply.Stdin = bytes.NewReader(manifests)
	out, err := apply.CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "kubectl apply: %s", out)

	// The image tag does not change between builds, so an operator that is
	// already deployed is restarted to run the image just loaded.
	By("restarting the operator and waiting for it to be available")
	restart := exec.Command(kubectl, "-n", operatorNamespace, "rollout", "restart", "deployment/"+operatorDeployment)
	out, err = restart.CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "kubectl rollout restart: %s", out)
	status := exec.Command(kubectl, "-n", operatorNamespace, "rollout", "status", "deployment/"+operatorDeployment, "--timeout=180s")
	out, err = status.CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "kubectl rollout status: %s", out)
}
