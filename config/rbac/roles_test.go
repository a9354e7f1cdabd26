package rbac_test

import (
	"context"
	"os"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
	"github.com/quorum-operator/quorum/internal/testenv"
)

// The roles for people, as shipped in this directory, in a real
// kube-apiserver with RBAC (envtest). envtest runs no
// kube-controller-manager, so the ClusterRole aggregation controller does
// not fill the built-in admin, edit and view roles here: each of our roles
// is bound directly, and what aggregation adds is checked apart (its
// labels against the built-in roles' selectors). test/e2e/selfservice_test.go
// binds the built-in edit role on a real cluster.
var (
	ctx    context.Context
	cfg    *rest.Config
	admin  client.Client
	scheme = runtime.NewScheme()
)

func TestRoles(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "RBAC roles for people (envtest)")
}

var _ = BeforeSuite(func() {
	ctx = context.Background()
	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	Expect(etcdv1alpha1.AddToScheme(scheme)).To(Succeed())
	env, err := testenv.Start(scheme)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(env.Stop)
	cfg, admin = env.Config, env.Client
})

// clusterRole reads a ClusterRole from a file of this directory.
func clusterRole(file string) *rbacv1.ClusterRole {
	GinkgoHelper()
	data, err := os.ReadFile(file)
	Expect(err).NotTo(HaveOccurred())
	role := &rbacv1.ClusterRole{}
	Expect(yaml.UnmarshalStrict(data, role)).To(Succeed(), file)
	Expect(role.Kind).To(Equal("ClusterRole"), file)
	return role
}

func newNamespace() string {
	GinkgoHelper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "team-"}}
	Expect(admin.Create(ctx, ns)).To(Succeed())
	DeferCleanup(func() { Expect(admin.Delete(ctx, ns)).To(Succeed()) })
	return ns.Name
}

// bind gives user the ClusterRole role in namespace, as a namespace admin
// would with 'kubectl create rolebinding'.
func bind(namespace, user, role string) {
	GinkgoHelper()
	rb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{GenerateName: user + "-", Namespace: namespace},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}},
	}
	Expect(admin.Create(ctx, rb)).To(Succeed())
}

// userConfig acts as user: the admin impersonates it.
func userConfig(user string) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: []string{"system:authenticated"}}
	return c
}

