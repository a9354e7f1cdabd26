package controller

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
	"github.com/quorum-operator/quorum/internal/etcd"
	"github.com/quorum-operator/quorum/internal/memberguard"
	"github.com/quorum-operator/quorum/internal/resources"
)

// threeMembers is a formed 3-member cluster whose leader is member 1; the
// healthy argument names the members that answered their status call.
func threeMembers(healthy ...string) *observedCluster {
	c := &etcdv1alpha1.EtcdCluster{
		ObjectMeta: metav1.ObjectMeta{Name: "main", Namespace: "db", Generation: 4},
		Spec:       etcdv1alpha1.EtcdClusterSpec{Size: 3, Version: "3.6.16"},
	}
	obs := &observedCluster{cluster: c, statuses: map[string]*etcd.MemberStatus{}, statefulSet: &appsv1.StatefulSet{}}
	obs.statefulSet.Spec.Replicas = ptr.To[int32](3)
	for i, name := range []string{"main-0", "main-1", "main-2"} {
		obs.members = append(obs.members, etcd.Member{ID: uint64(i + 1), Name: name, PeerURLs: []string{"http://" + name + ".main-peer.db.svc:2380"}})
	}
	for _, name := range healthy {
		id := uint64(podOrdinal(name) + 1)
		obs.statuses[name] = &etcd.MemberStatus{MemberID: id, ClusterID: 0xabc, Leader: 1, Version: "3.6.16", DBSize: 20480, Revision: 7}
	}
	// Pods of healthy members are Ready, as the kubelet reports them once
	// etcd's /readyz answers.
	for i, name := range []string{"main-0", "main-1", "main-2"} {
		pod := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.PodStatus{PodIP: fmt.Sprintf("10.0.0.%d", i+1)}}
		if slices.Contains(healthy, name) {
			pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
		}
		obs.pods = append(obs.pods, pod)
	}
	return obs
}

// notReady marks the named pods not Ready, as before etcd answered their
// readiness probe.
func notReady(o *observedCluster, names ...string) *observedCluster {
	for i := range o.pods {
		if slices.Contains(names, o.pods[i].Name) {
			o.pods[i].Status.Conditions = nil
		}
	}
	return o
}

func condition(st etcdv1alpha1.EtcdClusterStatus, t string) metav1.Condition {
	c := meta.FindStatusCondition(st.Conditions, t)
	if c == nil {
		return metav1.Condition{}
	}
	return *c
}

