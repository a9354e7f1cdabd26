package controller

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
	"github.com/quorum-operator/quorum/internal/pki"
	"github.com/quorum-operator/quorum/internal/resources"
)

// leafCertificate is one certificate the operator issues for a cluster.
type leafCertificate struct {
	secret, purpose string
	leaf            pki.Leaf
}

// leafCertificates are the certificates of an operator-issued cluster: the
// members', the operator's client certificate, and one for users.
func leafCertificates(c *etcdv1alpha1.EtcdCluster) []leafCertificate {
	return []leafCertificate{
		{resources.MemberSecretName(c), resources.PurposeMember,
			pki.Leaf{CommonName: resources.MemberCN(c), DNSNames: resources.MemberDNSNames(c), Server: true, Client: true}},
		{resources.OperatorClientSecretName(c), resources.PurposeOperatorClient,
			pki.Leaf{CommonName: resources.OperatorClientCN, Client: true}},
		{resources.ClientSecretName(c), resources.PurposeClient,
			pki.Leaf{CommonName: c.Name + "-client", Client: true}},
	}
}

// ensureCertificates creates the cluster's CA once, carries a CA rotation
// one step further when it may, and issues each leaf that is missing,
// signed by another CA, carries another trust bundle, or is due for
// renewal or asked to be renewed through the renew-certificates
// annotation. It never replaces a CA it cannot read: members trust it, so
// a person must look.
func (r *EtcdClusterReconciler) ensureCertificates(ctx context.Context, obs *observedCluster, now time.Time) (step, error) {
	c := obs.cluster
	if !resources.OperatorIssuesTLS(c) {
		return step{}, nil
	}
	st, caDone, err := r.ensureCA(ctx, obs, now)
	if err != nil {
		return step{}, err
	}
	var issued []string
	for _, lc := range leafCertificates(c) {
		wrote, err := r.ensureLeaf(ctx, c, st, lc, now)
		if err != nil {
			return step{}, err
		}
		if wrote {
			issued = append(issued, lc.secret)
		}
	}
	switch {
	case caDone.kind != stepNone:
		if len(issued) > 0 {
			caDone.reason += "; issued " + strings.Join(issued, ", ")
		}
		return caDone, nil
	case len(issued) > 0:
		return step{kind: stepIssueLeaves, reason: "issued " + strings.Join(issued, ", ")}, nil
	}
	return step{}, nil
}

// caRotationSteps names the step of each phase of a CA rotation.
var caRotationSteps = map[caStep]stepKind{caTrustBoth: stepCATrustBoth, caSwitch: stepCASwitch, caDropOld: stepCADropOld}

// ensureCA returns the cluster's CA state and the step it took: the CA
// created, a rotation phase, or none.
func (r *EtcdClusterReconciler) ensureCA(ctx context.Context, obs *observedCluster, now time.Time) (caState, step, error) {
	c := obs.cluster
	var secret corev1.Secret
	found, err := r.getSecret(ctx, c, resources.CASecretName(c), &secret)
	if err != nil {
		return caState{}, step{}, err
	}
	if !found {
		st, err := r.createCA(ctx, c, now)
		return st, step{kind: stepIssueCA, reason: "created the cluster's CA"}, err
	}
	st, err := parseCAState(&secret)
	if err != nil {
		return caState{}, step{}, fmt.Errorf("CA Secret %s cannot be read, and members trust it, so it is not replaced: %w", secret.Name, err)
	}
	next, why := planCARotation(st, c.Annotations[resources.AnnotationRotateCA], caProgressOf(obs, st), now)
	if next == caKeep {
		return st, step{}, nil
	}
	if err := r.rotateCA(ctx, c, &st, next, now); err != nil {
		return caState{}, step{}, err
	}
	r.event(c, corev1.EventTypeNormal, "CARotation", "CA rotation step %s (%s); members trust %d CA(s), the signing CA is valid until %s",
		next, why, len(st.trusted), st.signing.Cert.NotAfter.UTC().Format(time.RFC3339))
	return st, step{kind: caRotationSteps[next], reason: why}, nil
}

