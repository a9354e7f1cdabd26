package resources

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

// nonRootID is the user and group every pod the operator creates runs as:
// the operator's image and the etcd images carry no user database, and
// 65532 is the conventional "nonroot" of distroless images.
const nonRootID int64 = 65532

// restrictedPod is the pod security context that meets the Pod Security
// Standard "restricted". fsGroup makes volumes that support ownership
// management writable by the non-root user; OnRootMismatch keeps a
// restart from walking a large data directory.
func restrictedPod() *corev1.PodSecurityContext {
	return &corev1.PodSecurityContext{
		RunAsNonRoot:        ptr.To(true),
		RunAsUser:           ptr.To(nonRootID),
		RunAsGroup:          ptr.To(nonRootID),
		FSGroup:             ptr.To(nonRootID),
		FSGroupChangePolicy: ptr.To(corev1.FSGroupChangeOnRootMismatch),
		SeccompProfile:      &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

// restrictedContainer is the container security context of "restricted",
// with a read-only root filesystem: etcd and the operator's commands write
// only to their volumes.
func restrictedContainer() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr.To(false),
		ReadOnlyRootFilesystem:   ptr.To(true),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	}
}