func TestComputeStatus(t *testing.T) {
	tests := []struct {
		name           string
		obs            *observedCluster
		plan           step
		phase          etcdv1alpha1.ClusterPhase
		ready          int32
		available      metav1.ConditionStatus
		availableWhy   string
		degraded       metav1.ConditionStatus
		progressing    metav1.ConditionStatus
		progressingWhy string
	}{{
		name: "all healthy", obs: threeMembers("main-0", "main-1", "main-2"),
		phase: etcdv1alpha1.PhaseRunning, ready: 3,
		available: metav1.ConditionTrue, availableWhy: etcdv1alpha1.ReasonQuorumHealthy,
		degraded: metav1.ConditionFalse, progressing: metav1.ConditionFalse, progressingWhy: etcdv1alpha1.ReasonReconciled,
	}, {
		name: "one member down keeps quorum but is degraded", obs: threeMembers("main-0", "main-1"),
		phase: etcdv1alpha1.PhaseDegraded, ready: 2,
		available: metav1.ConditionTrue, availableWhy: etcdv1alpha1.ReasonQuorumHealthy,
		degraded: metav1.ConditionTrue, progressing: metav1.ConditionTrue, progressingWhy: reasonMembersMissing,
	}, {
		name: "two members down lose quorum",
		obs: func() *observedCluster {
			o := threeMembers("main-0")
			o.cluster.Status.ClusterID = "abc"
			return o
		}(),
		phase: etcdv1alpha1.PhaseQuorumLost, ready: 1,
		available: metav1.ConditionFalse, availableWhy: etcdv1alpha1.ReasonQuorumLost,
		degraded: metav1.ConditionTrue, progressing: metav1.ConditionTrue, progressingWhy: reasonMembersMissing,
	}, {
		name: "a new cluster no member answered yet is being created",
		obs: func() *observedCluster {
			o := threeMembers()
			o.members, o.etcdErr = nil, errors.New("no member pod has an IP yet")
			return o
		}(),
		phase: etcdv1alpha1.PhaseCreating, ready: 0,
		available: metav1.ConditionFalse, availableWhy: reasonCreating,
		degraded: metav1.ConditionFalse, progressing: metav1.ConditionTrue, progressingWhy: reasonCreating,
	}, {
		name: "a formed cluster nobody answers for has lost quorum, not being created",
		obs: func() *observedCluster {
			o := threeMembers()
			o.members, o.etcdErr = nil, errors.New("context deadline exceeded")
			o.cluster.Status.ClusterID = "abc"
			return o
		}(),
		phase: etcdv1alpha1.PhaseQuorumLost, ready: 0,
		available: metav1.ConditionFalse, availableWhy: etcdv1alpha1.ReasonQuorumLost,
		degraded: metav1.ConditionTrue, progressing: metav1.ConditionTrue, progressingWhy: reasonMembersMissing,
	}, {
		name: "without quorum the member list is the last known, with the one member that answers healthy",
		obs: func() *observedCluster {
			o := threeMembers("main-0")
			o.cluster.Status = computeStatus(threeMembers("main-0", "main-1", "main-2"), step{})
			o.members, o.etcdErr = nil, errors.New("context deadline exceeded")
			return o
		}(),
		phase: etcdv1alpha1.PhaseQuorumLost, ready: 1,
		available: metav1.ConditionFalse, availableWhy: etcdv1alpha1.ReasonQuorumLost,
		degraded: metav1.ConditionTrue, progressing: metav1.ConditionTrue, progressingWhy: reasonMembersMissing,
	}, {
		name: "scaling out with every member healthy is progressing, not degraded",
		obs: func() *observedCluster {
			o := threeMembers("main-0", "main-1", "main-2")
			o.cluster.Spec.Size = 5
			return o
		}(),
		plan:  step{kind: stepAddLearner, member: "main-3", reason: "adding main-3 as a learner"},
		phase: etcdv1alpha1.PhaseScaling, ready: 3,
		available: metav1.ConditionTrue, availableWhy: etcdv1alpha1.ReasonQuorumHealthy,
		degraded: metav1.ConditionFalse, progressing: metav1.ConditionTrue, progressingWhy: string(stepAddLearner),
	}, {
		name: "a refused step is reported as waiting with its reason",
		obs: func() *observedCluster {
			o := threeMembers("main-0", "main-1")
			o.cluster.Spec.Size = 5
			return o
		}(),
		plan:  step{kind: stepWait, reason: "not adding a member: 1 of 3 voters are unhealthy"},
		phase: etcdv1alpha1.PhaseScaling, ready: 2,
		available: metav1.ConditionTrue, availableWhy: etcdv1alpha1.ReasonQuorumHealthy,
		degraded: metav1.ConditionTrue, progressing: metav1.ConditionTrue, progressingWhy: reasonWaiting,
	}, {
		// make demo once showed Available=True, phase Degraded, while no pod
		// was Ready and the client Service had no endpoint.
		name: "a new cluster with quorum in etcd but no pod ready is creating, not available",
		obs: func() *observedCluster {
			o := notReady(threeMembers("main-0", "main-1"), "main-0", "main-1")
			o.bootstrap = resources.BootstrapConfigMap(o.cluster, resources.InitialMembers(o.cluster, 3), resources.InitialClusterStateNew)
			return o
		}(),
		phase: etcdv1alpha1.PhaseCreating, ready: 2,
		available: metav1.ConditionFalse, availableWhy: etcdv1alpha1.ReasonMemberStarting,
		degraded: metav1.ConditionFalse, progressing: metav1.ConditionTrue, progressingWhy: reasonCreating,
	}, {
		name: "a new cluster is available once a quorum of pods is ready, still creating",
		obs: func() *observedCluster {
			o := notReady(threeMembers("main-0", "main-1"), "main-2")
			o.bootstrap = resources.BootstrapConfigMap(o.cluster, resources.InitialMembers(o.cluster, 3), resources.InitialClusterStateNew)
			return o
		}(),
		phase: etcdv1alpha1.PhaseCreating, ready: 2,
		available: metav1.ConditionTrue, availableWhy: etcdv1alpha1.ReasonQuorumHealthy,
		degraded: metav1.ConditionFalse, progressing: metav1.ConditionTrue, progressingWhy: reasonCreating,
	}, {
		name:  "a formed cluster whose ready pods are fewer than a quorum is not available",
		obs:   notReady(threeMembers("main-0", "main-1", "main-2"), "main-1", "main-2"),
		phase: etcdv1alpha1.PhaseRunning, ready: 3,
		available: metav1.ConditionFalse, availableWhy: etcdv1alpha1.ReasonMemberStarting,
		degraded: metav1.ConditionFalse, progressing: metav1.ConditionFalse, progressingWhy: etcdv1alpha1.ReasonReconciled,
	}, {
		name: "a NOSPACE alarm is not a loss of quorum",
		obs: func() *observedCluster {
			o := threeMembers("main-0", "main-1", "main-2")
			for _, s := range o.statuses {
				s.Alarms = []etcd.Alarm{{MemberID: 2, Type: etcd.AlarmNoSpace}}
			}
			return o
		}(),
		phase: etcdv1alpha1.PhaseRunning, ready: 3,
		available: metav1.ConditionTrue, availableWhy: etcdv1alpha1.ReasonQuorumHealthy,
		degraded: metav1.ConditionFalse, progressing: metav1.ConditionFalse, progressingWhy: etcdv1alpha1.ReasonReconciled,
	}, {
		name: "a failed pass says why and keeps the generation the last good pass saw",
		obs: func() *observedCluster {
			o := threeMembers("main-0", "main-1", "main-2")
			o.cluster.Status.ObservedGeneration = 3
			return o
		}(),
		plan:  step{kind: stepError, reason: "patch statefulset: conflict"},
		phase: etcdv1alpha1.PhaseRunning, ready: 3,
		available: metav1.ConditionTrue, availableWhy: etcdv1alpha1.ReasonQuorumHealthy,
		degraded: metav1.ConditionFalse, progressing: metav1.ConditionTrue, progressingWhy: etcdv1alpha1.ReasonReconcileError,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := computeStatus(tt.obs, tt.plan)
			if st.Phase != tt.phase || st.ReadyMembers != tt.ready {
				t.Errorf("phase %s ready %d, want %s %d", st.Phase, st.ReadyMembers, tt.phase, tt.ready)
			}
			if c := condition(st, etcdv1alpha1.ConditionAvailable); c.Status != tt.available || c.Reason != tt.availableWhy {
				t.Errorf("Available %s/%s, want %s/%s (%s)", c.Status, c.Reason, tt.available, tt.availableWhy, c.Message)
			}
			if c := condition(st, etcdv1alpha1.ConditionDegraded); c.Status != tt.degraded {
				t.Errorf("Degraded %s, want %s (%s)", c.Status, tt.degraded, c.Message)
			}
			if c := condition(st, etcdv1alpha1.ConditionProgressing); c.Status != tt.progressing || c.Reason != tt.progressingWhy {
				t.Errorf("Progressing %s/%s, want %s/%s", c.Status, c.Reason, tt.progressing, tt.progressingWhy)
			}
			wantGeneration := int64(4)
			if tt.plan.kind == stepError {
				wantGeneration = 3
			}
			if st.ObservedGeneration != wantGeneration {
				t.Errorf("observedGeneration %d, want %d", st.ObservedGeneration, wantGeneration)
			}
		})
	}
}

