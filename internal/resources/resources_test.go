package resources

import (
	"maps"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
)

func testCluster() *etcdv1alpha1.EtcdCluster {
	return &etcdv1alpha1.EtcdCluster{
		ObjectMeta: metav1.ObjectMeta{Name: "main", Namespace: "db", UID: "1234"},
		Spec:       etcdv1alpha1.EtcdClusterSpec{Size: 3, Version: "3.6.16"},
	}
}

func TestInitialClusterListsEveryMemberByStableDNSName(t *testing.T) {
	c := testCluster()
	got := InitialCluster(c, InitialMembers(c, 3))
	want := "main-0=http://main-0.main-peer.db.svc:2380,main-1=http://main-1.main-peer.db.svc:2380,main-2=http://main-2.main-peer.db.svc:2380"
	if got != want {
		t.Fatalf("InitialCluster:\n got %s\nwant %s", got, want)
	}
}

func TestBootstrapConfigMapTokenIsUniqueToTheObject(t *testing.T) {
	a, b := testCluster(), testCluster()
	b.UID = "5678"
	ta := BootstrapConfigMap(a, InitialMembers(a, 3), InitialClusterStateNew).Data["ETCD_INITIAL_CLUSTER_TOKEN"]
	tb := BootstrapConfigMap(b, InitialMembers(b, 3), InitialClusterStateNew).Data["ETCD_INITIAL_CLUSTER_TOKEN"]
	if ta == tb {
		t.Fatalf("two objects of the same name share the cluster token %q", ta)
	}
}

func TestQuorum(t *testing.T) {
	for size, want := range map[int]int{1: 1, 2: 2, 3: 2, 4: 3, 5: 3, 9: 5} {
		if got := Quorum(size); got != want {
			t.Errorf("Quorum(%d) = %d, want %d", size, got, want)
		}
	}
}

func TestPodDisruptionBudgetSelectsTheMembers(t *testing.T) {
	c := testCluster()
	pdb := PodDisruptionBudget(c, 4)
	if got := pdb.Spec.MinAvailable.IntValue(); got != 4 {
		t.Errorf("minAvailable = %d, want 4", got)
	}
	if got := pdb.Spec.Selector.MatchLabels; !maps.Equal(got, SelectorLabels(c)) {
		t.Errorf("selector = %v, want the member pods' %v", got, SelectorLabels(c))
	}
}

func TestMinAvailableKeepsAQuorumOfTheVoters(t *testing.T) {
	for _, tc := range []struct {
		voters, nonVoters int
		want              int32
	}{
		{voters: 1, want: 1},
		{voters: 3, want: 2},
		{voters: 5, want: 3},
		// A learner's pod counts for the budget but casts no vote: a
		// drain may take voters only.
		{voters: 2, nonVoters: 1, want: 3},
		{voters: 3, nonVoters: 1, want: 3},
		{voters: 4, nonVoters: 1, want: 4},
		{voters: 4, nonVoters: 2, want: 5},
	} {
		if got := MinAvailable(tc.voters, tc.nonVoters); got != tc.want {
			t.Errorf("MinAvailable(%d voters, %d non-voters) = %d, want %d", tc.voters, tc.nonVoters, got, tc.want)
		}
	}
}

func TestPeerServicePublishesNotReadyMembers(t *testing.T) {
	svc := PeerService(testCluster())
	if svc.Spec.ClusterIP != corev1.ClusterIPNone || !svc.Spec.PublishNotReadyAddresses {
		t.Fatalf("peer service must be headless and publish not-ready addresses: %+v", svc.Spec)
	}
}