// as is a client that acts as user.
func as(user string) client.Client {
	GinkgoHelper()
	cl, err := client.New(userConfig(user), client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	return cl
}

func cluster(ns, name string) *etcdv1alpha1.EtcdCluster {
	return &etcdv1alpha1.EtcdCluster{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       etcdv1alpha1.EtcdClusterSpec{Size: 1, Version: "3.6.16"},
	}
}

func backup(ns, name, clusterName string) *etcdv1alpha1.EtcdBackup {
	return &etcdv1alpha1.EtcdBackup{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: etcdv1alpha1.EtcdBackupSpec{ClusterName: clusterName, Destination: etcdv1alpha1.BackupDestination{
			PersistentVolumeClaim: &etcdv1alpha1.PVCLocation{ClaimName: "backups"}}},
	}
}

func schedule(ns, name, clusterName string) *etcdv1alpha1.EtcdBackupSchedule {
	return &etcdv1alpha1.EtcdBackupSchedule{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       etcdv1alpha1.EtcdBackupScheduleSpec{Schedule: "@every 1h", BackupTemplate: backup(ns, "", clusterName).Spec},
	}
}

func expectForbidden(err error) {
	GinkgoHelper()
	Expect(apierrors.IsForbidden(err)).To(BeTrue(), "want Forbidden, got: %v", err)
}

var _ = Describe("The roles for people in config/rbac", Ordered, func() {
	var editor, viewer *rbacv1.ClusterRole
	var mine, other string

	BeforeAll(func() {
		editor = clusterRole("etcd_editor_role.yaml")
		viewer = clusterRole("etcd_viewer_role.yaml")
		mine, other = newNamespace(), newNamespace()
		bind(mine, "editor", editor.Name)
		bind(mine, "viewer", viewer.Name)
	})

	It("are needed: a user bound to them before they exist may do nothing", func() {
		expectForbidden(as("editor").Create(ctx, cluster(mine, "early")))
		expectForbidden(as("viewer").List(ctx, &etcdv1alpha1.EtcdClusterList{}, client.InNamespace(mine)))
	})

	It("aggregate into the built-in admin, edit and view roles", func() {
		aggregatedInto := func(role *rbacv1.ClusterRole) []string {
			GinkgoHelper()
			var into []string
			for _, builtin := range []string{"admin", "edit", "view"} {
				var r rbacv1.ClusterRole
				Expect(admin.Get(ctx, client.ObjectKey{Name: builtin}, &r)).To(Succeed())
				Expect(r.AggregationRule).NotTo(BeNil(), builtin)
				for _, sel := range r.AggregationRule.ClusterRoleSelectors {
					s, err := metav1.LabelSelectorAsSelector(&sel)
					Expect(err).NotTo(HaveOccurred())
					if s.Matches(labels.Set(role.Labels)) {
						into = append(into, builtin)
					}
				}
			}
			return into
		}
		Expect(aggregatedInto(editor)).To(ConsistOf("admin", "edit"))
		Expect(aggregatedInto(viewer)).To(ConsistOf("view"))
	})

	It("let an editor create, scale and delete clusters, backups and schedules in its namespace", func() {
		Expect(admin.Create(ctx, editor.DeepCopy())).To(Succeed())
		Expect(admin.Create(ctx, viewer.DeepCopy())).To(Succeed())
		ed := as("editor")
		// The RBAC authorizer learns of new roles through its informers.
		Eventually(func() error { return ed.Create(ctx, cluster(mine, "example")) }, 10*time.Second, 100*time.Millisecond).Should(Succeed())
		Expect(ed.Create(ctx, backup(mine, "example-1", "example"))).To(Succeed())
		Expect(ed.Create(ctx, schedule(mine, "nightly", "example"))).To(Succeed())

		var c etcdv1alpha1.EtcdCluster
		Expect(ed.Get(ctx, client.ObjectKey{Namespace: mine, Name: "example"}, &c)).To(Succeed())
		Expect(ed.List(ctx, &etcdv1alpha1.EtcdBackupList{}, client.InNamespace(mine))).To(Succeed())
		Expect(ed.List(ctx, &etcdv1alpha1.EtcdBackupScheduleList{}, client.InNamespace(mine))).To(Succeed())
		c.Spec.Paused = true
		Expect(ed.Update(ctx, &c)).To(Succeed())
		Expect(ed.Patch(ctx, &c, client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"paused":false}}`)))).To(Succeed())

		By("scaling through the scale subresource, as 'kubectl scale' does")
		scale := &autoscalingv1.Scale{}
		Expect(ed.SubResource("scale").Get(ctx, &c, scale)).To(Succeed())
		Expect(scale.Spec.Replicas).To(BeEquivalentTo(1))
		scale.Spec.Replicas = 3
		Expect(ed.SubResource("scale").Update(ctx, &c, client.WithSubResourceBody(scale))).To(Succeed())
		Expect(ed.Get(ctx, client.ObjectKeyFromObject(&c), &c)).To(Succeed())
		Expect(c.Spec.Size).To(BeEquivalentTo(3))

		By("never writing status, which is the operator's")
		c.Status.Phase = etcdv1alpha1.PhaseRunning
		expectForbidden(ed.Status().Update(ctx, &c))

		By("deleting one object and a whole collection")
		Expect(ed.Delete(ctx, schedule(mine, "nightly", "example"))).To(Succeed())
		Expect(ed.DeleteAllOf(ctx, &etcdv1alpha1.EtcdBackup{}, client.InNamespace(mine))).To(Succeed())
	})

	It("give an editor nothing in another namespace", func() {
		ed := as("editor")
		expectForbidden(ed.Create(ctx, cluster(other, "example")))
		expectForbidden(ed.Create(ctx, backup(other, "example-1", "example")))
		expectForbidden(ed.Create(ctx, schedule(other, "nightly", "example")))
		expectForbidden(ed.List(ctx, &etcdv1alpha1.EtcdClusterList{}, client.InNamespace(other)))
		expectForbidden(ed.List(ctx, &etcdv1alpha1.EtcdClusterList{}))
		Expect(admin.Create(ctx, cluster(other, "theirs"))).To(Succeed())
		expectForbidden(ed.Get(ctx, client.ObjectKey{Namespace: other, Name: "theirs"}, &etcdv1alpha1.EtcdCluster{}))
		expectForbidden(ed.Delete(ctx, cluster(other, "theirs")))
	})

	It("let a viewer get and list everything in its namespace, and change nothing", func() {
		vw := as("viewer")
		var c etcdv1alpha1.EtcdCluster
		Expect(vw.Get(ctx, client.ObjectKey{Namespace: mine, Name: "example"}, &c)).To(Succeed())
		Expect(vw.List(ctx, &etcdv1alpha1.EtcdClusterList{}, client.InNamespace(mine))).To(Succeed())
		Expect(vw.List(ctx, &etcdv1alpha1.EtcdBackupList{}, client.InNamespace(mine))).To(Succeed())
		Expect(vw.List(ctx, &etcdv1alpha1.EtcdBackupScheduleList{}, client.InNamespace(mine))).To(Succeed())
		Expect(vw.SubResource("scale").Get(ctx, &c, &autoscalingv1.Scale{})).To(Succeed())
		raw, err := kubernetes.NewForConfig(userConfig("viewer"))
		Expect(err).NotTo(HaveOccurred())
		Expect(raw.Discovery().RESTClient().Get().
			AbsPath("/apis/etcd.quorum.dev/v1alpha1/namespaces", mine, "etcdclusters", "example", "status").Do(ctx).Error()).To(Succeed())

		expectForbidden(vw.Create(ctx, cluster(mine, "mine")))
		expectForbidden(vw.Create(ctx, backup(mine, "example-2", "example")))
		expectForbidden(vw.Create(ctx, schedule(mine, "hourly", "example")))
		c.Spec.Paused = true
		expectForbidden(vw.Update(ctx, &c))
		expectForbidden(vw.SubResource("scale").Update(ctx, &c, client.WithSubResourceBody(&autoscalingv1.Scale{Spec: autoscalingv1.ScaleSpec{Replicas: 5}})))
		expectForbidden(vw.Delete(ctx, cluster(mine, "example")))
		expectForbidden(vw.List(ctx, &etcdv1alpha1.EtcdClusterList{}, client.InNamespace(other)))
	})
})