// A survivor that lost its leader still answers, with an error: status
// shows it as running but unhealthy, and counts it in the message.
func TestQuorumLostCountsASurvivorWithoutALeaderAsAnswering(t *testing.T) {
	o := threeMembers("main-0")
	o.cluster.Status = computeStatus(threeMembers("main-0", "main-1", "main-2"), step{})
	o.members, o.etcdErr = nil, errors.New("context deadline exceeded")
	o.statuses["main-0"].Leader, o.statuses["main-0"].Errors = 0, []string{"etcdserver: no leader"}

	st := computeStatus(o, step{})
	if st.Phase != etcdv1alpha1.PhaseQuorumLost || st.ReadyMembers != 0 {
		t.Fatalf("phase %s ready %d, want QuorumLost 0", st.Phase, st.ReadyMembers)
	}
	survivor := st.Members[0]
	if survivor.Name != "main-0" || survivor.Healthy || len(survivor.Errors) != 1 || survivor.Version != "3.6.16" {
		t.Errorf("survivor %+v, want unhealthy with its error and version", survivor)
	}
	want := "0 of 3 voting members healthy (1 answering), quorum needs 2"
	if c := condition(st, etcdv1alpha1.ConditionAvailable); !strings.Contains(c.Message, want) {
		t.Errorf("Available message %q, want it to contain %q", c.Message, want)
	}
}