func (r *EtcdClusterReconciler) createCA(ctx context.Context, c *etcdv1alpha1.EtcdCluster, now time.Time) (caState, error) {
	ca, err := newClusterCA(c, now)
	if err != nil {
		return caState{}, err
	}
	key, err := pki.EncodeKey(ca.Key)
	if err != nil {
		return caState{}, err
	}
	cert := pki.EncodeCert(ca.Cert)
	s := resources.TLSSecret(c, resources.CASecretName(c), corev1.SecretTypeOpaque,
		map[string][]byte{resources.TLSCertKey: cert, resources.TLSKeyKey: key, resources.TLSCAKey: cert})
	s.Annotations = map[string]string{resources.AnnotationRotatedFor: c.Annotations[resources.AnnotationRotateCA]}
	r.certSecrets.forget(c, s.Name)
	if err := r.createOwned(ctx, c, s); err != nil {
		return caState{}, err
	}
	r.event(c, corev1.EventTypeNormal, "CertificateIssued", "Created the cluster's CA in Secret %s, valid until %s",
		s.Name, ca.Cert.NotAfter.UTC().Format(time.RFC3339))
	return caState{secret: s, signing: ca, trusted: []*x509.Certificate{ca.Cert}}, nil
}

func newClusterCA(c *etcdv1alpha1.EtcdCluster, now time.Time) (*pki.CA, error) {
	return pki.NewCA(fmt.Sprintf("%s/%s etcd CA %s", c.Namespace, c.Name, now.UTC().Format("2006-01-02T15:04:05Z")), now)
}

// rotateCA writes one step of a CA rotation into the CA Secret and st.
func (r *EtcdClusterReconciler) rotateCA(ctx context.Context, c *etcdv1alpha1.EtcdCluster, st *caState, next caStep, now time.Time) error {
	s := st.secret
	if s.Annotations == nil {
		s.Annotations = map[string]string{}
	}
	switch next {
	case caTrustBoth:
		ca, err := newClusterCA(c, now)
		if err != nil {
			return err
		}
		key, err := pki.EncodeKey(ca.Key)
		if err != nil {
			return err
		}
		s.Data[resources.TLSNextCertKey], s.Data[resources.TLSNextKeyKey] = pki.EncodeCert(ca.Cert), key
		st.next, st.trusted = ca, []*x509.Certificate{st.signing.Cert, ca.Cert}
		s.Annotations[resources.AnnotationRotatedFor] = c.Annotations[resources.AnnotationRotateCA]
	case caSwitch:
		s.Data[resources.TLSCertKey], s.Data[resources.TLSKeyKey] = s.Data[resources.TLSNextCertKey], s.Data[resources.TLSNextKeyKey]
		delete(s.Data, resources.TLSNextCertKey)
		delete(s.Data, resources.TLSNextKeyKey)
		st.signing, st.next = st.next, nil
		s.Annotations[resources.AnnotationCASwitchedAt] = now.UTC().Format(time.RFC3339)
	case caDropOld:
		st.trusted = []*x509.Certificate{st.signing.Cert}
		delete(s.Annotations, resources.AnnotationCASwitchedAt)
	}
	s.Data[resources.TLSCAKey] = st.bundle()
	r.certSecrets.forget(c, s.Name)
	if err := r.Update(ctx, s); err != nil {
		return fmt.Errorf("write CA Secret %s: %w", s.Name, err)
	}
	return nil
}

// caProgressOf is how far the members are in a CA rotation.
func caProgressOf(obs *observedCluster, st caState) caProgress {
	p := caProgress{servingSigned: obs.servingSigned}
	p.switchedAt, _ = time.Parse(time.RFC3339, st.secret.Annotations[resources.AnnotationCASwitchedAt])
	rs := newRolloutState(obs)
	sts := obs.statefulSet
	p.rolledToTrust = sts != nil && rs.known && !rs.active && len(obs.pods) > 0 && len(rs.updated) == len(obs.pods) &&
		sts.Spec.Template.Annotations[resources.AnnotationTrustedCA] == resources.TrustedCAHash(st.bundle())
	return p
}

