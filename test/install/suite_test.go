package install

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

var (
	ctx context.Context
	// helm and kubectl are the binaries the Makefile built.
	helm, kubectl string
	// kubeconfig names envtest's API server, for helm and kubectl.
	kubeconfig string
	cfg        *rest.Config
	root       = filepath.Join("..", "..")
	chartDir   = filepath.Join(root, "charts", "quorum")
)

func TestInstall(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Install paths: the Helm chart and the kustomize manifest")
}

var _ = BeforeSuite(func() {
	ctx = context.Background()
	// Fail, never skip: under 'make test' both are always set, and a
	// skipped chart test would pass a broken chart.
	helm = os.Getenv("HELM")
	Expect(helm).NotTo(BeEmpty(), "HELM must name the helm binary: run through 'make test'")
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	Expect(assets).NotTo(BeEmpty(), "KUBEBUILDER_ASSETS must be set: run through 'make test'")
	kubectl = filepath.Join(assets, "kubectl")

	// Helm keeps its cache, config and data under HOME unless told: a
	// directory of this run instead.
	home := GinkgoT().TempDir()
	for _, v := range []string{"HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"} {
		GinkgoT().Setenv(v, filepath.Join(home, v))
	}

	// No CRDs preinstalled (unlike internal/testenv): the chart and the
	// manifest install them, as on a fresh cluster.
	env := &envtest.Environment{}
	var err error
	cfg, err = env.Start()
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(env.Stop)
	kubeconfig = filepath.Join(home, "kubeconfig")
	Expect(writeKubeconfig(cfg, kubeconfig)).To(Succeed())
})

// writeKubeconfig writes a kubeconfig for cfg, envtest's admin user.
func writeKubeconfig(cfg *rest.Config, path string) error {
	c := clientcmdapi.NewConfig()
	c.Clusters["envtest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	c.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData}
	c.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "admin"}
	c.CurrentContext = "envtest"
	return clientcmd.WriteToFile(*c, path)
}

// run runs a command and returns its standard output; the spec fails
// with its output when it fails.
func run(stdin []byte, name string, args ...string) string {
	GinkgoHelper()
	out, err := tryRun(stdin, name, args...)
	if err != nil {
		Fail(fmt.Sprintf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out))
	}
	return out
}

// tryRun runs a command and returns its combined output.
func tryRun(stdin []byte, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String() + stderr.String(), err
	}
	return stdout.String(), nil
}

// parseObjects decodes a multi-document YAML stream; every document must
// be a Kubernetes object.
func parseObjects(manifest string) []*unstructured.Unstructured {
	GinkgoHelper()
	var objs []*unstructured.Unstructured
	dec := k8syaml.NewYAMLOrJSONDecoder(strings.NewReader(manifest), 4096)
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			break
		}
		Expect(err).NotTo(HaveOccurred(), "a document does not parse")
		if m == nil {
			continue // an empty document (a template that rendered nothing)
		}
		u := &unstructured.Unstructured{Object: m}
		Expect(u.GetAPIVersion()).NotTo(BeEmpty(), "an object without apiVersion: %v", m)
		Expect(u.GetKind()).NotTo(BeEmpty(), "an object without kind: %v", m)
		Expect(u.GetName()).NotTo(BeEmpty(), "a %s without a name", u.GetKind())
		objs = append(objs, u)
	}
	Expect(objs).NotTo(BeEmpty())
	return objs
}

// find returns the object of that kind and name; the spec fails when
// there is not exactly one.
func find(objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	GinkgoHelper()
	var found []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			found = append(found, o)
		}
	}
	Expect(found).To(HaveLen(1), "%s %s", kind, name)
	return found[0]
}

// ofKind returns the names (namespace/name for namespaced objects) of the
// objects of a kind.
func ofKind(objs []*unstructured.Unstructured, kind string) []string {
	var names []string
	for _, o := range objs {
		if o.GetKind() == kind {
			if o.GetNamespace() != "" {
				names = append(names, o.GetNamespace()+"/"+o.GetName())
			} else {
				names = append(names, o.GetName())
			}
		}
	}
	return names
}
