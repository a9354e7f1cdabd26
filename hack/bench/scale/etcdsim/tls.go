package etcdsim

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"path"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// certRefresh is how long a member Secret read is used before it is read
// again, so a renewed certificate is served soon after.
const certRefresh = time.Minute

// memberCerts serves each TLS cluster's members with the certificate its
// real members would serve: the member Secret's tls.crt and tls.key, and
// requires a client certificate its ca.crt verifies, as etcd does with
// --client-cert-auth.
type memberCerts struct {
	kube kubernetes.Interface
	mu   sync.Mutex
	byNS map[string]*cachedCert // by namespace/secret
}

type cachedCert struct {
	read time.Time
	conf *tls.Config
}

// memberSecret is the Secret the pod's etcd container reads its
// certificate from (ETCD_CERT_FILE's directory), "" without TLS.
func memberSecret(p *corev1.Pod) string {
	for _, ct := range p.Spec.Containers {
		if ct.Name != "etcd" {
			continue
		}
		var certDir string
		for _, e := range ct.Env {
			if e.Name == "ETCD_CERT_FILE" {
				certDir = path.Dir(e.Value)
			}
		}
		for _, m := range ct.VolumeMounts {
			if m.MountPath != certDir {
				continue
			}
			for _, v := range p.Spec.Volumes {
				if v.Name == m.Name && v.Secret != nil {
					return v.Secret.SecretName
				}
			}
		}
	}
	return ""
}

func (m *memberCerts) config(ns, secret string) (*tls.Config, error) {
	key := ns + "/" + secret
	m.mu.Lock()
	c := m.byNS[key]
	m.mu.Unlock()
	if c != nil && time.Since(c.read) < certRefresh {
		return c.conf, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := m.kube.CoreV1().Secrets(ns).Get(ctx, secret, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(s.Data[corev1.TLSCertKey], s.Data[corev1.TLSPrivateKeyKey])
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(s.Data["ca.crt"]) {
		return nil, errors.New("no CA in " + key)
	}
	conf := &tls.Config{
		Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool,
		NextProtos: []string{"h2"}, MinVersion: tls.VersionTLS12,
	}
	m.mu.Lock()
	m.byNS[key] = &cachedCert{read: time.Now(), conf: conf}
	m.mu.Unlock()
	return conf, nil
}

// serverConfig picks the configuration of the cluster whose member IP the
// client dialled.
func (s *Server) serverConfig(hello *tls.ClientHelloInfo) (*tls.Config, error) {
	host, _, err := net.SplitHostPort(hello.Conn.LocalAddr().String())
	if err != nil {
		return nil, err
	}
	st := s.state
	st.mu.Lock()
	c := st.byIP[host]
	var ns, secret string
	if c != nil {
		ns, secret = c.ns, c.secret
	}
	st.mu.Unlock()
	if secret == "" {
		return nil, errors.New("etcdsim: no TLS member at " + host)
	}
	return s.certs.config(ns, secret)
}