// ensureLeaf issues the leaf certificate lc when it must be, and says
// whether it did.
func (r *EtcdClusterReconciler) ensureLeaf(ctx context.Context, c *etcdv1alpha1.EtcdCluster, ca caState, lc leafCertificate, now time.Time) (bool, error) {
	var secret corev1.Secret
	found, err := r.getSecret(ctx, c, lc.secret, &secret)
	if err != nil {
		return false, err
	}
	renewToken := c.Annotations[resources.AnnotationRenewCertificates]
	bundle := ca.bundle()
	why := leafRenewalReason(&secret, found, ca.signing.Cert, bundle, lc.leaf, renewToken, now)
	if why == "" {
		return false, nil
	}
	cert, key, err := ca.signing.Issue(lc.leaf, now)
	if err != nil {
		return false, err
	}
	keyPEM, err := pki.EncodeKey(key)
	if err != nil {
		return false, err
	}
	desired := resources.TLSSecret(c, lc.secret, corev1.SecretTypeTLS, map[string][]byte{
		resources.TLSCertKey: pki.EncodeCert(cert), resources.TLSKeyKey: keyPEM, resources.TLSCAKey: bundle})
	desired.Annotations = map[string]string{resources.AnnotationRenewedFor: renewToken}
	r.certSecrets.forget(c, lc.secret)
	if !found {
		err = r.createOwned(ctx, c, desired)
	} else {
		secret.Data, secret.Annotations = desired.Data, desired.Annotations
		err = r.Update(ctx, &secret)
	}
	if err != nil {
		return false, fmt.Errorf("write certificate Secret %s: %w", lc.secret, err)
	}
	r.event(c, corev1.EventTypeNormal, "CertificateIssued", "Issued the %s certificate in Secret %s (%s), valid until %s",
		lc.purpose, lc.secret, why, cert.NotAfter.UTC().Format(time.RFC3339))
	return true, nil
}

// leafRenewalReason says why a leaf Secret must be issued again, or ""
// when it is current.
func leafRenewalReason(s *corev1.Secret, found bool, signer *x509.Certificate, bundle []byte, want pki.Leaf, renewToken string, now time.Time) string {
	if !found {
		return "new"
	}
	certs, err := pki.ParseCerts(s.Data[resources.TLSCertKey])
	switch {
	case err != nil:
		return "the stored certificate could not be read"
	case !pki.SignedBy(certs[0], signer):
		return "signed by another CA"
	case !bytes.Equal(s.Data[resources.TLSCAKey], bundle):
		return "trusted CA changed"
	case !slices.Equal(certs[0].DNSNames, want.DNSNames):
		return "names changed"
	case s.Annotations[resources.AnnotationRenewedFor] != renewToken:
		return "renewal requested"
	case pki.NeedsRenewal(certs[0], now):
		return "due for renewal"
	}
	return ""
}

// getSecret reads a certificate Secret of c: from the reconciler's own
// cache (secretCache) while it is fresh, otherwise straight from the API
// server. The operator neither lists nor watches Secrets, so its role
// needs only get on them.
func (r *EtcdClusterReconciler) getSecret(ctx context.Context, c *etcdv1alpha1.EtcdCluster, name string, s *corev1.Secret) (bool, error) {
	now := time.Now()
	if cached, ok := r.certSecrets.get(c, name, now); ok {
		*s = *cached
		return true, nil
	}
	err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: name}, s)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("get Secret %s: %w", name, err)
	}
	r.certSecrets.put(c, s, now)
	return true, nil
}

