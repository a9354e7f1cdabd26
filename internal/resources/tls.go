package resources

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilversion "k8s.io/apimachinery/pkg/util/version"
	"k8s.io/utils/ptr"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
)

// Keys of a kubernetes.io/tls Secret, and of the CA Secret (which also
// holds the CA's key, so it is Opaque).
const (
	TLSCertKey = corev1.TLSCertKey       // tls.crt
	TLSKeyKey  = corev1.TLSPrivateKeyKey // tls.key
	TLSCAKey   = "ca.crt"                // the CAs to trust, PEM bundle
)

// Purposes of the cluster's certificates, as status names them.
const (
	PurposeCA             = "ca"
	PurposeMember         = "member"
	PurposeOperatorClient = "operator-client"
	PurposeClient         = "client"
)

// AnnotationRenewCertificates on an EtcdCluster asks for its
// operator-issued leaf certificates to be renewed now: when its value
// differs from the one recorded on a leaf Secret, that leaf is reissued.
const AnnotationRenewCertificates = "etcd.quorum.dev/renew-certificates"

// AnnotationRenewedFor on a leaf Secret records the renew-certificates
// value it was issued for.
const AnnotationRenewedFor = "etcd.quorum.dev/renewed-for"

// AnnotationRotateCA on an EtcdCluster asks for its operator-issued CA to
// be replaced: when its value differs from the one the CA Secret records
// (AnnotationRotatedFor), a rotation starts.
const AnnotationRotateCA = "etcd.quorum.dev/rotate-ca"

// Annotations of the CA Secret: the rotate-ca value its last rotation
// served, and when the leaves were switched to the new CA.
const (
	AnnotationRotatedFor   = "etcd.quorum.dev/rotated-for"
	AnnotationCASwitchedAt = "etcd.quorum.dev/ca-switched-at"
)

// Keys of the CA Secret holding the CA being introduced while a rotation
// is in its first step (trusted by members, not yet signing).
const (
	TLSNextCertKey = "next.crt"
	TLSNextKeyKey  = "next.key"
)

// OperatorClientCN is the common name of the operator's client
// certificate, as members log it.
const OperatorClientCN = "quorum-operator"

const (
	tlsVolume = "tls"
	tlsMount  = "/etc/etcd/tls"
	// Where the backup Job finds the operator's client certificate.
	clientTLSMount = "/etc/quorum/client-tls"
)

// CASecretName holds an operator-issued cluster's CA certificate and key.
func CASecretName(c *etcdv1alpha1.EtcdCluster) string { return c.Name + "-ca" }

// MemberSecretName holds the certificate the members serve with.
func MemberSecretName(c *etcdv1alpha1.EtcdCluster) string {
	if s := tlsSecrets(c); s != nil {
		return s.Member
	}
	return c.Name + "-member-tls"
}

// OperatorClientSecretName holds the operator's client certificate.
func OperatorClientSecretName(c *etcdv1alpha1.EtcdCluster) string {
	if s := tlsSecrets(c); s != nil {
		return s.OperatorClient
	}
	return c.Name + "-operator-tls"
}

// ClientSecretName holds the client certificate the operator issues for
// the cluster's users: a workload mounts it to reach etcd.
func ClientSecretName(c *etcdv1alpha1.EtcdCluster) string { return c.Name + "-client-tls" }

// OperatorIssuesTLS says whether the operator creates and renews the
// cluster's certificates.
func OperatorIssuesTLS(c *etcdv1alpha1.EtcdCluster) bool {
	return c.Spec.TLS != nil && c.Spec.TLS.Secrets == nil
}

func tlsSecrets(c *etcdv1alpha1.EtcdCluster) *etcdv1alpha1.TLSSecrets {
	if c.Spec.TLS == nil {
		return nil
	}
	return c.Spec.TLS.Secrets
}

// MemberCN is the common name of an operator-issued member certificate.
// Members accept only it on the peer port, so a client certificate from
// the same CA cannot pose as a peer.
func MemberCN(c *etcdv1alpha1.EtcdCluster) string { return c.Name + "-member" }

// MemberDNSNames are the names a member certificate must hold: each
// possible member (size is at most 9, and a wildcard covers ordinals a
// replacement may leave beyond it), the client Service, and localhost for
// a port-forward.
func MemberDNSNames(c *etcdv1alpha1.EtcdCluster) []string {
	var names []string
	for i := range 9 {
		names = append(names, MemberHost(c, MemberName(c, i)))
	}
	svc := ClientServiceName(c)
	return append(names,
		fmt.Sprintf("*.%s.%s.svc", PeerServiceName(c), c.Namespace),
		svc, fmt.Sprintf("%s.%s", svc, c.Namespace), ClientServiceHost(c),
		ClientServiceHost(c)+".cluster.local", "localhost")
}