// Two passes over a cluster that lost quorum, whose client tried the
// members in another order, write the same conditions: a status write per
// pass would otherwise say nothing new (calibration, docs/scale.md).
func TestQuorumLostMessageDoesNotChangeWithTheOrderMembersWereTried(t *testing.T) {
	refused := func(ip string) error {
		return fmt.Errorf("http://%s:2379: %w", ip, grpcstatus.Error(codes.Unavailable,
			"connection error: desc = \"transport: Error while dialing: dial tcp "+ip+":2379: connect: connection refused\""))
	}
	pass := func(first, second string) etcdv1alpha1.EtcdClusterStatus {
		o := threeMembers("main-0")
		o.cluster.Status = computeStatus(threeMembers("main-0", "main-1", "main-2"), step{})
		o.members, o.etcdErr = nil, fmt.Errorf("list etcd members: %w", errors.Join(refused(first), refused(second)))
		return computeStatus(o, step{})
	}
	a, b := pass("10.0.0.2", "10.0.0.3"), pass("10.0.0.3", "10.0.0.2")
	for _, typ := range []string{etcdv1alpha1.ConditionAvailable, etcdv1alpha1.ConditionReady} {
		if ca, cb := condition(a, typ), condition(b, typ); ca.Message != cb.Message {
			t.Errorf("%s message changed with the order the members were tried:\n%s\n%s", typ, ca.Message, cb.Message)
		}
	}
}

func TestMemberStatusesReportLeaderLearnerAndHealth(t *testing.T) {
	obs := threeMembers("main-0", "main-1")
	obs.members = append(obs.members, etcd.Member{ID: 9, IsLearner: true, PeerURLs: []string{"http://main-3.main-peer.db.svc:2380"}})
	got := memberStatuses(obs)
	if len(got) != 4 {
		t.Fatalf("want 4 members, got %d", len(got))
	}
	if !got[0].Leader || got[1].Leader || !got[0].Healthy || got[2].Healthy {
		t.Errorf("leader/health wrong: %+v", got[:3])
	}
	if got[0].ID != "1" || got[0].Version != "3.6.16" || got[0].DBSizeBytes != 20480 || got[0].Revision != 7 {
		t.Errorf("member 0: %+v", got[0])
	}
	if got[3].Name != "main-3" || !got[3].Learner {
		t.Errorf("unstarted learner should be named from its peer URL: %+v", got[3])
	}
}

func TestCurrentVersionIsTheLowestHealthyVersion(t *testing.T) {
	obs := threeMembers("main-0", "main-1", "main-2")
	obs.statuses["main-1"].Version = "3.5.21"
	if got := computeStatus(obs, step{}).CurrentVersion; got != "3.5.21" {
		t.Fatalf("currentVersion %s, want 3.5.21", got)
	}
}

func TestVersionLessComparesNumerically(t *testing.T) {
	if !versionLess("3.6.9", "3.6.10") || versionLess("3.10.0", "3.9.0") || versionLess("3.6.1", "3.6.1") {
		t.Fatal("versionLess compares as text")
	}
}

func TestStatusReportsARollingUpdate(t *testing.T) {
	obs := clusterShape{size: 3, members: 3, replicas: 3, outdated: []int{0, 1}}.observe()
	st := computeStatus(obs, planMembership(obs))
	up := condition(st, etcdv1alpha1.ConditionUpgrading)
	if st.Phase != etcdv1alpha1.PhaseUpgrading || st.UpdatedMembers != 1 || up.Status != metav1.ConditionTrue || up.Reason != etcdv1alpha1.ReasonRollingUpdate {
		t.Fatalf("phase %s updated %d Upgrading %s/%s (%s)", st.Phase, st.UpdatedMembers, up.Status, up.Reason, up.Message)
	}

	halted := clusterShape{size: 3, members: 3, replicas: 3, outdated: []int{0, 1}, unhealthy: []int{2}, waiting: map[int]string{2: "ImagePullBackOff"}}.observe()
	st = computeStatus(halted, planMembership(halted))
	up, progressing := condition(st, etcdv1alpha1.ConditionUpgrading), condition(st, etcdv1alpha1.ConditionProgressing)
	if st.Phase != etcdv1alpha1.PhaseDegraded || up.Reason != etcdv1alpha1.ReasonRolloutHalted ||
		progressing.Status != metav1.ConditionFalse || progressing.Reason != etcdv1alpha1.ReasonRolloutHalted {
		t.Fatalf("halted: phase %s Upgrading %s Progressing %s/%s", st.Phase, up.Reason, progressing.Status, progressing.Reason)
	}

	done := clusterShape{size: 3, members: 3, replicas: 3}.observe()
	st = computeStatus(done, planMembership(done))
	if up := condition(st, etcdv1alpha1.ConditionUpgrading); st.Phase != etcdv1alpha1.PhaseRunning || up.Status != metav1.ConditionFalse || st.UpdatedMembers != 3 {
		t.Fatalf("done: phase %s Upgrading %s updated %d", st.Phase, up.Status, st.UpdatedMembers)
	}
}

