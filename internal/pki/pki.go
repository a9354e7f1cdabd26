package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"
)

// Lifetimes of what the operator issues. A leaf is renewed once a third of
// its life is left, so a renewal that fails has weeks to be noticed.
const (
	CALifetime   = 10 * 365 * 24 * time.Hour
	LeafLifetime = 90 * 24 * time.Hour
)

// backdate absorbs clock skew between the operator and the members.
const backdate = 5 * time.Minute

// CA is a certificate authority with its key.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// Leaf is what a certificate is for.
type Leaf struct {
	CommonName string
	DNSNames   []string
	IPs        []net.IP
	Server     bool // usable to serve TLS
	Client     bool // usable to authenticate as a client
}

// NewCA creates a self-signed CA named after the cluster it serves.
func NewCA(commonName string, now time.Time) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate CA key: %w", err)
	}
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(CALifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	cert, err := sign(tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key}, nil
}

// Issue signs a new key pair for the leaf, valid for LeafLifetime.
func (ca *CA) Issue(leaf Leaf, now time.Time) (*x509.Certificate, crypto.Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate key for %s: %w", leaf.CommonName, err)
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: leaf.CommonName},
		DNSNames:    leaf.DNSNames,
		IPAddresses: leaf.IPs,
		NotBefore:   now.Add(-backdate),
		NotAfter:    minTime(now.Add(LeafLifetime), ca.Cert.NotAfter),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: extKeyUsage(leaf),
	}
	cert, err := sign(tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, nil, err
	}
	return cert, key, nil
}

func extKeyUsage(leaf Leaf) []x509.ExtKeyUsage {
	var usage []x509.ExtKeyUsage
	if leaf.Server {
		usage = append(usage, x509.ExtKeyUsageServerAuth)
	}
	if leaf.Client {
		usage = append(usage, x509.ExtKeyUsageClientAuth)
	}
	return usage
}

func sign(tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("generate serial number: %w", err)
	}
	tmpl.SerialNumber = serial
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		return nil, fmt.Errorf("sign certificate %s: %w", tmpl.Subject.CommonName, err)
	}
	return x509.ParseCertificate(der)
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// NeedsRenewal says whether a certificate has a third of its life or less
// left at now.
func NeedsRenewal(cert *x509.Certificate, now time.Time) bool {
	life := cert.NotAfter.Sub(cert.NotBefore)
	return cert.NotAfter.Sub(now) <= life/3
}

// RenewalTime is when NeedsRenewal turns true.
func RenewalTime(cert *x509.Certificate) time.Time {
	return cert.NotAfter.Add(-cert.NotAfter.Sub(cert.NotBefore) / 3)
}

// SignedBy says whether cert was signed by the CA's key.
func SignedBy(cert *x509.Certificate, ca *x509.Certificate) bool {
	return cert.CheckSignatureFrom(ca) == nil
}

// EncodeCert is a certificate in PEM.
func EncodeCert(cert *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
}

// EncodeKey is a private key in PKCS #8 PEM.
func EncodeKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParseCerts reads every certificate of a PEM bundle, in order.
func ParseCerts(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse certificate: %w", err)
		}
		certs = append(certs, cert)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM certificate found")
	}
	return certs, nil
}

// ParseCA reads a CA from its PEM certificate and key.
func ParseCA(certPEM, keyPEM []byte) (*CA, error) {
	certs, err := ParseCerts(certPEM)
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return nil, errors.New("CA key: no PEM block found")
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("CA key: %w", err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, errors.New("CA key: not a signing key")
	}
	return &CA{Cert: certs[0], Key: signer}, nil
}

// Bundle concatenates PEM certificates, skipping repeats: a trust bundle
// that holds an old and a new CA while a CA changes.
func Bundle(certs ...*x509.Certificate) []byte {
	var out bytes.Buffer
	seen := map[string]bool{}
	for _, c := range certs {
		if c == nil || seen[string(c.Raw)] {
			continue
		}
		seen[string(c.Raw)] = true
		out.Write(EncodeCert(c))
	}
	return out.Bytes()
}

// ClientConfig is a TLS client configuration that presents the given
// certificate and trusts the CAs of caPEM. serverName is the name the
// server's certificate must hold, which lets a caller dial by IP.
func ClientConfig(certPEM, keyPEM, caPEM []byte, serverName string) (*tls.Config, error) {
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("client certificate: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("no CA certificate to trust")
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS12}
	if serverName != "" {
		// gRPC sets ServerName from the address it dials, which is a pod
		// IP, whatever the config says. So the standard check is replaced
		// by one that verifies the chain against serverName itself (the
		// pattern crypto/tls documents for VerifyConnection).
		cfg.ServerName = serverName
		cfg.InsecureSkipVerify = true
		cfg.VerifyConnection = verifyServerAs(serverName, pool)
	}
	return cfg, nil
}

// verifyServerAs verifies a server's certificate chain against roots and
// the name, as crypto/tls would for ServerName.
func verifyServerAs(name string, roots *x509.CertPool) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("the server presented no certificate")
		}
		opts := x509.VerifyOptions{DNSName: name, Roots: roots, Intermediates: x509.NewCertPool()}
		for _, c := range cs.PeerCertificates[1:] {
			opts.Intermediates.AddCert(c)
		}
		_, err := cs.PeerCertificates[0].Verify(opts)
		return err
	}
}

// ReloadingClientConfig is ClientConfig for a long-lived client: load
// returns the certificate, key and CAs (PEM) and is called on every
// handshake, so a renewed leaf or a rotated CA is used without a restart.
func ReloadingClientConfig(load func() (certPEM, keyPEM, caPEM []byte, err error), serverName string) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			certPEM, keyPEM, _, err := load()
			if err != nil {
				return nil, err
			}
			cert, err := tls.X509KeyPair(certPEM, keyPEM)
			return &cert, err
		},
		// Verified here, against the CAs loaded now (see ClientConfig).
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, _, caPEM, err := load()
			if err != nil {
				return err
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(caPEM) {
				return errors.New("no CA certificate to trust")
			}
			return verifyServerAs(serverName, pool)(cs)
		},
	}
}
