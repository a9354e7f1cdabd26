package controller

import (
	"errors"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
	"github.com/quorum-operator/quorum/internal/etcd"
	"github.com/quorum-operator/quorum/internal/resources"
)

var _ = Describe("The disruption budget", func() {
	var cluster *etcdv1alpha1.EtcdCluster

	create := func(size int32) {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "pdb-"}}
		Expect(k8sClient.Create(ctx, ns)).To(Succeed())
		DeferCleanup(func() { Expect(k8sClient.Delete(ctx, ns)).To(Succeed()) })
		cluster = &etcdv1alpha1.EtcdCluster{
			ObjectMeta: metav1.ObjectMeta{Name: "main", Namespace: ns.Name},
			Spec:       etcdv1alpha1.EtcdClusterSpec{Size: size, Version: "3.6.16"},
		}
		Expect(k8sClient.Create(ctx, cluster)).To(Succeed())
		DeferCleanup(func() { Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, cluster))).To(Succeed()) })
		var sts appsv1.StatefulSet
		Eventually(func() error { return k8sClient.Get(ctx, client.ObjectKeyFromObject(cluster), &sts) }, timeout).Should(Succeed())
		startMembers(cluster, int(size))
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(cluster), cluster)).To(Succeed())
			g.Expect(cluster.Status.Phase).To(Equal(etcdv1alpha1.PhaseRunning))
		}, timeout).Should(Succeed())
	}
	minAvailable := func() int {
		var pdb policyv1.PodDisruptionBudget
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: cluster.Namespace, Name: resources.PodDisruptionBudgetName(cluster)}, &pdb)).To(Succeed())
		return pdb.Spec.MinAvailable.IntValue()
	}
	resize := func(size int32) {
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(cluster), cluster)).To(Succeed())
			cluster.Spec.Size = size
			g.Expect(k8sClient.Update(ctx, cluster)).To(Succeed())
		}, timeout).Should(Succeed())
	}
	// waitForProgressing waits for a pass that saw the current spec and
	// says in Progressing that it waits for the reason given.
	waitForProgressing := func(reason string) {
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(cluster), cluster)).To(Succeed())
			g.Expect(cluster.Status.ObservedGeneration).To(Equal(cluster.Generation))
			progressing := meta.FindStatusCondition(cluster.Status.Conditions, etcdv1alpha1.ConditionProgressing)
			g.Expect(progressing).NotTo(BeNil())
			g.Expect(progressing.Message).To(ContainSubstring(reason))
		}, timeout).Should(Succeed())
	}

	It("keeps a quorum of the voters etcd lists while scaling in, and its value while etcd cannot be read", func() {
		create(5)
		Eventually(minAvailable, timeout).Should(Equal(3))

		By("holding a scale-in from 5 to 1 with a voter down: etcd still has 5 voters")
		down := memberDown(cluster, 0)
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(cluster), cluster)).To(Succeed())
			g.Expect(cluster.Status.ReadyMembers).To(BeEquivalentTo(4))
		}, timeout).Should(Succeed())
		resize(1)
		waitForProgressing("not removing healthy member main-4")
		Expect(minAvailable()).To(Equal(3), "minAvailable follows spec.size, not the 5 voters etcd has")

		By("keeping the last value while no member answers")
		fake := fakeEtcdOf(cluster)
		fake.Lock()
		fake.Err = errors.New("connection refused")
		fake.Unlock()
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(cluster), cluster)).To(Succeed())
			g.Expect(cluster.Status.Phase).To(Equal(etcdv1alpha1.PhaseQuorumLost))
		}, timeout).Should(Succeed())
		Consistently(minAvailable, 3*time.Second).Should(Equal(3), "lowered while etcd could not be read")

		By("following etcd as voters are removed: 3 voters, main-0 still down")
		fake.Lock()
		fake.Err = nil
		fake.Members = fake.Members[:3]
		fake.Unlock()
		// The StatefulSet controller stops the removed members' pods.
		deletePods(cluster, 3, 4)
		Eventually(minAvailable, timeout).Should(Equal(2))
		waitForProgressing("not removing healthy member main-2")
		Expect(minAvailable()).To(Equal(2))

		By("following etcd down to its last voter")
		fake.Lock()
		fake.Members = fake.Members[:1]
		fake.Statuses[down.endpoint] = down.status
		fake.Unlock()
		deletePods(cluster, 1, 2)
		Eventually(minAvailable, timeout).Should(Equal(1))
	})

	It("does not count a learner's pod toward quorum while scaling out", func() {
		create(2)
		Eventually(minAvailable, timeout).Should(Equal(2))
		fake := fakeEtcdOf(cluster)
		fake.Lock()
		fake.NotCaughtUp = true
		fake.Unlock()

		By("adding main-2 as a learner that cannot be promoted yet")
		resize(3)
		Eventually(fakeCalls(cluster), timeout).Should(ContainElement("add " + resources.PeerURL(cluster, "main-2")))
		Eventually(func(g Gomega) {
			var sts appsv1.StatefulSet
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(cluster), &sts)).To(Succeed())
			g.Expect(*sts.Spec.Replicas).To(BeEquivalentTo(3))
		}, timeout).Should(Succeed())
		startMember(cluster, 2, true)
		waitForProgressing("etcd says not yet")
		// Two voters and a learner: a drain that took one voter would
		// leave one of two, no quorum, so no pod may go.
		Expect(minAvailable()).To(Equal(3), "minAvailable counts the learner's pod as a voter")

		By("promoting it: three voters")
		fake.Lock()
		fake.NotCaughtUp = false
		fake.Unlock()
		Eventually(fakeCalls(cluster), timeout).Should(ContainElement(HavePrefix("promote")))
		Eventually(minAvailable, timeout).Should(Equal(2))
	})
})

