package controller

import (
	"maps"
	"slices"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
	"github.com/quorum-operator/quorum/internal/etcd"
	"github.com/quorum-operator/quorum/internal/resources"
)

// The operator killed right after the steps it takes (issue #15, item 4):
// each scenario runs with every step kind armed, so an acting pass ends in
// a kill before its status write and requeue (up to maxKillsPerKind times
// per kind and scenario), and the next pass is made by a new reconciler
// with nothing in memory. Each converges to its spec with no learner left
// over, and a quorum of voters runs after every pass.
var _ = Describe("The operator killed at every step", Ordered, func() {
	// reached collects the step kinds killed at, over all scenarios.
	reached := map[string]int{}
	record := func(w *killWorld) {
		for k, n := range w.kills {
			reached[k] += n
		}
	}

	It("creates a cluster, scales it 3 to 5 and back to 3, and disarms NOSPACE", func() {
		w := newKillWorld("scale", etcdv1alpha1.EtcdClusterSpec{Size: 3, Version: "3.6.16"})
		w.runUntil("create", w.converged)
		Expect(w.kills).To(HaveKey(string(stepCreate)))

		w.update(func(c *etcdv1alpha1.EtcdCluster) { c.Spec.Size = 5 })
		w.runUntil("scale out to 5", w.converged)
		Expect(w.kills).To(HaveKey(string(stepPromote)))

		By("scaling in with the leader on a member to go")
		w.setLeader(4)
		w.update(func(c *etcdv1alpha1.EtcdCluster) { c.Spec.Size = 3 })
		w.runUntil("scale in to 3", w.converged)
		Expect(w.kills).To(HaveKey(string(stepMoveLeader)))
		Expect(w.kills).To(HaveKey(string(stepDeleteClaim)))

		By("raising NOSPACE with databases that fit the quota")
		w.fake.Lock()
		for _, st := range w.fake.Statuses {
			st.Alarms, st.DBSize = []etcd.Alarm{{MemberID: 100, Type: etcd.AlarmNoSpace}}, 1<<20
		}
		w.fake.Unlock()
		w.runUntil("disarm NOSPACE", func() string {
			if w.kills[string(stepDisarmAlarm)] == 0 {
				return "alarm not disarmed"
			}
			w.fake.Lock()
			defer w.fake.Unlock()
			for endpoint, st := range w.fake.Statuses {
				if len(st.Alarms) > 0 {
					return endpoint + " still reports an alarm"
				}
			}
			return ""
		})
		w.runUntil("settled after the alarm", w.converged)
		record(w)
	})

	It("rolls out a minor downgrade, with etcd's downgrade enabled first", func() {
		w := newKillWorld("downgrade", etcdv1alpha1.EtcdClusterSpec{Size: 3, Version: "3.6.16"})
		w.runUntil("create", w.converged)
		w.update(func(c *etcdv1alpha1.EtcdCluster) { c.Spec.Version = "3.5.26" })
		w.runUntil("downgrade to 3.5.26", w.converged)
		Expect(w.kills).To(HaveKey(string(stepEnableDowngrade)))
		Expect(w.taken).To(HaveKeyWithValue(string(stepRollMember), 3))
		record(w)
	})

	It("replaces a member that lost its data while a learner is being added", func() {
		w := newKillWorld("replace", etcdv1alpha1.EtcdClusterSpec{Size: 3, Version: "3.6.16"})
		w.runUntil("create", w.converged)

		By("adding main-3 as a learner whose pod does not start yet")
		learner := resources.MemberName(w.cluster, 3)
		w.hold[learner] = true
		w.update(func(c *etcdv1alpha1.EtcdCluster) { c.Spec.Size = 4 })
		w.runUntil("learner added", func() string {
			if w.kills[string(stepRaiseReplicas)] == 0 {
				return "replicas not raised for the learner"
			}
			return ""
		})

		By("losing the data of another member")
		w.loseData(1)
		w.runUntil("member replaced, the learner's join settings rewritten", func() string {
			if w.kills[string(stepWriteJoin)] == 0 {
				return "join settings not rewritten"
			}
			return ""
		})
		delete(w.hold, learner)
		w.runUntil("replaced and added", w.converged)
		Expect(w.kills).To(HaveKey(string(stepReplace)))
		Expect(w.kills).To(HaveKey(string(stepRestartPod)))
		record(w)
	})

	It("creates a TLS cluster, renews its certificates and rotates its CA", func() {
		w := newKillWorld("tls", etcdv1alpha1.EtcdClusterSpec{Size: 3, Version: "3.6.16", TLS: &etcdv1alpha1.TLSSpec{}})
		w.runUntil("create", w.converged)
		Expect(w.kills).To(HaveKey(string(stepIssueCA)))

		By("asking for the certificates to be renewed")
		w.update(func(c *etcdv1alpha1.EtcdCluster) {
			c.Annotations = map[string]string{resources.AnnotationRenewCertificates: "1"}
		})
		w.runUntil("certificates renewed", func() string {
			if w.kills[string(stepIssueLeaves)] == 0 {
				return "not reissued"
			}
			return w.converged()
		})

		By("asking for a CA rotation")
		w.update(func(c *etcdv1alpha1.EtcdCluster) {
			c.Annotations[resources.AnnotationRotateCA] = "1"
		})
		w.runUntil("CA switched", func() string {
			if w.kills[string(stepCASwitch)] == 0 {
				return "the new CA does not sign yet"
			}
			return w.membersAsSpec()
		})
		Expect(w.kills).To(HaveKey(string(stepCATrustBoth)))

		By("letting the old CA's time run out (caOldKept)")
		var ca corev1.Secret
		Expect(k8sClient.Get(ctx, w.key(resources.CASecretName(w.cluster)), &ca)).To(Succeed())
		Expect(ca.Annotations).To(HaveKey(resources.AnnotationCASwitchedAt))
		ca.Annotations[resources.AnnotationCASwitchedAt] = time.Now().Add(-caOldKept - time.Minute).UTC().Format(time.RFC3339)
		Expect(k8sClient.Update(ctx, &ca)).To(Succeed())
		// The running operator holds the CA Secret in its cache (secretTTL)
		// and would see the time pass, not the edit: a new one reads it.
		w.r = w.newOperator()
		w.runUntil("old CA dropped", func() string {
			if w.kills[string(stepCADropOld)] == 0 {
				return "the old CA is still trusted"
			}
			return w.converged()
		})
		Expect(w.taken).To(HaveKeyWithValue(string(stepRollMember), 6), "each member rolled twice: to trust both CAs, then the new one only")
		record(w)
	})

	It("expands the members' claims when spec.storage.size grows", func() {
		// The step and the edit it answers come with the claim expansion
		// feature (#16); without it spec.storage cannot change.
		if !slices.Contains(allStepKinds, "ExpandClaims") {
			Skip("this operator has no ExpandClaims step")
		}
		class := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "killsteps-expandable"},
			Provisioner: "example.com/none", AllowVolumeExpansion: ptr.To(true)}
		if err := k8sClient.Create(ctx, class); !apierrors.IsAlreadyExists(err) {
			Expect(err).NotTo(HaveOccurred())
		}
		w := newKillWorld("grow", etcdv1alpha1.EtcdClusterSpec{Size: 3, Version: "3.6.16",
			Storage: &etcdv1alpha1.StorageSpec{StorageClassName: ptr.To(class.Name), Size: ptr.To(resource.MustParse("1Gi"))}})
		w.runUntil("create", w.converged)
		w.update(func(c *etcdv1alpha1.EtcdCluster) { c.Spec.Storage.Size = ptr.To(resource.MustParse("2Gi")) })
		w.runUntil("claims expanded", func() string {
			var claims corev1.PersistentVolumeClaimList
			Expect(k8sClient.List(ctx, &claims, client.InNamespace(w.cluster.Namespace), client.MatchingLabels(resources.SelectorLabels(w.cluster)))).To(Succeed())
			for _, pvc := range claims.Items {
				if c := pvc.Status.Capacity[corev1.ResourceStorage]; c.Cmp(resource.MustParse("2Gi")) < 0 {
					return pvc.Name + " has " + c.String()
				}
			}
			return w.converged()
		})
		Expect(w.kills).To(HaveKey("ExpandClaims"))
		record(w)
	})

	It("killed it at every step kind", func() {
		var missing []string
		for _, k := range allStepKinds {
			if reached[k] == 0 {
				missing = append(missing, k)
			}
		}
		GinkgoWriter.Printf("kills by step kind: %v\n", reached)
		AddReportEntry("kills by step kind", reached)
		Expect(missing).To(BeEmpty(), "step kinds never killed at (reached: %v)", slices.Sorted(maps.Keys(reached)))
	})
})
