package controller

import (
	"github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
)

// newTestNamespace is a namespace of its own for a spec, deleted after it.
func newTestNamespace(prefix string) string {
	ginkgo.GinkgoHelper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix}}
	Expect(k8sClient.Create(ctx, ns)).To(Succeed())
	ginkgo.DeferCleanup(func() { Expect(k8sClient.Delete(ctx, ns)).To(Succeed()) })
	return ns.Name
}

// createTestCluster creates an EtcdCluster, removed after the spec so it
// stops reconciling against the shared fake etcd.
func createTestCluster(ns, name string, spec etcdv1alpha1.EtcdClusterSpec) *etcdv1alpha1.EtcdCluster {
	ginkgo.GinkgoHelper()
	c := &etcdv1alpha1.EtcdCluster{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: spec}
	Expect(k8sClient.Create(ctx, c)).To(Succeed())
	ginkgo.DeferCleanup(func() { Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, c))).To(Succeed()) })
	return c
}
