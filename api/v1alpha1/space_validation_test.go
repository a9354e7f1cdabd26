package v1alpha1_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
)

func withQuota(c *etcdv1alpha1.EtcdCluster, quota string) {
	c.Spec.Options = &etcdv1alpha1.EtcdOptions{QuotaBackendBytes: ptr.To(resource.MustParse(quota))}
}

func withClaim(c *etcdv1alpha1.EtcdCluster, size string) {
	c.Spec.Storage = &etcdv1alpha1.StorageSpec{Size: ptr.To(resource.MustParse(size))}
}

var _ = Describe("Disk space settings", func() {
	const tooBig = "options.quotaBackendBytes may not exceed the member's volume"

	DescribeTable("refuses a quota larger than the member's volume",
		func(mutate func(*etcdv1alpha1.EtcdCluster)) {
			c := validCluster(newNamespace())
			mutate(c)
			expectInvalid(k8sClient.Create(ctx, c), tooBig)
		},
		Entry("above the default 1Gi claim", func(c *etcdv1alpha1.EtcdCluster) { withQuota(c, "2Gi") }),
		Entry("above the claim's size", func(c *etcdv1alpha1.EtcdCluster) { withClaim(c, "4Gi"); withQuota(c, "5Gi") }),
		Entry("above the claim's size, in bytes", func(c *etcdv1alpha1.EtcdCluster) {
			withClaim(c, "500Mi")
			withQuota(c, "524288001")
		}),
		Entry("above an emptyDir's size limit", func(c *etcdv1alpha1.EtcdCluster) {
			c.Spec.Storage = &etcdv1alpha1.StorageSpec{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: ptr.To(resource.MustParse("256Mi"))}}
			withQuota(c, "300Mi")
		}),
	)

	DescribeTable("accepts a quota the volume holds",
		func(mutate func(*etcdv1alpha1.EtcdCluster)) {
			c := validCluster(newNamespace())
			mutate(c)
			Expect(k8sClient.Create(ctx, c)).To(Succeed())
		},
		Entry("no quota", func(*etcdv1alpha1.EtcdCluster) {}),
		Entry("the whole default claim", func(c *etcdv1alpha1.EtcdCluster) { withQuota(c, "1Gi") }),
		Entry("within the claim, in another unit", func(c *etcdv1alpha1.EtcdCluster) { withClaim(c, "8G"); withQuota(c, "7Gi") }),
		Entry("any quota on an emptyDir without a limit", func(c *etcdv1alpha1.EtcdCluster) {
			c.Spec.Storage = &etcdv1alpha1.StorageSpec{EmptyDir: &corev1.EmptyDirVolumeSource{}}
			withQuota(c, "4Gi")
		}),
	)

	// YAML written by hand gives the quota as a number; CEL then sees an
	// int, not a string, and the rule must read it all the same.
	It("reads a quota written as a number", func() {
		for _, tc := range []struct {
			quota int64
			valid bool
		}{{256 << 20, true}, {4 << 30, false}} {
			c := validCluster(newNamespace())
			c.SetGroupVersionKind(etcdv1alpha1.GroupVersion.WithKind("EtcdCluster"))
			raw, err := runtime.DefaultUnstructuredConverter.ToUnstructured(c)
			Expect(err).NotTo(HaveOccurred())
			u := &unstructured.Unstructured{Object: raw}
			Expect(unstructured.SetNestedField(u.Object, tc.quota, "spec", "options", "quotaBackendBytes")).To(Succeed())
			if err := k8sClient.Create(ctx, u); tc.valid {
				Expect(err).NotTo(HaveOccurred(), "a numeric quota of %d", tc.quota)
			} else {
				expectInvalid(err, tooBig)
			}
		}
	})

	It("refuses raising the quota above the claim later", func() {
		c := validCluster(newNamespace())
		withClaim(c, "2Gi")
		withQuota(c, "1Gi")
		Expect(k8sClient.Create(ctx, c)).To(Succeed())
		withQuota(c, "3Gi")
		expectInvalid(k8sClient.Update(ctx, c), tooBig)
		withQuota(c, "2Gi")
		Expect(k8sClient.Update(ctx, c)).To(Succeed())
	})

	DescribeTable("refuses a defragmentation policy that says nothing or cannot be read",
		func(policy etcdv1alpha1.DefragPolicy, message string) {
			c := validCluster(newNamespace())
			c.Spec.Maintenance = &etcdv1alpha1.MaintenanceSpec{Defrag: &policy}
			expectInvalid(k8sClient.Create(ctx, c), message)
		},
		Entry("neither a schedule nor a threshold", etcdv1alpha1.DefragPolicy{}, "defrag needs a schedule, a fragmentationThresholdPercent, or both"),
		Entry("a schedule that is a word", etcdv1alpha1.DefragPolicy{Schedule: "daily"}, "schedule must be a cron expression of 5 fields"),
		Entry("a schedule with 6 fields", etcdv1alpha1.DefragPolicy{Schedule: "0 0 3 * * *"}, "schedule must be a cron expression of 5 fields"),
		Entry("a threshold below 10%", etcdv1alpha1.DefragPolicy{FragmentationThresholdPercent: ptr.To[int32](5)}, "should be greater than or equal to 10"),
	)

	It("accepts a schedule, a threshold, or both", func() {
		ns := newNamespace()
		for _, policy := range []etcdv1alpha1.DefragPolicy{
			{Schedule: "0 3 * * *"},
			{Schedule: "@every 24h"},
			{FragmentationThresholdPercent: ptr.To[int32](50), MinDBSize: ptr.To(resource.MustParse("100Mi"))},
			{Schedule: "@daily", FragmentationThresholdPercent: ptr.To[int32](30)},
		} {
			c := validCluster(ns)
			c.Spec.Maintenance = &etcdv1alpha1.MaintenanceSpec{Defrag: &policy}
			Expect(k8sClient.Create(ctx, c)).To(Succeed(), "policy %+v", policy)
		}
	})
})
