package etcd

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"time"
)

// servedCertTimeout bounds the handshake that reads a member's certificate.
const servedCertTimeout = 2 * time.Second

// ServedCertificate is the certificate the member at address (ip:port of
// its client port) presents in a TLS handshake with cfg: what the member
// serves now, which may lag its Secret while the kubelet refreshes the
// mounted files.
func ServedCertificate(ctx context.Context, address string, cfg *tls.Config) (*x509.Certificate, error) {
	dialCtx, cancel := context.WithTimeout(ctx, servedCertTimeout)
	defer cancel()
	d := &tls.Dialer{Config: cfg}
	conn, err := d.DialContext(dialCtx, "tcp", address)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	certs := conn.(*tls.Conn).ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return nil, errors.New("the member presented no certificate")
	}
	return certs[0], nil
}
