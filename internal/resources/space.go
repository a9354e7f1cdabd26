package resources

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
)

// Disk space defaults (docs/operations.md, "Disk space").
//
// A member's volume holds more than its database: the write-ahead log
// (etcd keeps 5 segments of 64 MiB and preallocates the next one: 384 MiB)
// and, while a defragmentation or an incoming snapshot runs, a second copy
// of the data, written before the old file is removed. The database file
// also outgrows the quota by up to one of bbolt's growth steps (a 16 MiB
// quota filled to NOSPACE left a 25 MiB file; internal/etcd/space_test.go).
// So 512 MiB are kept for the log and that slack, and the database gets
// half of the rest: quota = (S - 512 MiB) / 2, 256 MiB of the default
// 1 GiB claim. It is never less than a quarter of S (small volumes see
// little log), nor above 8 GiB, the largest quota etcd suggests.
const (
	reservedBytes   = 512 << 20
	maxDefaultQuota = 8 << 30

	// DefaultAutoCompactionMode and DefaultAutoCompactionRetention keep
	// the last 10000 revisions of history; etcd compacts older ones
	// every 5 minutes. A retention of "0" turns auto-compaction off.
	DefaultAutoCompactionMode      = "revision"
	DefaultAutoCompactionRetention = "10000"
)

// DefaultQuota is the quota of a cluster that sets none, from the size of
// its volume: the claim's size, or an emptyDir's sizeLimit. An emptyDir
// without a limit has no size to go by: etcd's own default stays.
func DefaultQuota(c *etcdv1alpha1.EtcdCluster) (int64, bool) {
	size, ok := volumeSize(c)
	if !ok {
		return 0, false
	}
	return QuotaForVolume(size), true
}

// QuotaForVolume is the default quota for a volume of size bytes.
func QuotaForVolume(size int64) int64 {
	return min(max((size-reservedBytes)/2, size/4), maxDefaultQuota)
}

func volumeSize(c *etcdv1alpha1.EtcdCluster) (int64, bool) {
	s := c.Spec.Storage
	switch {
	case s != nil && s.EmptyDir != nil && s.EmptyDir.SizeLimit != nil:
		return s.EmptyDir.SizeLimit.Value(), true
	case s != nil && s.EmptyDir != nil:
		return 0, false
	case s != nil && s.Size != nil:
		return s.Size.Value(), true
	}
	q := resource.MustParse(DefaultStorageSize)
	return q.Value(), true
}

// spaceDefaultEnv sets what spec.options leaves unset of the quota and
// auto-compaction to the defaults above.
func spaceDefaultEnv(c *etcdv1alpha1.EtcdCluster) []corev1.EnvVar {
	o := c.Spec.Options
	if o == nil {
		o = &etcdv1alpha1.EtcdOptions{}
	}
	var env []corev1.EnvVar
	if q, ok := DefaultQuota(c); ok && o.QuotaBackendBytes == nil {
		env = append(env, corev1.EnvVar{Name: "ETCD_QUOTA_BACKEND_BYTES", Value: fmt.Sprint(q)})
	}
	mode := o.AutoCompactionMode
	if mode == "" {
		mode = DefaultAutoCompactionMode
		env = append(env, corev1.EnvVar{Name: "ETCD_AUTO_COMPACTION_MODE", Value: mode})
	}
	if mode == DefaultAutoCompactionMode && o.AutoCompactionRetention == "" {
		env = append(env, corev1.EnvVar{Name: "ETCD_AUTO_COMPACTION_RETENTION", Value: DefaultAutoCompactionRetention})
	}
	return env
}