func TestStatefulSet(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*etcdv1alpha1.EtcdCluster)
		check func(*testing.T, *appsv1.StatefulSet)
	}{{
		name: "defaults: parallel, OnDelete, 1Gi claim, official image",
		check: func(t *testing.T, s *appsv1.StatefulSet) {
			if s.Spec.PodManagementPolicy != appsv1.ParallelPodManagement || s.Spec.UpdateStrategy.Type != appsv1.OnDeleteStatefulSetStrategyType {
				t.Errorf("policy %s, strategy %s", s.Spec.PodManagementPolicy, s.Spec.UpdateStrategy.Type)
			}
			if len(s.Spec.VolumeClaimTemplates) != 1 {
				t.Fatalf("want one claim template, got %d", len(s.Spec.VolumeClaimTemplates))
			}
			if got := s.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests.Storage().String(); got != "1Gi" {
				t.Errorf("claim size %s", got)
			}
			if got := s.Spec.Template.Spec.Containers[0].Image; got != "gcr.io/etcd-development/etcd:v3.6.16" {
				t.Errorf("image %s", got)
			}
			if s.Spec.ServiceName != "main-peer" {
				t.Errorf("serviceName %s", s.Spec.ServiceName)
			}
		},
	}, {
		name: "emptyDir storage has no claim",
		edit: func(c *etcdv1alpha1.EtcdCluster) {
			c.Spec.Storage = &etcdv1alpha1.StorageSpec{EmptyDir: &corev1.EmptyDirVolumeSource{}}
		},
		check: func(t *testing.T, s *appsv1.StatefulSet) {
			if len(s.Spec.VolumeClaimTemplates) != 0 || s.Spec.Template.Spec.Volumes[0].EmptyDir == nil {
				t.Errorf("want an emptyDir volume and no claim")
			}
		},
	}, {
		name: "storage class, size, image and options are passed through",
		edit: func(c *etcdv1alpha1.EtcdCluster) {
			c.Spec.Storage = &etcdv1alpha1.StorageSpec{StorageClassName: ptr.To("fast"), Size: ptr.To(resource.MustParse("5Gi"))}
			c.Spec.Image = "registry.example/etcd:custom"
			c.Spec.Options = &etcdv1alpha1.EtcdOptions{QuotaBackendBytes: ptr.To(resource.MustParse("4Gi")), HeartbeatIntervalMillis: ptr.To[int32](200)}
		},
		check: func(t *testing.T, s *appsv1.StatefulSet) {
			claim := s.Spec.VolumeClaimTemplates[0]
			if *claim.Spec.StorageClassName != "fast" || claim.Spec.Resources.Requests.Storage().String() != "5Gi" {
				t.Errorf("claim %+v", claim.Spec)
			}
			ctr := s.Spec.Template.Spec.Containers[0]
			if ctr.Image != "registry.example/etcd:custom" {
				t.Errorf("image %s", ctr.Image)
			}
			env := map[string]string{}
			for _, e := range ctr.Env {
				env[e.Name] = e.Value
			}
			if env["ETCD_QUOTA_BACKEND_BYTES"] != "4294967296" || env["ETCD_HEARTBEAT_INTERVAL"] != "200" {
				t.Errorf("env %v", env)
			}
		},
	}, {
		name: "pod template labels cannot override the selector label",
		edit: func(c *etcdv1alpha1.EtcdCluster) {
			c.Spec.PodTemplate = &etcdv1alpha1.PodTemplate{Labels: map[string]string{LabelCluster: "other", "team": "a"}}
		},
		check: func(t *testing.T, s *appsv1.StatefulSet) {
			l := s.Spec.Template.Labels
			if l[LabelCluster] != "main" || l["team"] != "a" {
				t.Errorf("labels %v", l)
			}
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testCluster()
			if tt.edit != nil {
				tt.edit(c)
			}
			tt.check(t, StatefulSet(c, 3, nil, "quorum:test"))
		})
	}
}

func envOf(ctr corev1.Container) map[string]string {
	env := map[string]string{}
	for _, e := range ctr.Env {
		env[e.Name] = e.Value
	}
	return env
}