// TrustedCAHash identifies a trust bundle in the pod template.
func TrustedCAHash(bundle []byte) string {
	sum := sha256.Sum256(bundle)
	return hex.EncodeToString(sum[:8])
}

// TLSSecret is a certificate Secret of the cluster, owned by it.
func TLSSecret(c *etcdv1alpha1.EtcdCluster, name string, t corev1.SecretType, data map[string][]byte) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: c.Namespace, Labels: Labels(c)},
		Type:       t,
		Data:       data,
	}
}

// addMemberTLS mounts the member certificate and turns on mutual TLS for
// both peer and client traffic. etcd reads the leaf certificate and key
// again for every new connection, so a renewed leaf needs no restart; it
// reads the CAs only at start.
func addMemberTLS(c *etcdv1alpha1.EtcdCluster, spec *corev1.PodSpec, container *corev1.Container) {
	if c.Spec.TLS == nil {
		return
	}
	spec.Volumes = append(spec.Volumes, corev1.Volume{Name: tlsVolume, VolumeSource: corev1.VolumeSource{
		Secret: &corev1.SecretVolumeSource{SecretName: MemberSecretName(c), DefaultMode: ptr.To[int32](0o440)}}})
	container.VolumeMounts = append(container.VolumeMounts, corev1.VolumeMount{Name: tlsVolume, MountPath: tlsMount, ReadOnly: true})
	cert, key, ca := tlsMount+"/"+TLSCertKey, tlsMount+"/"+TLSKeyKey, tlsMount+"/"+TLSCAKey
	env := []corev1.EnvVar{
		{Name: "ETCD_CERT_FILE", Value: cert}, {Name: "ETCD_KEY_FILE", Value: key},
		{Name: "ETCD_TRUSTED_CA_FILE", Value: ca}, {Name: "ETCD_CLIENT_CERT_AUTH", Value: "true"},
		{Name: "ETCD_PEER_CERT_FILE", Value: cert}, {Name: "ETCD_PEER_KEY_FILE", Value: key},
		{Name: "ETCD_PEER_TRUSTED_CA_FILE", Value: ca}, {Name: "ETCD_PEER_CLIENT_CERT_AUTH", Value: "true"},
	}
	if OperatorIssuesTLS(c) {
		env = append(env, corev1.EnvVar{Name: "ETCD_PEER_CERT_ALLOWED_CN", Value: MemberCN(c)})
	}
	env = append(env, corev1.EnvVar{Name: peerSkipClientSANEnv(c.Spec.Version), Value: "true"})
	container.Env = append(container.Env, env...)
}

// peerSkipClientSANEnv names etcd's setting that skips checking a peer's
// certificate names against the caller's address through DNS. That check
// ties peer admission to DNS: a member that starts on a new pod IP is
// refused until every peer resolves its name to that IP (negative answers
// are cached), so a learner crash-looped for about 90 s in the e2e suite
// and a restarted member would wait the same. Peers are still admitted only
// with a certificate of the cluster's CA (and the member CN). etcd 3.6
// renamed the setting.
func peerSkipClientSANEnv(version string) string {
	if v, err := utilversion.ParseGeneric(version); err == nil && v.LessThan(utilversion.MajorMinor(3, 6)) {
		return "ETCD_EXPERIMENTAL_PEER_SKIP_CLIENT_SAN_VERIFICATION"
	}
	return "ETCD_PEER_SKIP_CLIENT_SAN_VERIFICATION"
}

// addClientTLS gives a backup Job's container the operator's client
// certificate and the flags that use it.
func addClientTLS(c *etcdv1alpha1.EtcdCluster, spec *corev1.PodSpec, container *corev1.Container) {
	if c.Spec.TLS == nil {
		return
	}
	spec.Volumes = append(spec.Volumes, corev1.Volume{Name: "client-tls", VolumeSource: corev1.VolumeSource{
		Secret: &corev1.SecretVolumeSource{SecretName: OperatorClientSecretName(c), DefaultMode: ptr.To[int32](0o440)}}})
	container.VolumeMounts = append(container.VolumeMounts, corev1.VolumeMount{Name: "client-tls", MountPath: clientTLSMount, ReadOnly: true})
	container.Args = append(container.Args,
		"--cert="+clientTLSMount+"/"+TLSCertKey, "--key="+clientTLSMount+"/"+TLSKeyKey, "--cacert="+clientTLSMount+"/"+TLSCAKey)
}
