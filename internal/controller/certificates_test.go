package controller

import (
	"crypto/x509"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
	"github.com/quorum-operator/quorum/internal/pki"
	"github.com/quorum-operator/quorum/internal/resources"
)

var _ = Describe("EtcdCluster TLS", func() {
	var cluster *etcdv1alpha1.EtcdCluster

	create := func(tls *etcdv1alpha1.TLSSpec) {
		cluster = createTestCluster(newTestNamespace("tls-"), "main", etcdv1alpha1.EtcdClusterSpec{Size: 3, Version: "3.6.16", TLS: tls})
	}
	key := func(name string) client.ObjectKey { return client.ObjectKey{Namespace: cluster.Namespace, Name: name} }
	leafOf := func(g Gomega, name string) *x509.Certificate {
		var s corev1.Secret
		g.Expect(k8sClient.Get(ctx, key(name), &s)).To(Succeed())
		certs, err := pki.ParseCerts(s.Data[resources.TLSCertKey])
		g.Expect(err).NotTo(HaveOccurred())
		return certs[0]
	}

	It("issues a CA and the leaf certificates, owned by the cluster, and reports their expiry", func() {
		create(&etcdv1alpha1.TLSSpec{})

		var sts appsv1.StatefulSet
		Eventually(func() error { return k8sClient.Get(ctx, key("main"), &sts) }, timeout).Should(Succeed())
		Expect(sts.Spec.Template.Annotations).To(HaveKey(resources.AnnotationTrustedCA))

		var caSecret corev1.Secret
		Expect(k8sClient.Get(ctx, key("main-ca"), &caSecret)).To(Succeed())
		Expect(metav1.IsControlledBy(&caSecret, cluster)).To(BeTrue())
		ca, err := pki.ParseCA(caSecret.Data[resources.TLSCertKey], caSecret.Data[resources.TLSKeyKey])
		Expect(err).NotTo(HaveOccurred())

		member := leafOf(Default, "main-member-tls")
		Expect(pki.SignedBy(member, ca.Cert)).To(BeTrue())
		Expect(member.DNSNames).To(ContainElements(
			"main-0.main-peer."+cluster.Namespace+".svc", "main-8.main-peer."+cluster.Namespace+".svc", "main."+cluster.Namespace+".svc"))
		Expect(member.Subject.CommonName).To(Equal("main-member"))
		for _, name := range []string{"main-operator-tls", "main-client-tls"} {
			leaf := leafOf(Default, name)
			Expect(pki.SignedBy(leaf, ca.Cert)).To(BeTrue(), name)
			Expect(leaf.ExtKeyUsage).To(Equal([]x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}), name)
		}

		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, key("main"), cluster)).To(Succeed())
			g.Expect(cluster.Status.ClientEndpoint).To(HavePrefix("https://"))
			g.Expect(cluster.Status.Certificates).To(ConsistOf(
				And(HaveField("Purpose", "ca"), HaveField("RenewAt", BeNil())),
				And(HaveField("Purpose", "member"), HaveField("Secret", "main-member-tls"), HaveField("RenewAt", Not(BeNil()))),
				HaveField("Purpose", "operator-client"),
				HaveField("Purpose", "client"),
			))
		}, timeout).Should(Succeed())

		By("renewing every leaf on request, keeping the CA and the pod template")
		before := leafOf(Default, "main-member-tls").SerialNumber
		hash := sts.Annotations[resources.AnnotationTemplateHash]
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, key("main"), cluster)).To(Succeed())
			cluster.Annotations = map[string]string{resources.AnnotationRenewCertificates: "now"}
			g.Expect(k8sClient.Update(ctx, cluster)).To(Succeed())
		}, timeout).Should(Succeed())
		Eventually(func(g Gomega) {
			for _, name := range []string{"main-member-tls", "main-operator-tls", "main-client-tls"} {
				var s corev1.Secret
				g.Expect(k8sClient.Get(ctx, key(name), &s)).To(Succeed())
				g.Expect(s.Annotations).To(HaveKeyWithValue(resources.AnnotationRenewedFor, "now"), name)
			}
		}, timeout).Should(Succeed())
		Expect(leafOf(Default, "main-member-tls").SerialNumber).NotTo(Equal(before))
		Expect(k8sClient.Get(ctx, key("main-ca"), &caSecret)).To(Succeed())
		Expect(pki.ParseCerts(caSecret.Data[resources.TLSCertKey])).To(ContainElement(Equal(ca.Cert)))
		Expect(k8sClient.Get(ctx, key("main"), &sts)).To(Succeed())
		Expect(sts.Annotations[resources.AnnotationTemplateHash]).To(Equal(hash), "a leaf renewal must not roll the members")
	})

	It("waits for user-provided Secrets before creating members, then mounts them", func() {
		create(&etcdv1alpha1.TLSSpec{Secrets: &etcdv1alpha1.TLSSecrets{Member: "my-member", OperatorClient: "my-operator"}})

		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, key("main"), cluster)).To(Succeed())
			g.Expect(cluster.Status.Conditions).To(ContainElement(And(
				HaveField("Type", etcdv1alpha1.ConditionProgressing), HaveField("Message", ContainSubstring("my-member")))))
		}, timeout).Should(Succeed())
		var sts appsv1.StatefulSet
		Expect(k8sClient.Get(ctx, key("main"), &sts)).NotTo(Succeed(), "members were created without their certificates")

		now := time.Now()
		ca, err := pki.NewCA("user CA", now)
		Expect(err).NotTo(HaveOccurred())
		for name, leaf := range map[string]pki.Leaf{
			"my-member":   {CommonName: "member", DNSNames: resources.MemberDNSNames(cluster), Server: true, Client: true},
			"my-operator": {CommonName: "operator", Client: true},
		} {
			cert, k, err := ca.Issue(leaf, now)
			Expect(err).NotTo(HaveOccurred())
			keyPEM, err := pki.EncodeKey(k)
			Expect(err).NotTo(HaveOccurred())
			Expect(k8sClient.Create(ctx, &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: cluster.Namespace}, Type: corev1.SecretTypeTLS,
				Data: map[string][]byte{"tls.crt": pki.EncodeCert(cert), "tls.key": keyPEM, "ca.crt": pki.EncodeCert(ca.Cert)},
			})).To(Succeed())
		}

		Eventually(func() error { return k8sClient.Get(ctx, key("main"), &sts) }, timeout).Should(Succeed())
		Expect(sts.Spec.Template.Spec.Volumes).To(ContainElement(HaveField("Secret.SecretName", "my-member")))
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, key("main"), cluster)).To(Succeed())
			g.Expect(cluster.Status.Certificates).To(ConsistOf(
				And(HaveField("Secret", "my-member"), HaveField("RenewAt", BeNil())),
				And(HaveField("Secret", "my-operator"), HaveField("RenewAt", BeNil()))))
		}, timeout).Should(Succeed())
		var s corev1.Secret
		Expect(k8sClient.Get(ctx, key("main-ca"), &s)).NotTo(Succeed(), "the operator issued a CA for a cluster with user certificates")
	})
})