func TestTLSMembersUseHTTPSAndRequireClientCertificates(t *testing.T) {
	c := testCluster()
	c.Spec.TLS = &etcdv1alpha1.TLSSpec{}
	tmpl := StatefulSet(c, 3, []byte("ca one"), "quorum:test").Spec.Template
	env := envOf(tmpl.Spec.Containers[0])
	for k, want := range map[string]string{
		"ETCD_LISTEN_CLIENT_URLS":                "https://0.0.0.0:2379",
		"ETCD_ADVERTISE_CLIENT_URLS":             "https://$(POD_NAME).main-peer.db.svc:2379",
		"ETCD_INITIAL_ADVERTISE_PEER_URLS":       "https://$(POD_NAME).main-peer.db.svc:2380",
		"ETCD_LISTEN_METRICS_URLS":               "http://0.0.0.0:2381",
		"ETCD_CLIENT_CERT_AUTH":                  "true",
		"ETCD_PEER_CLIENT_CERT_AUTH":             "true",
		"ETCD_PEER_CERT_ALLOWED_CN":              "main-member",
		"ETCD_TRUSTED_CA_FILE":                   "/etc/etcd/tls/ca.crt",
		"ETCD_PEER_SKIP_CLIENT_SAN_VERIFICATION": "true",
	} {
		if env[k] != want {
			t.Errorf("%s=%q, want %q", k, env[k], want)
		}
	}
	if PeerURL(c, "main-0") != "https://main-0.main-peer.db.svc:2380" || ClientEndpoint(c) != "https://main.db.svc:2379" {
		t.Errorf("URLs %s %s", PeerURL(c, "main-0"), ClientEndpoint(c))
	}
	c.Spec.Version = "3.5.35"
	if env := envOf(StatefulSet(c, 3, nil, "quorum:test").Spec.Template.Spec.Containers[0]); env["ETCD_EXPERIMENTAL_PEER_SKIP_CLIENT_SAN_VERIFICATION"] != "true" {
		t.Errorf("etcd 3.5 needs the experimental name of the SAN setting: %v", env)
	}
	c.Spec.Version = "3.6.16"
	other := StatefulSet(c, 3, []byte("ca two"), "quorum:test").Spec.Template
	if TemplateHash(tmpl) == TemplateHash(other) {
		t.Error("a change of trusted CA does not change the template, so members would not be rolled to read it")
	}

	c.Spec.TLS.Secrets = &etcdv1alpha1.TLSSecrets{Member: "mine", OperatorClient: "ops"}
	user := StatefulSet(c, 3, []byte("ca one"), "quorum:test").Spec.Template
	if v := user.Spec.Volumes[len(user.Spec.Volumes)-1]; v.Secret == nil || v.Secret.SecretName != "mine" {
		t.Errorf("member volume %+v, want the user's Secret", v)
	}
	if _, set := envOf(user.Spec.Containers[0])["ETCD_PEER_CERT_ALLOWED_CN"]; set {
		t.Error("a user certificate's common name is not known, yet peers are restricted to one")
	}
}

func TestMemberPodsMeetTheRestrictedPodSecurityStandard(t *testing.T) {
	c := testCluster()
	c.Spec.Bootstrap = &etcdv1alpha1.BootstrapSpec{FromBackup: &etcdv1alpha1.BackupSource{BackupName: "b"}}
	tmpl := StatefulSet(c, 3, nil, "quorum:test").Spec.Template
	AddRestore(&tmpl, c, RestoreSource{ClaimName: "snap", Path: "a.db", SHA256: "00"}, "quorum:dev")
	pod := tmpl.Spec.SecurityContext
	if pod == nil || !*pod.RunAsNonRoot || *pod.RunAsUser == 0 || pod.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Fatalf("pod security context %+v", pod)
	}
	for _, ctr := range append(tmpl.Spec.InitContainers, tmpl.Spec.Containers...) {
		sc := ctr.SecurityContext
		if sc == nil || *sc.AllowPrivilegeEscalation || !*sc.ReadOnlyRootFilesystem ||
			len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" {
			t.Errorf("container %s security context %+v", ctr.Name, sc)
		}
	}
}

func TestSealedBootstrapNamesNoMember(t *testing.T) {
	c := testCluster()
	cm := SealedBootstrapConfigMap(c, time.Unix(1700000000, 0))
	if !IsSealed(cm) || IsSealed(BootstrapConfigMap(c, InitialMembers(c, 3), InitialClusterStateNew)) {
		t.Fatal("IsSealed does not tell sealed from listing")
	}
	for _, m := range InitialMembers(c, 9) {
		if strings.Contains(cm.Data["ETCD_INITIAL_CLUSTER"], m+"=") {
			t.Fatalf("sealed initial cluster names member %s", m)
		}
	}
	if cm.Data["ETCD_INITIAL_CLUSTER_STATE"] != InitialClusterStateExisting {
		t.Fatalf("sealed state %q, want existing", cm.Data["ETCD_INITIAL_CLUSTER_STATE"])
	}
}

func TestSealedAtRoundTrips(t *testing.T) {
	at := time.Date(2026, 11, 22, 5, 0, 0, 0, time.UTC)
	got, ok := SealedAt(SealedBootstrapConfigMap(testCluster(), at))
	if !ok || !got.Equal(at) {
		t.Fatalf("SealedAt = %v, %v; want %v", got, ok, at)
	}
	if _, ok := SealedAt(BootstrapConfigMap(testCluster(), nil, InitialClusterStateNew)); ok {
		t.Fatal("an unsealed ConfigMap has a seal time")
	}
}
