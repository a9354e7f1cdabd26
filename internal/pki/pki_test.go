package pki

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestIssuedLeafVerifiesForItsUsesOnly(t *testing.T) {
	now := time.Now()
	ca, err := NewCA("test CA", now)
	if err != nil {
		t.Fatal(err)
	}
	member, _, err := ca.Issue(Leaf{CommonName: "main-member", DNSNames: []string{"main-0.main-peer.db.svc"}, Server: true, Client: true}, now)
	if err != nil {
		t.Fatal(err)
	}
	client, _, err := ca.Issue(Leaf{CommonName: "main-client", Client: true}, now)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	verify := func(c *x509.Certificate, name string, usage x509.ExtKeyUsage) error {
		_, err := c.Verify(x509.VerifyOptions{Roots: roots, DNSName: name, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{usage}})
		return err
	}
	if err := verify(member, "main-0.main-peer.db.svc", x509.ExtKeyUsageServerAuth); err != nil {
		t.Errorf("member as a server: %v", err)
	}
	if err := verify(member, "", x509.ExtKeyUsageClientAuth); err != nil {
		t.Errorf("member as a peer client: %v", err)
	}
	if err := verify(member, "other.db.svc", x509.ExtKeyUsageServerAuth); err == nil {
		t.Error("member certificate verified for a name it does not hold")
	}
	if err := verify(client, "", x509.ExtKeyUsageServerAuth); err == nil {
		t.Error("client certificate verified as a server")
	}
	if member.NotAfter.After(now.Add(LeafLifetime)) || !SignedBy(member, ca.Cert) {
		t.Errorf("member certificate until %s, signed by CA %v", member.NotAfter, SignedBy(member, ca.Cert))
	}
}

func TestRenewalStartsWithAThirdOfTheLifeLeft(t *testing.T) {
	now := time.Now()
	ca, err := NewCA("test CA", now)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _, err := ca.Issue(Leaf{CommonName: "c", Client: true}, now)
	if err != nil {
		t.Fatal(err)
	}
	at := RenewalTime(leaf)
	if NeedsRenewal(leaf, at.Add(-time.Minute)) || !NeedsRenewal(leaf, at.Add(time.Minute)) {
		t.Errorf("renewal at %s is not where NeedsRenewal turns", at)
	}
	if left := leaf.NotAfter.Sub(at); left < 29*24*time.Hour || left > 31*24*time.Hour {
		t.Errorf("renewal %s before expiry, want about 30 days", left)
	}
}

func TestCAParsesBackAndBundlesDeduplicate(t *testing.T) {
	now := time.Now()
	a, _ := NewCA("a", now)
	b, _ := NewCA("b", now)
	key, err := EncodeKey(a.Key)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := ParseCA(EncodeCert(a.Cert), key)
	if err != nil || !parsed.Cert.Equal(a.Cert) {
		t.Fatalf("parse CA back: %v", err)
	}
	certs, err := ParseCerts(Bundle(a.Cert, b.Cert, a.Cert))
	if err != nil || len(certs) != 2 || !certs[0].Equal(a.Cert) || !certs[1].Equal(b.Cert) {
		t.Fatalf("bundle holds %d certificates (%v), want a then b", len(certs), err)
	}
	if _, err := ParseCerts([]byte("not PEM")); err == nil {
		t.Error("no error for a bundle without certificates")
	}
}

// A client that dials by IP verifies the server as serverName, which the
// server's certificate holds, and refuses another name or another CA.
func TestClientConfigVerifiesTheServerByNameWhenDialledByIP(t *testing.T) {
	now := time.Now()
	ca, _ := NewCA("test CA", now)
	other, _ := NewCA("other CA", now)
	serve := func(signer *CA) string {
		cert, key, err := signer.Issue(Leaf{CommonName: "member", DNSNames: []string{"main.db.svc"}, Server: true}, now)
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{cert.Raw}, PrivateKey: key}}}
		srv.StartTLS()
		t.Cleanup(srv.Close)
		return srv.URL // https://127.0.0.1:port
	}
	good, impostor := serve(ca), serve(other)
	clientCert, clientKey, _ := ca.Issue(Leaf{CommonName: "client", Client: true}, now)
	keyPEM, _ := EncodeKey(clientKey)
	get := func(url, serverName string) error {
		cfg, err := ClientConfig(EncodeCert(clientCert), keyPEM, EncodeCert(ca.Cert), serverName)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := (&http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}).Get(url)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	if err := get(good, "main.db.svc"); err != nil {
		t.Errorf("the right name: %v", err)
	}
	if err := get(good, "other.db.svc"); err == nil {
		t.Error("a name the certificate does not hold was accepted")
	}
	if err := get(impostor, "main.db.svc"); err == nil {
		t.Error("a server certificate from another CA was accepted")
	}
}

// A long-lived client follows a CA change once what it loads changes.
func TestReloadingClientConfigFollowsWhatItLoads(t *testing.T) {
	now := time.Now()
	a, _ := NewCA("a", now)
	b, _ := NewCA("b", now)
	leafOf := func(ca *CA) tls.Certificate {
		cert, key, err := ca.Issue(Leaf{CommonName: "member", DNSNames: []string{"main.db.svc"}, Server: true, Client: true}, now)
		if err != nil {
			t.Fatal(err)
		}
		return tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key}
	}
	serving := leafOf(a)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	srv.TLS = &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &serving, nil }}
	srv.StartTLS()
	defer srv.Close()
	srv.TLS.Certificates = nil // StartTLS adds its own; a client dialling an IP sends no SNI

	trusted := a
	load := func() ([]byte, []byte, []byte, error) {
		cert, key, _ := trusted.Issue(Leaf{CommonName: "client", Client: true}, now)
		keyPEM, err := EncodeKey(key)
		return EncodeCert(cert), keyPEM, EncodeCert(trusted.Cert), err
	}
	get := func() error {
		tr := &http.Transport{TLSClientConfig: ReloadingClientConfig(load, "main.db.svc"), DisableKeepAlives: true}
		resp, err := (&http.Client{Transport: tr}).Get(srv.URL)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	if err := get(); err != nil {
		t.Fatalf("both on CA a: %v", err)
	}
	serving = leafOf(b)
	if err := get(); err == nil {
		t.Fatal("a server of CA b was trusted while only a is loaded")
	}
	trusted = b
	if err := get(); err != nil {
		t.Fatalf("after loading CA b: %v", err)
	}
}
