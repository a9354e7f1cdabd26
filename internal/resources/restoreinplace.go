package resources

import (
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
)

// inPlaceRestoreContainer restores an existing cluster's members in place
// (an EtcdRestore): `manager restore --in-place=<restore ID>`.
const inPlaceRestoreContainer = "restore-in-place"

const inPlaceArg = "--in-place="

// RestoreToken is the initial cluster token of a cluster restored in place
// by the restore id: a new token gives new member IDs and a new cluster
// ID, so no member of the cluster before can talk to one after.
func RestoreToken(c *etcdv1alpha1.EtcdCluster, id string) string {
	return ClusterToken(c) + "-restore-" + id
}

// WithInPlaceRestore is the member template t with the init container that
// restores src into every member's data directory for the restore id,
// moving the data there aside. It runs first, before the member guard:
// the guard then sees the restored data, which is how an in-place restore
// passes it deliberately. Its initial cluster (size members), token and
// state are in its arguments, not read from the bootstrap ConfigMap, so no
// write to that ConfigMap can change what a member restores. Any restore
// container t had (a bootstrap's) is replaced. The pod template's hash
// annotation is kept: the restore restarts every member by itself.
func WithInPlaceRestore(t *corev1.PodTemplateSpec, c *etcdv1alpha1.EtcdCluster, src RestoreSource, image, id string, size int) corev1.PodTemplateSpec {
	out := *t.DeepCopy()
	out.Spec.InitContainers = slices.DeleteFunc(out.Spec.InitContainers, func(ic corev1.Container) bool { return isRestoreContainer(ic.Name) })
	out.Spec.Volumes = slices.DeleteFunc(out.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == restoreVolume })

	var scratch corev1.PodTemplateSpec
	AddRestore(&scratch, c, src, image)
	ic := scratch.Spec.InitContainers[0]
	ic.Name = inPlaceRestoreContainer
	ic.EnvFrom = nil
	ic.Args = slices.DeleteFunc(ic.Args, func(a string) bool { return strings.HasPrefix(a, "--initial-cluster") })
	ic.Args = append(ic.Args,
		"--initial-cluster="+InitialCluster(c, InitialMembers(c, size)),
		"--initial-cluster-token="+RestoreToken(c, id),
		"--initial-cluster-state="+InitialClusterStateNew,
		inPlaceArg+id)
	out.Spec.InitContainers = append([]corev1.Container{ic}, out.Spec.InitContainers...)
	out.Spec.Volumes = append(out.Spec.Volumes, scratch.Spec.Volumes...)
	return out
}

// WithoutInPlaceRestore is t without the in-place restore container and
// its volume: what members run once the restore is done, so that a member
// whose claim is lost later is stopped by the member guard rather than
// restored from the old snapshot under its old identity.
func WithoutInPlaceRestore(t *corev1.PodTemplateSpec) corev1.PodTemplateSpec {
	out := *t.DeepCopy()
	out.Spec.InitContainers = slices.DeleteFunc(out.Spec.InitContainers, func(ic corev1.Container) bool { return ic.Name == inPlaceRestoreContainer })
	out.Spec.Volumes = slices.DeleteFunc(out.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == restoreVolume })
	return out
}

// InPlaceRestoreID is the restore a member template restores in place for,
// or "".
func InPlaceRestoreID(t *corev1.PodTemplateSpec) string {
	for _, ic := range t.Spec.InitContainers {
		if ic.Name != inPlaceRestoreContainer {
			continue
		}
		for _, a := range ic.Args {
			if id, ok := strings.CutPrefix(a, inPlaceArg); ok {
				return id
			}
		}
	}
	return ""
}

// InPlaceRestoreMembers is how many members the in-place restore of a
// member template restores (its initial cluster), or 0.
func InPlaceRestoreMembers(t *corev1.PodTemplateSpec) int {
	for _, ic := range t.Spec.InitContainers {
		if ic.Name != inPlaceRestoreContainer {
			continue
		}
		for _, a := range ic.Args {
			if list, ok := strings.CutPrefix(a, "--initial-cluster="); ok {
				return len(strings.Split(list, ","))
			}
		}
	}
	return 0
}

func isRestoreContainer(name string) bool {
	return name == restoreContainer || name == inPlaceRestoreContainer
}