// startMembers empties the fake etcd and stands in for the n bootstrapped
// members of c.
func startMembers(c *etcdv1alpha1.EtcdCluster, n int) {
	GinkgoHelper()
	fake := fakeEtcdOf(c)
	fake.Lock()
	fake.Members, fake.Statuses, fake.Calls = nil, map[string]*etcd.MemberStatus{}, nil
	fake.Unlock()
	for i := range n {
		startMember(c, i, false)
	}
}

// downMember is a member that stopped answering, and what it answered.
type downMember struct {
	endpoint string
	status   *etcd.MemberStatus
}

// memberDown makes the member of that ordinal stop answering.
func memberDown(c *etcdv1alpha1.EtcdCluster, ordinal int) downMember {
	GinkgoHelper()
	var pod corev1.Pod
	Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: resources.MemberName(c, ordinal)}, &pod)).To(Succeed())
	d := downMember{endpoint: "http://" + pod.Status.PodIP + ":2379"}
	fake := fakeEtcdOf(c)
	fake.Lock()
	defer fake.Unlock()
	d.status = fake.Statuses[d.endpoint]
	delete(fake.Statuses, d.endpoint)
	return d
}

// deletePods deletes the member pods of those ordinals.
func deletePods(c *etcdv1alpha1.EtcdCluster, ordinals ...int) {
	GinkgoHelper()
	for _, o := range ordinals {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: c.Namespace, Name: resources.MemberName(c, o)}}
		Expect(k8sClient.Delete(ctx, pod)).To(Succeed())
	}
}

func TestDisruptionMinAvailable(t *testing.T) {
	three, percent := intstr.FromInt32(3), intstr.FromString("50%")
	for _, tc := range []struct {
		name   string
		shape  clusterShape
		stored *intstr.IntOrString
		want   int32
	}{
		{"settled: quorum of the voters", clusterShape{size: 3, members: 3, replicas: 3}, nil, 2},
		{"scaling in from 5 to 1: etcd still has 5 voters", clusterShape{size: 1, members: 5, replicas: 5}, nil, 3},
		{"a removed member's pod still runs: it casts no vote", clusterShape{size: 1, members: 5, replicas: 5, removed: []int{4}}, nil, 4},
		{"a removed member's pod is being deleted: not counted", clusterShape{size: 1, members: 5, replicas: 5, removed: []int{4}, terminating: []int{4}}, nil, 3},
		{"scaled in to 3 voters", clusterShape{size: 1, members: 3, replicas: 3}, nil, 2},
		{"scaling out from 3: a learner before its pod", clusterShape{size: 5, members: 4, replicas: 3, learners: []int{3}}, nil, 3},
		{"scaling out from 3: a learner with its pod", clusterShape{size: 5, members: 4, replicas: 4, learners: []int{3}}, nil, 3},
		{"scaling out from 2 to 3: two voters need both", clusterShape{size: 3, members: 3, replicas: 3, learners: []int{2}}, nil, 3},
		{"scaling out from 4 to 5: four voters need three", clusterShape{size: 5, members: 5, replicas: 5, learners: []int{4}}, nil, 4},
		{"the learner promoted: five voters", clusterShape{size: 5, members: 5, replicas: 5}, nil, 3},
		{"etcd cannot be read: the stored value is kept", clusterShape{size: 1, replicas: 5}, &three, 3},
		{"etcd cannot be read, no budget yet: a new cluster's size", clusterShape{size: 5, replicas: 5}, nil, 3},
		{"etcd cannot be read, a value not the operator's: the size", clusterShape{size: 3, replicas: 3}, &percent, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := disruptionMinAvailable(tc.shape.observe(), tc.stored); got != tc.want {
				t.Errorf("minAvailable = %d, want %d", got, tc.want)
			}
		})
	}
}