// observeTLS reads the certificates for status and the operator's client
// configuration. A missing Secret is an observation: the cluster waits.
func (r *EtcdClusterReconciler) observeTLS(ctx context.Context, obs *observedCluster) error {
	if obs.cluster.Spec.TLS == nil {
		return nil
	}
	secrets, err := r.readTLSSecrets(ctx, obs)
	if err != nil {
		return err
	}
	if member := secrets[resources.PurposeMember]; member != nil {
		obs.trustedCA = member.Data[resources.TLSCAKey]
	}
	operatorClient := secrets[resources.PurposeOperatorClient]
	if operatorClient == nil {
		return nil
	}
	cfg, err := pki.ClientConfig(operatorClient.Data[resources.TLSCertKey], operatorClient.Data[resources.TLSKeyKey],
		operatorClient.Data[resources.TLSCAKey], resources.ClientServiceHost(obs.cluster))
	if err != nil {
		obs.tlsErr = fmt.Errorf("the operator's client certificate (Secret %s) cannot be used: %w", operatorClient.Name, err)
		return nil
	}
	obs.clientTLS = cfg
	obs.clientTLSKey = materialHash(operatorClient.Data[resources.TLSCertKey], operatorClient.Data[resources.TLSKeyKey],
		operatorClient.Data[resources.TLSCAKey])
	if ca := secrets[resources.PurposeCA]; ca != nil {
		obs.servingSigned = membersServeSignedBy(ctx, obs, ca)
	}
	return nil
}

// readTLSSecrets reads the cluster's certificate Secrets by purpose,
// noting in obs the ones missing and, for status, each one's expiry.
func (r *EtcdClusterReconciler) readTLSSecrets(ctx context.Context, obs *observedCluster) (map[string]*corev1.Secret, error) {
	c := obs.cluster
	names := map[string]string{
		resources.PurposeMember:         resources.MemberSecretName(c),
		resources.PurposeOperatorClient: resources.OperatorClientSecretName(c),
	}
	purposes := []string{resources.PurposeMember, resources.PurposeOperatorClient}
	if resources.OperatorIssuesTLS(c) {
		names[resources.PurposeCA], names[resources.PurposeClient] = resources.CASecretName(c), resources.ClientSecretName(c)
		purposes = []string{resources.PurposeCA, resources.PurposeMember, resources.PurposeOperatorClient, resources.PurposeClient}
	}
	out := map[string]*corev1.Secret{}
	for _, purpose := range purposes {
		var s corev1.Secret
		found, err := r.getSecret(ctx, c, names[purpose], &s)
		if err != nil {
			return nil, err
		}
		if !found {
			obs.tlsMissing = append(obs.tlsMissing, names[purpose])
			continue
		}
		if cs, ok := certificateStatus(&s, purpose, resources.OperatorIssuesTLS(c)); ok {
			obs.certificates = append(obs.certificates, cs)
		}
		out[purpose] = &s
	}
	return out, nil
}

// certificateStatus is what status says of one certificate Secret; the
// renewal time only for certificates the operator renews (not its CA).
func certificateStatus(s *corev1.Secret, purpose string, operatorIssued bool) (etcdv1alpha1.CertificateStatus, bool) {
	certs, err := pki.ParseCerts(s.Data[resources.TLSCertKey])
	if err != nil {
		return etcdv1alpha1.CertificateStatus{}, false
	}
	cs := etcdv1alpha1.CertificateStatus{Secret: s.Name, Purpose: purpose, NotAfter: metav1.NewTime(certs[0].NotAfter.UTC())}
	if operatorIssued && purpose != resources.PurposeCA {
		cs.RenewAt = ptrTime(pki.RenewalTime(certs[0]))
	}
	return cs, true
}

func ptrTime(t time.Time) *metav1.Time {
	mt := metav1.NewTime(t.UTC().Truncate(time.Second))
	return &mt
}

// materialHash names certificate material without holding it.
func materialHash(parts ...[]byte) string {
	h := sha256.New()
	for _, p := range parts {
		_, _ = fmt.Fprintf(h, "%d:", len(p))
		h.Write(p)
	}
	return hex.EncodeToString(h.Sum(nil))
}
