package e2e

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
)

// Namespaced self-service: the operator's roles for people aggregate into
// the built-in admin, edit and view ClusterRoles (config/rbac), so a
// namespace's editors run etcd there without any cluster-wide right. Here
// the real ClusterRole aggregation controller fills those roles; the
// envtest in config/rbac checks the roles' own rules.
var _ = Describe("Namespaced self-service", Label("selfservice"), func() {
	It("lets a user with the built-in edit role in a namespace create a cluster and back it up there, and nowhere else", func() {
		ns, other := newNamespace(), newNamespace()
		editor, viewer := "e2e-editor@"+ns, "e2e-viewer@"+ns
		bindBuiltin(ns, editor, "edit")
		bindBuiltin(ns, viewer, "view")
		ed, vw := impersonate(editor), impersonate(viewer)

		By("creating a 1-member cluster as the editor")
		cluster := &etcdv1alpha1.EtcdCluster{
			ObjectMeta: metav1.ObjectMeta{Name: "mine", Namespace: ns},
			Spec:       etcdv1alpha1.EtcdClusterSpec{Size: 1, Version: etcdVersion},
		}
		// Allowed as soon as the authorizer sees the RoleBinding and the
		// aggregated edit role (both are read through informers).
		Eventually(func() error { return ed.Create(ctx, cluster) }, time.Minute, time.Second).Should(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(ed.Get(ctx, client.ObjectKeyFromObject(cluster), cluster)).To(Succeed())
			g.Expect(meta.IsStatusConditionTrue(cluster.Status.Conditions, etcdv1alpha1.ConditionAvailable)).To(BeTrue(), "conditions: %+v", cluster.Status.Conditions)
			g.Expect(cluster.Status.ReadyMembers).To(BeEquivalentTo(1))
		}, 5*time.Minute, 2*time.Second).Should(Succeed())

		By("backing it up to a claim, as the editor")
		claim := &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: "backups", Namespace: ns},
			Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
			},
		}
		Expect(ed.Create(ctx, claim)).To(Succeed())
		backup := &etcdv1alpha1.EtcdBackup{
			ObjectMeta: metav1.ObjectMeta{Name: "mine-1", Namespace: ns},
			Spec: etcdv1alpha1.EtcdBackupSpec{ClusterName: cluster.Name, Destination: etcdv1alpha1.BackupDestination{
				PersistentVolumeClaim: &etcdv1alpha1.PVCLocation{ClaimName: claim.Name, Directory: "etcd"}}},
		}
		Expect(ed.Create(ctx, backup)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(ed.Get(ctx, client.ObjectKeyFromObject(backup), backup)).To(Succeed())
			g.Expect(backup.Status.Phase).To(Equal(etcdv1alpha1.BackupSucceeded), "status: %+v", backup.Status)
		}, 3*time.Minute, time.Second).Should(Succeed())
		Expect(backup.Status.SHA256).To(HaveLen(64))

		By("reading and writing its scale subresource as the editor, as 'kubectl scale' does")
		scale := &autoscalingv1.Scale{}
		Expect(ed.SubResource("scale").Get(ctx, cluster, scale)).To(Succeed())
		Expect(scale.Spec.Replicas).To(BeEquivalentTo(1))
		Expect(ed.SubResource("scale").Update(ctx, cluster, client.WithSubResourceBody(scale))).To(Succeed())

		By("refusing the editor everything in another namespace")
		theirs := &etcdv1alpha1.EtcdCluster{
			ObjectMeta: metav1.ObjectMeta{Name: "theirs", Namespace: other},
			Spec:       etcdv1alpha1.EtcdClusterSpec{Size: 1, Version: etcdVersion},
		}
		expectForbidden(ed.Create(ctx, theirs))
		expectForbidden(ed.Create(ctx, &etcdv1alpha1.EtcdBackup{
			ObjectMeta: metav1.ObjectMeta{Name: "theirs-1", Namespace: other},
			Spec: etcdv1alpha1.EtcdBackupSpec{ClusterName: "theirs", Destination: etcdv1alpha1.BackupDestination{
				PersistentVolumeClaim: &etcdv1alpha1.PVCLocation{ClaimName: "backups"}}},
		}))
		expectForbidden(ed.List(ctx, &etcdv1alpha1.EtcdClusterList{}, client.InNamespace(other)))
		expectForbidden(ed.List(ctx, &etcdv1alpha1.EtcdBackupList{}, client.InNamespace(other)))

		By("letting a user with the built-in view role read, and nothing more")
		Expect(vw.Get(ctx, client.ObjectKeyFromObject(cluster), &etcdv1alpha1.EtcdCluster{})).To(Succeed())
		Expect(vw.List(ctx, &etcdv1alpha1.EtcdBackupList{}, client.InNamespace(ns))).To(Succeed())
		expectForbidden(vw.Create(ctx, &etcdv1alpha1.EtcdBackup{
			ObjectMeta: metav1.ObjectMeta{Name: "mine-2", Namespace: ns},
			Spec:       backup.Spec,
		}))
		expectForbidden(vw.Delete(ctx, cluster))
	})
})

// bindBuiltin binds the built-in ClusterRole role (admin, edit or view) to
// user in namespace, as a namespace admin would.
func bindBuiltin(namespace, user, role string) {
	GinkgoHelper()
	Expect(k8sClient.Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{GenerateName: role + "-", Namespace: namespace},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}},
	})).To(Succeed())
}

// impersonate is a client that acts as user: the suite's admin credentials
// impersonate it, with the group every authenticated user has (discovery).
func impersonate(user string) client.Client {
	GinkgoHelper()
	cfg, err := ctrl.GetConfig()
	Expect(err).NotTo(HaveOccurred())
	cfg = rest.CopyConfig(cfg)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: []string{"system:authenticated"}}
	c, err := client.New(cfg, client.Options{Scheme: k8sClient.Scheme()})
	Expect(err).NotTo(HaveOccurred())
	return c
}

func expectForbidden(err error) {
	GinkgoHelper()
	Expect(apierrors.IsForbidden(err)).To(BeTrue(), "want Forbidden, got: %v", err)
}