// The kstatus conditions for every phase: what Flux, Argo CD and kubectl
// wait read.
func TestKstatusConditions(t *testing.T) {
	formedWithout := func(healthy ...string) *observedCluster {
		o := threeMembers(healthy...)
		o.cluster.Status.ClusterID = "abc"
		return o
	}
	creating := func() *observedCluster {
		o := notReady(threeMembers("main-0", "main-1"), "main-2")
		o.bootstrap = resources.BootstrapConfigMap(o.cluster, resources.InitialMembers(o.cluster, 3), resources.InitialClusterStateNew)
		return o
	}
	paused := func() *observedCluster {
		o := threeMembers("main-0", "main-1", "main-2")
		o.cluster.Spec.Paused = true
		return o
	}
	tests := []struct {
		name                      string
		obs                       *observedCluster
		plan                      step
		ready, reconciling, stall metav1.ConditionStatus
	}{
		{"running", threeMembers("main-0", "main-1", "main-2"), step{}, "True", "False", "False"},
		{"creating", creating(), step{}, "False", "True", "False"},
		{"scaling", threeMembers("main-0", "main-1", "main-2"), step{kind: stepAddLearner, reason: "adding"}, "False", "True", "False"},
		{"degraded, a member down", threeMembers("main-0", "main-1"), step{}, "False", "True", "False"},
		{"quorum lost", formedWithout("main-0"), step{}, "False", "False", "True"},
		{"rollout halted", threeMembers("main-0", "main-1"), step{kind: stepHalted, reason: "rollout halted: main-2 does not come back"}, "False", "False", "True"},
		{"a failed pass", threeMembers("main-0", "main-1", "main-2"), step{kind: stepError, reason: "conflict"}, "False", "True", "False"},
		{"paused", paused(), step{}, "True", "False", "False"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := computeStatus(tt.obs, tt.plan)
			got := [3]metav1.ConditionStatus{condition(st, etcdv1alpha1.ConditionReady).Status,
				condition(st, etcdv1alpha1.ConditionReconciling).Status, condition(st, etcdv1alpha1.ConditionStalled).Status}
			if want := [3]metav1.ConditionStatus{tt.ready, tt.reconciling, tt.stall}; got != want {
				t.Errorf("Ready, Reconciling, Stalled = %v, want %v (phase %s)", got, want, st.Phase)
			}
		})
	}
}

// Every member's pod came back without data (emptyDir pods deleted): the
// message says so and that a restore is the user's decision, instead of
// counting the members as merely down.
func TestQuorumLostSaysWhenTheMembersLostTheirData(t *testing.T) {
	o := threeMembers()
	o.cluster.Status = computeStatus(threeMembers("main-0", "main-1", "main-2"), step{})
	o.members, o.etcdErr = nil, errors.New("context deadline exceeded")
	for i := range o.pods {
		o.pods[i].Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: resources.GuardContainerName,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: memberguard.ExitLostData, Message: "data directory is empty"}}}}
	}

	st := computeStatus(o, step{})
	if st.Phase != etcdv1alpha1.PhaseQuorumLost {
		t.Fatalf("phase %s, want QuorumLost", st.Phase)
	}
	c := condition(st, etcdv1alpha1.ConditionAvailable)
	for _, want := range []string{"3 of 3 voting members lost their data", "cannot come back by itself", "restore it from a backup"} {
		if !strings.Contains(c.Message, want) {
			t.Errorf("Available message %q, want it to contain %q", c.Message, want)
		}
	}
}