func TestLeafRenewalReasons(t *testing.T) {
	now := time.Now()
	ca, _ := pki.NewCA("a", now)
	other, _ := pki.NewCA("b", now)
	want := pki.Leaf{CommonName: "m", DNSNames: []string{"m.svc"}, Server: true}
	secret := func(signer *pki.CA, leaf pki.Leaf, at time.Time, token string) *corev1.Secret {
		cert, _, err := signer.Issue(leaf, at)
		if err != nil {
			t.Fatal(err)
		}
		return &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{resources.AnnotationRenewedFor: token}},
			Data:       map[string][]byte{resources.TLSCertKey: pki.EncodeCert(cert), resources.TLSCAKey: pki.EncodeCert(ca.Cert)},
		}
	}
	tests := []struct {
		name   string
		secret *corev1.Secret
		token  string
		want   string
	}{
		{"current", secret(ca, want, now, ""), "", ""},
		{"signed by another CA", secret(other, want, now, ""), "", "signed by another CA"},
		{"other names", secret(ca, pki.Leaf{CommonName: "m", DNSNames: []string{"x.svc"}}, now, ""), "", "names changed"},
		{"renewal requested", secret(ca, want, now, "t1"), "t2", "renewal requested"},
		{"two thirds of its life gone", secret(ca, want, now.Add(-61*24*time.Hour), ""), "", "due for renewal"},
		{"unreadable", &corev1.Secret{Data: map[string][]byte{resources.TLSCertKey: []byte("junk")}}, "", "the stored certificate could not be read"},
	}
	for _, tt := range tests {
		if got := leafRenewalReason(tt.secret, true, ca.Cert, pki.EncodeCert(ca.Cert), want, tt.token, now); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
	if got := leafRenewalReason(nil, false, ca.Cert, pki.EncodeCert(ca.Cert), want, "", now); got != "new" {
		t.Errorf("missing: %q", got)
	}
}

func TestCARotationTrustsBothThenSwitchesThenDropsTheOld(t *testing.T) {
	now := time.Now()
	old, _ := pki.NewCA("old", now)
	next, _ := pki.NewCA("new", now)
	steady := caState{secret: &corev1.Secret{}, signing: old, trusted: []*x509.Certificate{old.Cert}}
	trustBoth := caState{secret: &corev1.Secret{}, signing: old, next: next, trusted: []*x509.Certificate{old.Cert, next.Cert}}
	switched := caState{secret: &corev1.Secret{}, signing: next, trusted: []*x509.Certificate{old.Cert, next.Cert}}
	requested := caState{secret: &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{resources.AnnotationRotatedFor: "r1"}}},
		signing: old, trusted: []*x509.Certificate{old.Cert}}
	aging, _ := pki.NewCA("aging", now.Add(-7*365*24*time.Hour))
	longAgo := now.Add(-time.Hour)

	tests := []struct {
		name    string
		st      caState
		request string
		p       caProgress
		want    caStep
	}{
		{"steady, nothing asked", steady, "", caProgress{}, caKeep},
		{"steady, the request already served", requested, "r1", caProgress{}, caKeep},
		{"a new request starts by trusting both", requested, "r2", caProgress{}, caTrustBoth},
		{"a CA with a third of its life left starts one", caState{secret: &corev1.Secret{}, signing: aging, trusted: []*x509.Certificate{aging.Cert}}, "", caProgress{}, caTrustBoth},
		{"no switch before every member was rolled to trust both", trustBoth, "r2", caProgress{}, caKeep},
		{"switch once every member trusts both", trustBoth, "r2", caProgress{rolledToTrust: true}, caSwitch},
		{"the old CA stays while a member serves an old leaf", switched, "r2", caProgress{switchedAt: longAgo}, caKeep},
		{"the old CA stays for a while after the switch", switched, "r2", caProgress{servingSigned: true, switchedAt: now}, caKeep},
		{"the old CA goes once every member serves a new leaf", switched, "r2", caProgress{servingSigned: true, switchedAt: longAgo}, caDropOld},
	}
	for _, tt := range tests {
		if got, why := planCARotation(tt.st, tt.request, tt.p, now); got != tt.want {
			t.Errorf("%s: %q (%s), want %q", tt.name, got, why, tt.want)
		}
	}
}
