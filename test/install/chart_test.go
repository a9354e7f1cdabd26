package install

import (
	"encoding/json"
	"os"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

const (
	// The release the chart is rendered as: its objects are named
	// quorum-..., as the kustomize install's are.
	release          = "quorum"
	releaseNamespace = "quorum-system"
	keepAnnotation   = "helm.sh/resource-policy"
	// Argo CD's words for the same, as it applies the rendered chart
	// itself.
	argoSyncOptions = "argocd.argoproj.io/sync-options"
)

// helmTemplate renders the chart as release in releaseNamespace, with
// extra helm arguments (--set ...).
func helmTemplate(args ...string) []*unstructured.Unstructured {
	GinkgoHelper()
	out := run(nil, helm, append([]string{"template", release, chartDir, "--namespace", releaseNamespace}, args...)...)
	return parseObjects(out)
}

// as decodes an object into a typed one, through JSON as the API server
// would.
func as[T any](u *unstructured.Unstructured) *T {
	GinkgoHelper()
	data, err := json.Marshal(u.Object)
	Expect(err).NotTo(HaveOccurred())
	var t T
	Expect(json.Unmarshal(data, &t)).To(Succeed())
	return &t
}

// configRole reads a Role or ClusterRole of config/rbac.
func configRole(file string) *rbacv1.ClusterRole {
	GinkgoHelper()
	data, err := os.ReadFile(filepath.Join(root, "config", "rbac", file))
	Expect(err).NotTo(HaveOccurred())
	var r rbacv1.ClusterRole
	Expect(yaml.Unmarshal(data, &r)).To(Succeed(), file)
	Expect(r.Rules).NotTo(BeEmpty(), file)
	return &r
}

var _ = Describe("The Helm chart", func() {
	It("renders, with default values, only objects that parse, and the CRDs of config/crd/bases, kept on uninstall", func() {
		objs := helmTemplate()
		files, err := filepath.Glob(filepath.Join(root, "config", "crd", "bases", "*.yaml"))
		Expect(err).NotTo(HaveOccurred())
		Expect(files).NotTo(BeEmpty())
		Expect(ofKind(objs, "CustomResourceDefinition")).To(HaveLen(len(files)))
		for _, f := range files {
			data, err := os.ReadFile(f)
			Expect(err).NotTo(HaveOccurred())
			var want map[string]any
			Expect(yaml.Unmarshal(data, &want)).To(Succeed())
			name := want["metadata"].(map[string]any)["name"].(string)
			crd := find(objs, "CustomResourceDefinition", name).DeepCopy()
			Expect(crd.GetAnnotations()).To(HaveKeyWithValue(keepAnnotation, "keep"), "%s would be deleted by helm uninstall, and every object of its kind with it", name)
			Expect(crd.GetAnnotations()).To(HaveKeyWithValue(argoSyncOptions, "Prune=false,Delete=false"))
			annotations := crd.GetAnnotations()
			delete(annotations, keepAnnotation)
			delete(annotations, argoSyncOptions)
			crd.SetAnnotations(annotations)
			got, err := json.Marshal(crd.Object)
			Expect(err).NotTo(HaveOccurred())
			wantJSON, err := json.Marshal(want)
			Expect(err).NotTo(HaveOccurred())
			Expect(got).To(MatchJSON(wantJSON), "the chart's %s differs from %s: run 'make chart'", name, f)
		}
	})

	It("leaves the CRDs out with crds.install=false, and unkept with crds.keep=false", func() {
		Expect(ofKind(helmTemplate("--set", "crds.install=false"), "CustomResourceDefinition")).To(BeEmpty())
		unkept := helmTemplate("--set", "crds.keep=false")
		Expect(ofKind(unkept, "CustomResourceDefinition")).To(ConsistOf(crdNames))
		for _, name := range ofKind(unkept, "CustomResourceDefinition") {
			annotations := find(unkept, "CustomResourceDefinition", name).GetAnnotations()
			Expect(annotations).NotTo(HaveKey(keepAnnotation))
			Expect(annotations).NotTo(HaveKey(argoSyncOptions))
		}
	})

	It("grants the operator, cluster-wide by default, exactly the rules of config/rbac, and people the same aggregated roles", func() {
		objs := helmTemplate()
		manager := as[rbacv1.ClusterRole](find(objs, "ClusterRole", "quorum-manager-role"))
		Expect(manager.Rules).To(Equal(configRole("role.yaml").Rules), "run 'make chart'")
		binding := as[rbacv1.ClusterRoleBinding](find(objs, "ClusterRoleBinding", "quorum-manager-rolebinding"))
		Expect(binding.RoleRef.Name).To(Equal("quorum-manager-role"))
		Expect(binding.Subjects).To(ConsistOf(rbacv1.Subject{Kind: "ServiceAccount", Name: "quorum-controller-manager", Namespace: releaseNamespace}))
		find(objs, "ServiceAccount", "quorum-controller-manager")

		for file, name := range map[string]string{
			"etcd_editor_role.yaml":    "quorum-etcd-editor-role",
			"etcd_viewer_role.yaml":    "quorum-etcd-viewer-role",
			"metrics_auth_role.yaml":   "quorum-metrics-auth-role",
			"metrics_reader_role.yaml": "quorum-metrics-reader",
		} {
			want := configRole(file)
			got := as[rbacv1.ClusterRole](find(objs, "ClusterRole", name))
			Expect(got.Rules).To(Equal(want.Rules), name)
			for k, v := range want.Labels {
				Expect(got.Labels).To(HaveKeyWithValue(k, v), "%s loses its aggregation label", name)
			}
		}
		election := as[rbacv1.Role](find(objs, "Role", "quorum-leader-election-role"))
		Expect(election.Namespace).To(Equal(releaseNamespace))
		Expect(election.Rules).To(Equal(configRole("leader_election_role.yaml").Rules))
	})

	It("runs the manager as config/manager does", func() {
		objs := helmTemplate()
		chart := as[appsv1.Deployment](find(objs, "Deployment", "quorum-controller-manager"))
		var kustomized *appsv1.Deployment
		for _, o := range parseObjects(run(nil, kubectl, "kustomize", filepath.Join(root, "config", "default"))) {
			if o.GetKind() == "Deployment" {
				kustomized = as[appsv1.Deployment](o)
			}
		}
		Expect(kustomized).NotTo(BeNil())
		want, got := kustomized.Spec.Template.Spec, chart.Spec.Template.Spec
		Expect(got.SecurityContext).To(Equal(want.SecurityContext))
		Expect(got.TerminationGracePeriodSeconds).To(Equal(want.TerminationGracePeriodSeconds))
		Expect(got.ServiceAccountName).To(Equal("quorum-controller-manager"))
		Expect(got.Containers).To(HaveLen(1))
		Expect(want.Containers).To(HaveLen(1))
		w, g := want.Containers[0], got.Containers[0]
		Expect(g.Name).To(Equal(w.Name))
		Expect(g.Command).To(Equal(w.Command))
		// The chart adds only the log level to the kustomize install's
		// arguments.
		Expect(g.Args).To(ConsistOf(append(w.Args, "--zap-log-level=info")))
		Expect(g.Env).To(Equal(w.Env))
		Expect(g.Ports).To(Equal(w.Ports))
		Expect(g.LivenessProbe).To(Equal(w.LivenessProbe))
		Expect(g.ReadinessProbe).To(Equal(w.ReadinessProbe))
		Expect(g.SecurityContext).To(Equal(w.SecurityContext))
		Expect(g.Resources).To(Equal(w.Resources))

		By("pinning the image to the chart's appVersion, the version it is released with")
		meta := chartMetadata()
		Expect(meta.Version).NotTo(BeEmpty())
		Expect(meta.AppVersion).To(Equal(meta.Version), "Chart.yaml: the operator and its chart are versioned together")
		Expect(g.Image).To(Equal("quorum-operator/manager:" + meta.AppVersion))
	})

	It("sets the manager's values: image, replicas, scheduling, log level, pod labels and annotations", func() {
		objs := helmTemplate(
			"--set", "image.repository=registry.example/quorum", "--set", "image.tag=1.2.3", "--set", "image.pullPolicy=Always",
			"--set", "imagePullSecrets[0].name=pull", "--set", "replicas=2", "--set", "logLevel=debug",
			"--set", "nodeSelector.pool=system", "--set", "tolerations[0].key=dedicated", "--set", "tolerations[0].operator=Exists",
			"--set", "podLabels.team=platform", "--set-string", "podAnnotations.rev=2",
			"--set", "resources.limits.memory=512Mi", "--set", "extraArgs={--max-concurrent-reconciles=32}",
		)
		d := as[appsv1.Deployment](find(objs, "Deployment", "quorum-controller-manager"))
		Expect(*d.Spec.Replicas).To(BeEquivalentTo(2))
		pod := d.Spec.Template
		Expect(pod.Labels).To(HaveKeyWithValue("team", "platform"))
		for k, v := range d.Spec.Selector.MatchLabels {
			Expect(pod.Labels).To(HaveKeyWithValue(k, v), "the selector does not select the pods")
		}
		Expect(pod.Annotations).To(HaveKeyWithValue("rev", "2"))
		Expect(pod.Spec.NodeSelector).To(Equal(map[string]string{"pool": "system"}))
		Expect(pod.Spec.Tolerations).To(ConsistOf(corev1.Toleration{Key: "dedicated", Operator: corev1.TolerationOpExists}))
		Expect(pod.Spec.ImagePullSecrets).To(ConsistOf(corev1.LocalObjectReference{Name: "pull"}))
		c := pod.Spec.Containers[0]
		Expect(c.Image).To(Equal("registry.example/quorum:1.2.3"))
		Expect(c.ImagePullPolicy).To(Equal(corev1.PullAlways))
		Expect(c.Args).To(ContainElements("--leader-elect", "--zap-log-level=debug", "--max-concurrent-reconciles=32"))
		Expect(c.Resources.Limits.Memory().String()).To(Equal("512Mi"))
	})

	It("with watchNamespaces, confines the operator: its rules through a Role in each, nothing it manages cluster-wide", func() {
		objs := helmTemplate("--set", "watchNamespaces={team-a,team-b}")
		d := as[appsv1.Deployment](find(objs, "Deployment", "quorum-controller-manager"))
		Expect(d.Spec.Template.Spec.Containers[0].Args).To(ContainElement("--watch-namespaces=team-a,team-b"))

		rules := configRole("role.yaml").Rules
		Expect(ofKind(objs, "Role")).To(ConsistOf(
			"team-a/quorum-manager-role", "team-b/quorum-manager-role",
			releaseNamespace+"/quorum-leader-election-role", releaseNamespace+"/quorum-own-pod-role"))
		for _, ns := range []string{"team-a", "team-b"} {
			var role *rbacv1.Role
			var binding *rbacv1.RoleBinding
			for _, o := range objs {
				if o.GetNamespace() == ns && o.GetKind() == "Role" {
					role = as[rbacv1.Role](o)
				}
				if o.GetNamespace() == ns && o.GetKind() == "RoleBinding" {
					binding = as[rbacv1.RoleBinding](o)
				}
			}
			Expect(role).NotTo(BeNil(), ns)
			Expect(role.Rules).To(Equal(rules), ns)
			Expect(binding).NotTo(BeNil(), ns)
			Expect(binding.RoleRef).To(Equal(rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: role.Name}))
			Expect(binding.Subjects).To(ConsistOf(rbacv1.Subject{Kind: "ServiceAccount", Name: "quorum-controller-manager", Namespace: releaseNamespace}))
		}
		By("keeping cluster-wide only the metrics endpoint's auth checks and the roles for people")
		Expect(ofKind(objs, "ClusterRole")).To(ConsistOf("quorum-metrics-auth-role", "quorum-metrics-reader", "quorum-etcd-editor-role", "quorum-etcd-viewer-role"))
		Expect(ofKind(objs, "ClusterRoleBinding")).To(ConsistOf("quorum-metrics-auth-rolebinding"))
		ownPod := as[rbacv1.Role](find(objs, "Role", "quorum-own-pod-role"))
		Expect(ownPod.Rules).To(Equal([]rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get"}}}))

		By("needing no extra Role for its own pod when it watches its own namespace")
		objs = helmTemplate("--set", "watchNamespaces={team-a,"+releaseNamespace+"}")
		Expect(ofKind(objs, "Role")).To(ConsistOf(
			"team-a/quorum-manager-role", releaseNamespace+"/quorum-manager-role", releaseNamespace+"/quorum-leader-election-role"))
	})

	It("renders a ServiceMonitor for the metrics Service only when asked", func() {
		Expect(ofKind(helmTemplate(), "ServiceMonitor")).To(BeEmpty())
		objs := helmTemplate("--set", "metrics.serviceMonitor.enabled=true", "--set", "metrics.serviceMonitor.labels.release=prom",
			"--set", "metrics.serviceMonitor.interval=30s")
		sm := find(objs, "ServiceMonitor", "quorum")
		Expect(sm.GetAPIVersion()).To(Equal("monitoring.coreos.com/v1"))
		Expect(sm.GetNamespace()).To(Equal(releaseNamespace))
		Expect(sm.GetLabels()).To(HaveKeyWithValue("release", "prom"))
		svc := as[corev1.Service](find(objs, "Service", "quorum-metrics"))
		selector, _, err := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
		Expect(err).NotTo(HaveOccurred())
		Expect(selector).NotTo(BeEmpty())
		for k, v := range selector {
			Expect(svc.Labels).To(HaveKeyWithValue(k, v), "the ServiceMonitor does not select the metrics Service")
		}
		endpoints, _, err := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
		Expect(err).NotTo(HaveOccurred())
		Expect(endpoints).To(HaveLen(1))
		ep := endpoints[0].(map[string]any)
		Expect(ep).To(HaveKeyWithValue("port", svc.Spec.Ports[0].Name))
		Expect(ep).To(HaveKeyWithValue("scheme", "https"))
		Expect(ep).To(HaveKeyWithValue("interval", "30s"))
		// The quorum_* series carry the EtcdCluster's namespace: without
		// honorLabels Prometheus renames it exported_namespace.
		Expect(ep).To(HaveKeyWithValue("honorLabels", true))

		By("selecting the manager's pods with the metrics Service, on its metrics port")
		d := as[appsv1.Deployment](find(objs, "Deployment", "quorum-controller-manager"))
		for k, v := range svc.Spec.Selector {
			Expect(d.Spec.Template.Labels).To(HaveKeyWithValue(k, v))
		}
		Expect(d.Spec.Template.Spec.Containers[0].Ports).To(ContainElement(HaveField("Name", svc.Spec.Ports[0].TargetPort.StrVal)))
	})

	It("renders the alert rules of config/prometheus/rules.yaml as a PrometheusRule only when asked", func() {
		Expect(ofKind(helmTemplate(), "PrometheusRule")).To(BeEmpty())
		objs := helmTemplate("--set", "metrics.prometheusRule.enabled=true", "--set", "metrics.prometheusRule.labels.release=prom")
		rule := find(objs, "PrometheusRule", "quorum-rules")
		Expect(rule.GetAPIVersion()).To(Equal("monitoring.coreos.com/v1"))
		Expect(rule.GetNamespace()).To(Equal(releaseNamespace))
		Expect(rule.GetLabels()).To(HaveKeyWithValue("release", "prom"))
		data, err := os.ReadFile(filepath.Join(root, "config", "prometheus", "rules.yaml"))
		Expect(err).NotTo(HaveOccurred())
		var want struct {
			Groups []any `json:"groups"`
		}
		Expect(yaml.Unmarshal(data, &want)).To(Succeed())
		Expect(want.Groups).NotTo(BeEmpty())
		// Prometheus's own {{ $labels.… }} templates come through as
		// written: equal as data, not rendered by Helm.
		got, _, err := unstructured.NestedSlice(rule.Object, "spec", "groups")
		Expect(err).NotTo(HaveOccurred())
		Expect(got).To(Equal(want.Groups), "the chart's rules differ from config/prometheus/rules.yaml: run make chart")
	})

	It("turns the metrics endpoint off, with its Service and rights", func() {
		objs := helmTemplate("--set", "metrics.enabled=false")
		Expect(ofKind(objs, "Service")).To(BeEmpty())
		Expect(ofKind(objs, "ClusterRoleBinding")).To(ConsistOf("quorum-manager-rolebinding"))
		d := as[appsv1.Deployment](find(objs, "Deployment", "quorum-controller-manager"))
		Expect(d.Spec.Template.Spec.Containers[0].Args).To(ContainElement("--metrics-bind-address=0"))
	})

	DescribeTable("refuses values it cannot honour, naming the value",
		func(want string, args ...string) {
			out, err := tryRun(nil, helm, append([]string{"template", release, chartDir, "--namespace", releaseNamespace}, args...)...)
			Expect(err).To(HaveOccurred(), "helm template accepted %v:\n%s", args, out)
			Expect(out).To(ContainSubstring(want))
		},
		Entry("replicas as a word", "replicas", "--set-string", "replicas=two"),
		Entry("an unknown top-level value", "replica", "--set", "replica=2"),
		Entry("an unknown image field", "registry", "--set", "image.registry=x"),
		Entry("a pull policy Kubernetes does not know", "pullPolicy", "--set", "image.pullPolicy=Sometimes"),
		Entry("a watched namespace that is not a name", "watchNamespaces", "--set", "watchNamespaces={Team_A}"),
		Entry("a log level zap does not know", "logLevel", "--set", "logLevel=verbose"),
		Entry("an extra argument that is not a flag", "extraArgs", "--set", "extraArgs={max-concurrent-reconciles}"),
		Entry("several replicas without leader election", "leaderElection", "--set", "replicas=2", "--set", "leaderElection=false"),
		Entry("a ServiceMonitor without metrics", "metrics.enabled", "--set", "metrics.enabled=false", "--set", "metrics.serviceMonitor.enabled=true"),
	)
})

// chartMetadata is the version part of Chart.yaml.
func chartMetadata() (m struct {
	Version    string `json:"version"`
	AppVersion string `json:"appVersion"`
}) {
	GinkgoHelper()
	data, err := os.ReadFile(filepath.Join(chartDir, "Chart.yaml"))
	Expect(err).NotTo(HaveOccurred())
	Expect(yaml.Unmarshal(data, &m)).To(Succeed())
	return m
}
