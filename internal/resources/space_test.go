package resources

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
)

func TestQuotaForVolumeLeavesRoomForTheLogAndASecondCopy(t *testing.T) {
	const mi, gi = int64(1 << 20), int64(1 << 30)
	for _, tc := range []struct {
		volume, want int64
	}{
		{1 * gi, 256 * mi},   // the default claim
		{2 * gi, 768 * mi},   // (2048-512)/2
		{10 * gi, 4864 * mi}, // (10240-512)/2
		{512 * mi, 128 * mi}, // a quarter: (512-512)/2 would be 0
		{100 * gi, 8 * gi},   // etcd's suggested maximum
		{64 * mi, 16 * mi},   // a tiny emptyDir limit
	} {
		got := QuotaForVolume(tc.volume)
		if got != tc.want {
			t.Errorf("QuotaForVolume(%d MiB) = %d MiB, want %d MiB", tc.volume/mi, got/mi, tc.want/mi)
		}
		// A defragmentation writes a second copy of the data next to the
		// first: both must fit the volume.
		if 2*got > tc.volume {
			t.Errorf("QuotaForVolume(%d MiB) = %d MiB: two copies do not fit the volume", tc.volume/mi, got/mi)
		}
	}
}

func TestSpaceDefaultsInTheMemberEnvironment(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func(*etcdv1alpha1.EtcdCluster)
		want  map[string]string // "" means absent
		quota int64
	}{{
		name:  "defaults from the 1Gi claim",
		edit:  func(*etcdv1alpha1.EtcdCluster) {},
		want:  map[string]string{"ETCD_QUOTA_BACKEND_BYTES": "268435456", "ETCD_AUTO_COMPACTION_MODE": "revision", "ETCD_AUTO_COMPACTION_RETENTION": "10000"},
		quota: 256 << 20,
	}, {
		name: "the spec's settings win",
		edit: func(c *etcdv1alpha1.EtcdCluster) {
			c.Spec.Options = &etcdv1alpha1.EtcdOptions{QuotaBackendBytes: ptr.To(resource.MustParse("100Mi")), AutoCompactionMode: "periodic", AutoCompactionRetention: "1h"}
		},
		want:  map[string]string{"ETCD_QUOTA_BACKEND_BYTES": "104857600", "ETCD_AUTO_COMPACTION_MODE": "periodic", "ETCD_AUTO_COMPACTION_RETENTION": "1h"},
		quota: 100 << 20,
	}, {
		name: "periodic mode without a retention is left as the spec says",
		edit: func(c *etcdv1alpha1.EtcdCluster) {
			c.Spec.Options = &etcdv1alpha1.EtcdOptions{AutoCompactionMode: "periodic"}
		},
		want:  map[string]string{"ETCD_AUTO_COMPACTION_MODE": "periodic", "ETCD_AUTO_COMPACTION_RETENTION": ""},
		quota: 256 << 20,
	}, {
		name: "a retention of 0 turns compaction off",
		edit: func(c *etcdv1alpha1.EtcdCluster) {
			c.Spec.Options = &etcdv1alpha1.EtcdOptions{AutoCompactionRetention: "0"}
		},
		want:  map[string]string{"ETCD_AUTO_COMPACTION_MODE": "revision", "ETCD_AUTO_COMPACTION_RETENTION": "0"},
		quota: 256 << 20,
	}, {
		name: "an emptyDir with a size limit",
		edit: func(c *etcdv1alpha1.EtcdCluster) {
			c.Spec.Storage = &etcdv1alpha1.StorageSpec{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: ptr.To(resource.MustParse("2Gi"))}}
		},
		want:  map[string]string{"ETCD_QUOTA_BACKEND_BYTES": "805306368"},
		quota: 768 << 20,
	}, {
		name: "an emptyDir without a limit keeps etcd's quota",
		edit: func(c *etcdv1alpha1.EtcdCluster) {
			c.Spec.Storage = &etcdv1alpha1.StorageSpec{EmptyDir: &corev1.EmptyDirVolumeSource{}}
		},
		want:  map[string]string{"ETCD_QUOTA_BACKEND_BYTES": ""},
		quota: DefaultQuotaBackendBytes,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			c := testCluster()
			tc.edit(c)
			env := map[string]string{}
			counts := map[string]int{}
			for _, e := range etcdContainer(c).Env {
				env[e.Name] = e.Value
				counts[e.Name]++
			}
			for name, want := range tc.want {
				if env[name] != want {
					t.Errorf("%s = %q, want %q", name, env[name], want)
				}
				if counts[name] > 1 {
					t.Errorf("%s is set %d times", name, counts[name])
				}
			}
			if got := QuotaBackendBytes(c); got != tc.quota {
				t.Errorf("QuotaBackendBytes = %d, want %d", got, tc.quota)
			}
		})
	}
}
