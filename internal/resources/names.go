package resources

import (
	"fmt"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
)

// Ports of an etcd member.
const (
	ClientPort  = 2379
	PeerPort    = 2380
	MetricsPort = 2381
)

// DataVolumeName is the member data volume; the StatefulSet names each
// member's claim DataVolumeName-<pod name>.
const DataVolumeName = "data"

// DefaultStorageSize is each member's claim when spec.storage.size is unset.
const DefaultStorageSize = "1Gi"

// Labels on everything the operator makes for a cluster.
const (
	LabelName      = "app.kubernetes.io/name"
	LabelInstance  = "app.kubernetes.io/instance"
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// LabelCluster selects the member pods of one cluster.
	LabelCluster = "etcd.quorum.dev/cluster"
	// LabelJob names the Job of a backup, on the Job and its pods.
	LabelJob = "etcd.quorum.dev/job"
)

// StatefulSetName is also the prefix of member pod names.
func StatefulSetName(c *etcdv1alpha1.EtcdCluster) string { return c.Name }

// PeerServiceName is the headless Service that gives members DNS names.
func PeerServiceName(c *etcdv1alpha1.EtcdCluster) string { return c.Name + "-peer" }

// ClientServiceName is the Service clients connect to: the cluster's name.
func ClientServiceName(c *etcdv1alpha1.EtcdCluster) string { return c.Name }

// ConfigMapName holds the bootstrap settings members read at start.
func ConfigMapName(c *etcdv1alpha1.EtcdCluster) string { return c.Name + "-config" }

// PodDisruptionBudgetName guards the cluster's quorum against evictions.
func PodDisruptionBudgetName(c *etcdv1alpha1.EtcdCluster) string { return c.Name }

// MemberName is the etcd member name of the pod with this ordinal.
func MemberName(c *etcdv1alpha1.EtcdCluster, ordinal int) string {
	return fmt.Sprintf("%s-%d", StatefulSetName(c), ordinal)
}

// MemberHost is the stable DNS name of a member, through the peer Service.
func MemberHost(c *etcdv1alpha1.EtcdCluster, member string) string {
	return fmt.Sprintf("%s.%s.%s.svc", member, PeerServiceName(c), c.Namespace)
}

// PeerURL is the URL other members reach a member at.
func PeerURL(c *etcdv1alpha1.EtcdCluster, member string) string {
	return fmt.Sprintf("%s://%s:%d", Scheme(c), MemberHost(c, member), PeerPort)
}

// Scheme is the URL scheme of the cluster's peer and client traffic. TLS
// is fixed at creation (the API refuses a change), so every URL a member
// ever advertised has the same scheme.
func Scheme(c *etcdv1alpha1.EtcdCluster) string {
	if c.Spec.TLS != nil {
		return "https"
	}
	return "http"
}

// ClientServiceHost is the client Service's DNS name. It is the TLS server
// name the operator sets when it dials a member by IP: every member's
// certificate names it.
func ClientServiceHost(c *etcdv1alpha1.EtcdCluster) string {
	return fmt.Sprintf("%s.%s.svc", ClientServiceName(c), c.Namespace)
}

// ClientEndpoint is the URL of the client Service.
func ClientEndpoint(c *etcdv1alpha1.EtcdCluster) string {
	return fmt.Sprintf("%s://%s:%d", Scheme(c), ClientServiceHost(c), ClientPort)
}

// Image is the container image of the cluster's members.
func Image(c *etcdv1alpha1.EtcdCluster) string {
	if c.Spec.Image != "" {
		return c.Spec.Image
	}
	return etcdv1alpha1.DefaultImageRepository + ":v" + c.Spec.Version
}

// ClusterToken is unique to the object, so members of two clusters with the
// same name (one deleted, one new) never join each other.
func ClusterToken(c *etcdv1alpha1.EtcdCluster) string {
	return fmt.Sprintf("%s-%s", c.Name, c.UID)
}

// Quorum is the number of voting members that must agree.
func Quorum(size int) int { return size/2 + 1 }

// SelectorLabels select the member pods of a cluster.
func SelectorLabels(c *etcdv1alpha1.EtcdCluster) map[string]string {
	return map[string]string{LabelCluster: c.Name}
}

// Labels go on every object made for the cluster.
func Labels(c *etcdv1alpha1.EtcdCluster) map[string]string {
	return map[string]string{
		LabelName:      "etcd",
		LabelInstance:  c.Name,
		LabelManagedBy: "quorum",
		LabelCluster:   c.Name,
	}
}
