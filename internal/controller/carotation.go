package controller

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/quorum-operator/quorum/internal/etcd"
	"github.com/quorum-operator/quorum/internal/pki"
	"github.com/quorum-operator/quorum/internal/resources"
)

// caOldKept is how long the old CA stays trusted after the leaves were
// switched to the new one: workloads re-read their mounted client Secret
// (the kubelet refreshes it within about a minute) before members stop
// accepting certificates of the old CA.
const caOldKept = 2 * time.Minute

// caState is the CA Secret of an operator-issued cluster as read.
type caState struct {
	secret  *corev1.Secret
	signing *pki.CA
	// next is the CA being introduced: trusted, not yet signing. Set only
	// in the first step of a rotation.
	next *pki.CA
	// trusted is what members are to trust (the Secret's ca.crt).
	trusted []*x509.Certificate
}

// bundle is the trust bundle as every leaf Secret carries it in ca.crt.
func (s caState) bundle() []byte { return pki.Bundle(s.trusted...) }

func parseCAState(s *corev1.Secret) (caState, error) {
	signing, err := pki.ParseCA(s.Data[resources.TLSCertKey], s.Data[resources.TLSKeyKey])
	if err != nil {
		return caState{}, err
	}
	st := caState{secret: s, signing: signing, trusted: []*x509.Certificate{signing.Cert}}
	if trusted, err := pki.ParseCerts(s.Data[resources.TLSCAKey]); err == nil {
		st.trusted = trusted
	}
	if len(s.Data[resources.TLSNextCertKey]) > 0 {
		if st.next, err = pki.ParseCA(s.Data[resources.TLSNextCertKey], s.Data[resources.TLSNextKeyKey]); err != nil {
			return caState{}, fmt.Errorf("the CA being introduced: %w", err)
		}
	}
	return st, nil
}

// caStep is the next step of a CA rotation.
type caStep string

const (
	caKeep caStep = ""
	// caTrustBoth adds a new CA to what members trust; the members are
	// rolled to read it (its hash is in the pod template).
	caTrustBoth caStep = "TrustBoth"
	// caSwitch makes the new CA sign: every leaf is reissued by it, which
	// members read without a restart.
	caSwitch caStep = "Switch"
	// caDropOld stops trusting the old CA; the members are rolled again.
	caDropOld caStep = "DropOld"
)

// caProgress is what planCARotation needs to know of the members.
type caProgress struct {
	// rolledToTrust: every member runs, healthy, a template that trusts
	// the CA Secret's current bundle.
	rolledToTrust bool
	// servingSigned: every member serves a leaf signed by the signing CA.
	servingSigned bool
	switchedAt    time.Time
}

// planCARotation decides the next step of replacing the CA, two rolls
// apart so no member ever meets a peer or client certificate it does not
// trust: trust both, switch the signer, drop the old one.
func planCARotation(st caState, request string, p caProgress, now time.Time) (caStep, string) {
	switch {
	case st.next != nil:
		if !p.rolledToTrust {
			return caKeep, "waiting for every member to trust the new CA"
		}
		return caSwitch, "every member trusts the new CA"
	case len(st.trusted) > 1 || !st.trusted[0].Equal(st.signing.Cert):
		if !p.servingSigned {
			return caKeep, "waiting for every member to serve a certificate of the new CA"
		}
		if now.Before(p.switchedAt.Add(caOldKept)) {
			return caKeep, "keeping the old CA trusted a while longer for clients to re-read their certificates"
		}
		return caDropOld, "every member serves a certificate of the new CA"
	case request != "" && request != st.secret.Annotations[resources.AnnotationRotatedFor]:
		return caTrustBoth, "rotation requested"
	case pki.NeedsRenewal(st.signing.Cert, now):
		return caTrustBoth, "the CA has a third of its life left"
	}
	return caKeep, ""
}

// membersServeSignedBy says, while a rotation waits to drop the old CA,
// whether every member pod serves a certificate signed by the signing CA:
// the kubelet refreshes mounted Secrets on its own schedule, so the
// operator asks the members rather than trusting the Secret.
func membersServeSignedBy(ctx context.Context, obs *observedCluster, caSecret *corev1.Secret) bool {
	st, err := parseCAState(caSecret)
	if err != nil || st.next != nil || (len(st.trusted) == 1 && st.trusted[0].Equal(st.signing.Cert)) {
		return false
	}
	if len(obs.pods) == 0 {
		return false
	}
	for _, pod := range obs.pods {
		cert, err := servedCertificate(ctx, pod.Status.PodIP, obs.clientTLS)
		if err != nil || !pki.SignedBy(cert, st.signing.Cert) {
			return false
		}
	}
	return true
}

// servedCertificate is the certificate a member serves on its client port.
func servedCertificate(ctx context.Context, ip string, cfg *tls.Config) (*x509.Certificate, error) {
	if ip == "" {
		return nil, fmt.Errorf("no pod IP")
	}
	return etcd.ServedCertificate(ctx, net.JoinHostPort(ip, strconv.Itoa(resources.ClientPort)), cfg)
}
