package controller

import (
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
	"github.com/quorum-operator/quorum/internal/etcd"
	"github.com/quorum-operator/quorum/internal/memberguard"
	"github.com/quorum-operator/quorum/internal/resources"
)

// cluster describes an observed cluster for the planner tests: members m-0..
// m-(members-1), member i has ID i+1.
type clusterShape struct {
	size, members, replicas int
	unhealthy               []int // ordinals that did not answer
	learners                []int
	leader                  int
	pods                    []int // ordinals with a pod; default 0..replicas-1
	claims                  []int // ordinals with a claim; default none
	unsealed                bool  // the bootstrap ConfigMap still lists members
	joining                 int   // with unsealed: the ordinal being added (the only one that may start empty); 0 for a new cluster
	guardRefused            []int // ordinals whose pod the member guard stopped (empty data dir)
	emptyDir                bool  // members keep their data in emptyDir volumes
	unstarted               []int // learners that never started (etcd lists them without a name)
	staleJoin               bool  // with joining: the join settings list every initial member, not those etcd lists
	mayStartEmpty           []int // with unsealed: the members the settings still let start empty (narrowed)
	noSpace                 bool  // etcd's NOSPACE alarm, raised by m-0, as every member reports it
	dbSize                  int64 // each member's database size
	lost                    []int // ordinals whose claim is newer than the seal
	crashLooping            []int // ordinals whose pod waits out a backoff
	removed                 []int // ordinals etcd no longer lists (pods and claims stay)

	// Rolling updates: pods are on the StatefulSet's update revision unless
	// listed in outdated.
	outdated    []int          // pods on an older template
	terminating []int          // pods being deleted
	waiting     map[int]string // a pod's etcd container waits for this reason
	versions    map[int]string // member versions other than 3.6.16
	lagging     []int          // members far behind the leader's log
	stsStale    bool           // the StatefulSet controller has not seen the template yet
	rolling     bool           // the rolling-update mark is set with no pod outdated
	specVersion string         // spec.version; 3.6.16 when empty
	downgrade   string         // the downgrade target members report
	storage     map[int]string // members' storage versions

	// Disk space.
	quota     string                          // spec.options.quotaBackendBytes
	dbInUse   int64                           // each member's database in use
	revision  int64                           // each member's revision
	recovered bool                            // with noSpace: compacted at revision and every member defragmented since
	defrag    *etcdv1alpha1.DefragPolicy      // spec.maintenance.defrag
	maint     *etcdv1alpha1.MaintenanceStatus // status.maintenance
}

// sealedAt is when the test clusters' bootstrap settings were sealed.
var sealedAt = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

func (s clusterShape) observe() *observedCluster {
	c := &etcdv1alpha1.EtcdCluster{
		ObjectMeta: metav1.ObjectMeta{Name: "m", Namespace: "db"},
		Spec:       etcdv1alpha1.EtcdClusterSpec{Size: int32(s.size), Version: "3.6.16"},
	}
	if s.specVersion != "" {
		c.Spec.Version = s.specVersion
	}
	if s.emptyDir {
		c.Spec.Storage = &etcdv1alpha1.StorageSpec{EmptyDir: &corev1.EmptyDirVolumeSource{}}
	}
	s.applySpace(c)
	obs := &observedCluster{cluster: c, statuses: map[string]*etcd.MemberStatus{},
		statefulSet: &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Generation: 2},
			Spec:   appsv1.StatefulSetSpec{Replicas: ptr.To(int32(s.replicas))},
			Status: appsv1.StatefulSetStatus{ObservedGeneration: 2, UpdateRevision: "new"}}}
	obs.statefulSet.Annotations = map[string]string{resources.AnnotationTemplateHash: "new"}
	if len(s.outdated) > 0 || s.rolling {
		obs.statefulSet.Annotations[resources.AnnotationRollingTo] = "new"
	}
	if s.stsStale {
		obs.statefulSet.Status.ObservedGeneration = 1
	}
	in := func(list []int, i int) bool {
		for _, v := range list {
			if v == i {
				return true
			}
		}
		return false
	}
	for i := range s.members {
		name := fmt.Sprintf("m-%d", i)
		if in(s.removed, i) {
			continue
		}
		listedName := name
		if in(s.unstarted, i) {
			listedName = ""
		}
		obs.members = append(obs.members, etcd.Member{ID: uint64(i + 1), Name: listedName,
			PeerURLs: []string{"http://" + name + ".m-peer.db.svc:2380"}, IsLearner: in(s.learners, i)})
		if !in(s.unhealthy, i) {
			st := &etcd.MemberStatus{MemberID: uint64(i + 1), ClusterID: 7, Leader: uint64(s.leader + 1),
				Version: "3.6.16", RaftIndex: 5000, Applied: 4990}
			if v, ok := s.versions[i]; ok {
				st.Version = v
			}
			st.DBSize, st.DBSizeInUse, st.Revision = s.dbSize, s.dbInUse, s.revision
			if s.noSpace {
				st.Alarms = []etcd.Alarm{{MemberID: 1, Type: etcd.AlarmNoSpace}}
			}
			if in(s.lagging, i) {
				st.Applied = 100
			}
			st.DowngradeTarget, st.StorageVersion = s.downgrade, s.storage[i]
			obs.statuses[name] = st
		}
	}
	pods := s.pods
	if pods == nil {
		for i := range s.replicas {
			pods = append(pods, i)
		}
	}
	for _, i := range pods {
		revision := "new"
		if in(s.outdated, i) {
			revision = "old"
		}
		pod := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("m-%d", i), CreationTimestamp: metav1.Now(),
			Labels:      map[string]string{appsv1.ControllerRevisionHashLabelKey: revision},
			Annotations: map[string]string{resources.AnnotationTemplateHash: revision}},
			Status: corev1.PodStatus{PodIP: fmt.Sprintf("10.0.0.%d", i+1)}}
		if in(s.terminating, i) {
			pod.DeletionTimestamp = ptr.To(metav1.Now())
		}
		// As the current template starts it: with the cluster's quota; an
		// outdated pod as an operator that set none did (etcd's 2 GiB).
		if !in(s.outdated, i) {
			pod.Spec.Containers = []corev1.Container{{Name: "etcd", Env: []corev1.EnvVar{
				{Name: "ETCD_QUOTA_BACKEND_BYTES", Value: fmt.Sprint(resources.QuotaBackendBytes(c))}}}}
		}
		if reason, ok := s.waiting[i]; ok {
			pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "etcd",
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}}}
		}
		obs.pods = append(obs.pods, pod)
	}
	obs.bootstrap = resources.SealedBootstrapConfigMap(c, sealedAt)
	if s.unsealed {
		obs.bootstrap = resources.BootstrapConfigMap(c, resources.InitialMembers(c, s.members), resources.InitialClusterStateNew)
		if s.joining > 0 {
			members := memberNames(obs.members)
			if s.staleJoin {
				members = resources.InitialMembers(c, s.members)
			}
			obs.bootstrap = resources.JoinConfigMap(c, members, fmt.Sprintf("m-%d", s.joining))
		}
	}
	if s.mayStartEmpty != nil {
		var names []string
		for _, i := range s.mayStartEmpty {
			names = append(names, fmt.Sprintf("m-%d", i))
		}
		obs.bootstrap = resources.WithMayStartEmpty(obs.bootstrap, names)
	}
	for _, i := range s.guardRefused {
		obs.pods[i].Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: resources.GuardContainerName,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: memberguard.ExitLostData, Message: "data directory is empty"}}}}
	}
	claims := s.claims
	if claims == nil {
		for i := range s.members {
			claims = append(claims, i)
		}
	}
	for _, i := range claims {
		created := sealedAt.Add(-time.Hour)
		if in(s.lost, i) {
			created = sealedAt.Add(time.Minute)
		}
		obs.claims = append(obs.claims, corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{
			Name: fmt.Sprintf("data-m-%d", i), CreationTimestamp: metav1.NewTime(created)}})
	}
	for i := range obs.pods {
		if in(s.crashLooping, podOrdinal(obs.pods[i].Name)) {
			obs.pods[i].Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "etcd",
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}}}
		}
	}
	return obs
}

func TestPlanMembership(t *testing.T) {
	tests := []struct {
		name   string
		shape  clusterShape
		kind   stepKind
		member string
		id     uint64
	}{
		{"settled", clusterShape{size: 3, members: 3, replicas: 3}, stepNone, "", 0},

		// Scale out 3 to 5, one learner at a time.
		{"scale out adds a learner before its pod", clusterShape{size: 5, members: 3, replicas: 3}, stepAddLearner, "m-3", 0},
		{"then starts its pod", clusterShape{size: 5, members: 4, replicas: 3, learners: []int{3}, unhealthy: []int{3}}, stepRaiseReplicas, "m-3", 0},
		{"waits for the learner to start", clusterShape{size: 5, members: 4, replicas: 4, learners: []int{3}, unhealthy: []int{3}}, stepWait, "m-3", 0},
		{"promotes it when it answers", clusterShape{size: 5, members: 4, replicas: 4, learners: []int{3}}, stepPromote, "m-3", 4},
		{"then adds the next", clusterShape{size: 5, members: 4, replicas: 4}, stepAddLearner, "m-4", 0},
		{"never adds to a cluster with an unhealthy voter", clusterShape{size: 5, members: 3, replicas: 3, unhealthy: []int{1}}, stepWait, "m-3", 0},
		{"deletes a stale claim before adding on it", clusterShape{size: 4, members: 3, replicas: 3, claims: []int{0, 1, 2, 3}}, stepDeleteClaim, "m-3", 0},

		// Scale in 5 to 3: leader last, etcd before pods, pods before claims.
		{"scale in moves leadership off the member to go", clusterShape{size: 3, members: 5, replicas: 5, leader: 4}, stepMoveLeader, "m-4", 1},
		{"then removes it from etcd", clusterShape{size: 3, members: 5, replicas: 5, leader: 0}, stepRemoveMember, "m-4", 5},
		{"and the next", clusterShape{size: 3, members: 4, replicas: 5, leader: 0}, stepRemoveMember, "m-3", 4},
		{"then stops their pods", clusterShape{size: 3, members: 3, replicas: 5, claims: []int{0, 1, 2, 3, 4}}, stepLowerReplicas, "", 0},
		{"waits for a removed member's pod to stop", clusterShape{size: 3, members: 3, replicas: 3, pods: []int{0, 1, 2, 3}, claims: []int{3}}, stepWait, "m-3", 0},
		{"then deletes their claims", clusterShape{size: 3, members: 3, replicas: 3, claims: []int{0, 1, 2, 3, 4}}, stepDeleteClaim, "m-3", 0},
		{"removes a learner first on scale in", clusterShape{size: 3, members: 4, replicas: 4, learners: []int{3}}, stepRemoveMember, "m-3", 4},
		{"scale in to 1 removes down to the first member", clusterShape{size: 1, members: 2, replicas: 2, leader: 1}, stepMoveLeader, "m-1", 1},

		// Preflight.
		{"never removes a healthy member while another is down", clusterShape{size: 2, members: 3, replicas: 3, unhealthy: []int{1}}, stepWait, "m-2", 0},
		{"removes an unhealthy member when the rest keep quorum", clusterShape{size: 2, members: 3, replicas: 3, unhealthy: []int{2}}, stepRemoveMember, "m-2", 3},
		{"no leader move when no other voter is healthy", clusterShape{size: 1, members: 2, replicas: 2, leader: 1, unhealthy: []int{0}}, stepWait, "m-1", 0},

		// Sealing: once every member has data, none may start empty.
		{"seals a formed cluster", clusterShape{size: 3, members: 3, replicas: 3, unsealed: true}, stepSeal, "", 0},
		{"seals once the added member started, before the next add", clusterShape{size: 5, members: 4, replicas: 4, unsealed: true, joining: 3}, stepSeal, "", 0},
		{"seals when the scale-out is done", clusterShape{size: 5, members: 5, replicas: 5, unsealed: true, joining: 4}, stepSeal, "", 0},
		{"lets only the initial member that has not started start empty", clusterShape{size: 3, members: 3, replicas: 3, unsealed: true, unhealthy: []int{2}}, stepNarrow, "", 0},
		{"then waits for it", clusterShape{size: 3, members: 3, replicas: 3, unsealed: true, mayStartEmpty: []int{2}, unhealthy: []int{2}}, stepNone, "", 0},
		{"does not seal while the learner being added has not started", clusterShape{size: 4, members: 4, replicas: 4, unsealed: true, joining: 3, learners: []int{3}, unstarted: []int{3}, unhealthy: []int{3}}, stepWait, "m-3", 0},
		{"seals once the learner being added has started, even before it answers", clusterShape{size: 4, members: 4, replicas: 4, unsealed: true, joining: 3, learners: []int{3}, unhealthy: []int{3}}, stepSeal, "", 0},
		{"seals once the learner started, before promoting it", clusterShape{size: 4, members: 4, replicas: 4, unsealed: true, joining: 3, learners: []int{3}}, stepSeal, "", 0},
		{"promotes the learner once sealed", clusterShape{size: 4, members: 4, replicas: 4, learners: []int{3}}, stepPromote, "m-3", 4},
		{"keeps the list open while the add it names is pending", clusterShape{size: 5, members: 4, replicas: 4, unsealed: true, joining: 4}, stepAddLearner, "m-4", 0},

		// Replacing a member that came back without its data.
		{"a down member on its old claim is left to come back", clusterShape{size: 3, members: 3, replicas: 3, unhealthy: []int{1}}, stepNone, "", 0},
		{"a down member on a claim newer than the seal is removed", clusterShape{size: 3, members: 3, replicas: 3, unhealthy: []int{1}, lost: []int{1}}, stepReplace, "m-1", 2},
		{"but not when that would lose quorum", clusterShape{size: 3, members: 3, replicas: 3, unhealthy: []int{1, 2}, lost: []int{1}}, stepWait, "m-1", 0},
		{"not while the settings let it start empty (an initial member's first claim)", clusterShape{size: 3, members: 3, replicas: 3, unhealthy: []int{1}, lost: []int{1}, unsealed: true, mayStartEmpty: []int{1}}, stepNone, "", 0},
		{"an initial member that started and came back empty is replaced while another still starts", clusterShape{size: 5, members: 5, replicas: 5, unsealed: true, mayStartEmpty: []int{4}, unhealthy: []int{1, 4}, guardRefused: []int{1}}, stepReplace, "m-1", 2},
		{"a member its guard stopped is replaced while another is being added", clusterShape{size: 4, members: 4, replicas: 4, unsealed: true, joining: 3, learners: []int{3}, unhealthy: []int{1, 3}, guardRefused: []int{1}}, stepReplace, "m-1", 2},
		{"a member its guard stopped is replaced in a sealed cluster", clusterShape{size: 3, members: 3, replicas: 3, unhealthy: []int{1}, guardRefused: []int{1}}, stepReplace, "m-1", 2},
		{"a learner its guard stopped is replaced", clusterShape{size: 4, members: 4, replicas: 4, learners: []int{3}, unhealthy: []int{3}, guardRefused: []int{3}}, stepReplace, "m-3", 4},
		{"an unstarted learner's join settings follow a member replaced since it was added", clusterShape{size: 4, members: 4, replicas: 4, removed: []int{1}, unsealed: true, joining: 3, staleJoin: true, learners: []int{3}, unstarted: []int{3}, unhealthy: []int{3}}, stepWriteJoin, "m-3", 0},
		{"then the learner waits to start", clusterShape{size: 4, members: 4, replicas: 4, removed: []int{1}, unsealed: true, joining: 3, learners: []int{3}, unstarted: []int{3}, unhealthy: []int{3}}, stepWait, "m-3", 0},
		{"the member being added, stopped before it was, gets its pod restarted", clusterShape{size: 3, members: 3, replicas: 3, unsealed: true, joining: 1, learners: []int{1}, unstarted: []int{1}, unhealthy: []int{1}, guardRefused: []int{1}}, stepRestartPod, "m-1", 0},
		{"an initial member the settings still name is not replaced by a stale refusal", clusterShape{size: 3, members: 3, replicas: 3, unsealed: true, mayStartEmpty: []int{1}, unhealthy: []int{1}, guardRefused: []int{1}}, stepNone, "", 0},
		{"a learner that started and crash-loops keeps its pod", clusterShape{size: 4, members: 4, replicas: 4, learners: []int{3}, unhealthy: []int{3}, crashLooping: []int{3}}, stepWait, "m-3", 0},
		{"then re-added as a learner in its place", clusterShape{size: 3, members: 3, replicas: 3, removed: []int{1}}, stepAddLearner, "m-1", 0},
		{"whose crash-looping pod is restarted", clusterShape{size: 3, members: 3, replicas: 3, unsealed: true, joining: 1, learners: []int{1}, unstarted: []int{1}, unhealthy: []int{1}, crashLooping: []int{1}}, stepRestartPod, "m-1", 0},

		// Rolling updates: one member at a time, followers first, the leader
		// last after leadership moved to an updated member.
		{"rolls the highest outdated follower first", clusterShape{size: 3, members: 3, replicas: 3, outdated: []int{0, 1, 2}}, stepRollMember, "m-2", 0},
		{"then the next follower", clusterShape{size: 3, members: 3, replicas: 3, outdated: []int{0, 1}}, stepRollMember, "m-1", 0},
		{"moves leadership to an updated member before restarting the leader", clusterShape{size: 3, members: 3, replicas: 3, outdated: []int{0}}, stepMoveLeader, "m-0", 2},
		{"then restarts the former leader", clusterShape{size: 3, members: 3, replicas: 3, outdated: []int{0}, leader: 1}, stepRollMember, "m-0", 0},
		{"a single member restarts without a leader move", clusterShape{size: 1, members: 1, replicas: 1, outdated: []int{0}}, stepRollMember, "m-0", 0},
		{"waits for the StatefulSet controller to see the template", clusterShape{size: 3, members: 3, replicas: 3, outdated: []int{0, 1, 2}, stsStale: true}, stepWait, "", 0},
		{"waits while a restarted pod is replaced", clusterShape{size: 3, members: 3, replicas: 3, outdated: []int{0, 1}, terminating: []int{2}}, stepWait, "m-2", 0},
		{"waits for a restarted member to be healthy", clusterShape{size: 3, members: 3, replicas: 3, outdated: []int{0, 1}, unhealthy: []int{2}}, stepWait, "m-2", 0},
		{"halts when a restarted member's image cannot be pulled", clusterShape{size: 3, members: 3, replicas: 3, outdated: []int{0, 1}, unhealthy: []int{2}, waiting: map[int]string{2: "ImagePullBackOff"}}, stepHalted, "m-2", 0},
		{"halts when a restarted member crash-loops", clusterShape{size: 3, members: 3, replicas: 3, outdated: []int{0, 1}, unhealthy: []int{2}, waiting: map[int]string{2: "CrashLoopBackOff"}}, stepHalted, "m-2", 0},
		{"halts when a restarted member runs another version than the spec", clusterShape{size: 3, members: 3, replicas: 3, outdated: []int{0, 1}, versions: map[int]string{2: "3.6.15"}}, stepHalted, "m-2", 0},
		{"after a revert, restarts the member the halted rollout broke", clusterShape{size: 3, members: 3, replicas: 3, outdated: []int{2}, unhealthy: []int{2}, waiting: map[int]string{2: "CrashLoopBackOff"}}, stepRollMember, "m-2", 0},
		{"never restarts while two voters are down", clusterShape{size: 3, members: 3, replicas: 3, outdated: []int{0, 1, 2}, unhealthy: []int{1, 2}}, stepWait, "m-2", 0},
		{"never restarts a healthy member while another is down", clusterShape{size: 3, members: 3, replicas: 3, outdated: []int{2}, unhealthy: []int{1}}, stepWait, "m-1", 0},
		{"waits for a lagging member to catch up before restarting it", clusterShape{size: 3, members: 3, replicas: 3, outdated: []int{1, 2}, lagging: []int{2}}, stepWait, "m-2", 0},
		{"halts when the last restarted member does not come back", clusterShape{size: 3, members: 3, replicas: 3, rolling: true, unhealthy: []int{0}, waiting: map[int]string{0: "ErrImagePull"}}, stepHalted, "m-0", 0},
		{"ends the rolling update once every member is healthy on the new template", clusterShape{size: 3, members: 3, replicas: 3, rolling: true}, stepFinishRollout, "", 0},
		{"outside a rolling update a down member is not a halted rollout", clusterShape{size: 3, members: 3, replicas: 3, unhealthy: []int{0}, waiting: map[int]string{0: "CrashLoopBackOff"}}, stepNone, "", 0},
		{"enables etcd's downgrade before the first restart on an older minor", clusterShape{size: 3, members: 3, replicas: 3, outdated: []int{0, 1, 2}, specVersion: "3.5.35"}, stepEnableDowngrade, "", 0},
		{"waits for the data to be migrated to the older storage version", clusterShape{size: 3, members: 3, replicas: 3, outdated: []int{0, 1, 2}, specVersion: "3.5.35", downgrade: "3.5.0", storage: map[int]string{0: "3.5.0", 1: "3.6.0", 2: "3.5.0"}}, stepWait, "m-1", 0},
		{"then restarts members on the older release", clusterShape{size: 3, members: 3, replicas: 3, outdated: []int{0, 1, 2}, specVersion: "3.5.35", downgrade: "3.5.0", storage: map[int]string{0: "3.5.0", 1: "3.5.0", 2: "3.5.0"}}, stepRollMember, "m-2", 0},
		{"reverting an unfinished upgrade needs no downgrade", clusterShape{size: 3, members: 3, replicas: 3, outdated: []int{2}, specVersion: "3.5.35", versions: map[int]string{0: "3.5.35", 1: "3.5.35"}}, stepRollMember, "m-2", 0},
		{"enables a downgrade before adding a member on the older release", clusterShape{size: 4, members: 3, replicas: 3, outdated: []int{0, 1, 2}, specVersion: "3.5.35"}, stepEnableDowngrade, "", 0},
		{"enables a downgrade for a learner already added on the older release", clusterShape{size: 4, members: 4, replicas: 4, learners: []int{3}, unhealthy: []int{3}, outdated: []int{0, 1, 2}, specVersion: "3.5.35"}, stepEnableDowngrade, "", 0},
		{"never restarts an emptyDir member of a 1-member cluster", clusterShape{size: 1, members: 1, replicas: 1, outdated: []int{0}, emptyDir: true}, stepHalted, "", 0},
		{"never restarts an emptyDir member of a 2-member cluster", clusterShape{size: 2, members: 2, replicas: 2, outdated: []int{0, 1}, emptyDir: true}, stepHalted, "", 0},
		{"restarts an emptyDir member of a 3-member cluster (it is re-added from its peers)", clusterShape{size: 3, members: 3, replicas: 3, outdated: []int{0, 1, 2}, emptyDir: true}, stepRollMember, "m-2", 0},

		// Alarms: NOSPACE is not unhealth; it is disarmed once the data fits.
		{"rolls out a raised quota under NOSPACE", clusterShape{size: 3, members: 3, replicas: 3, outdated: []int{0, 1, 2}, noSpace: true, dbSize: 3 << 30, quota: "4Gi"}, stepRollMember, "m-2", 0},
		{"restarts a member on the quota it runs with when its data does not fit the new default", clusterShape{size: 3, members: 3, replicas: 3, outdated: []int{0, 1, 2}, dbSize: 300 << 20}, stepRollMember, "m-2", 0},
		{"does not restart a member onto a lower quota the spec sets that its data does not fit", clusterShape{size: 3, members: 3, replicas: 3, outdated: []int{0, 1, 2}, dbSize: 300 << 20, quota: "256Mi"}, stepWait, "m-2", 0},
		{"restarts a member onto a lower quota its data fits", clusterShape{size: 3, members: 3, replicas: 3, outdated: []int{0, 1, 2}, dbSize: 200 << 20}, stepRollMember, "m-2", 0},
		{"compacts first under NOSPACE", clusterShape{size: 3, members: 3, replicas: 3, noSpace: true, dbSize: 400 << 20, revision: 90}, stepCompact, "", 0},
		{"keeps NOSPACE while a database does not fit the quota after compaction and defragmentation", clusterShape{size: 3, members: 3, replicas: 3, noSpace: true, dbSize: 400 << 20, revision: 90, recovered: true}, stepWait, "", 0},
		{"keeps NOSPACE while a database leaves less than a tenth of the quota free", clusterShape{size: 3, members: 3, replicas: 3, noSpace: true, dbSize: 240 << 20, revision: 90, recovered: true}, stepWait, "", 0},
		{"disarms NOSPACE once every database fits the quota", clusterShape{size: 3, members: 3, replicas: 3, noSpace: true, dbSize: 100 << 20, revision: 90, recovered: true}, stepDisarmAlarm, "", 0},
		{"scales before it rolls", clusterShape{size: 4, members: 3, replicas: 3, outdated: []int{0, 1, 2}}, stepAddLearner, "m-3", 0},

		// What the planner does not handle.
		{"members that are not the pods 0..n-1 are left alone", clusterShape{size: 3, members: 3, replicas: 3}, stepWait, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obs := tt.shape.observe()
			if tt.name == "members that are not the pods 0..n-1 are left alone" {
				obs.members[1].Name = "stranger"
			}
			got := planMembership(obs)
			if got.kind != tt.kind || got.member != tt.member || (tt.id != 0 && got.id != tt.id) {
				t.Fatalf("got %s %s id %d (%s), want %s %s id %d", got.kind, got.member, got.id, got.reason, tt.kind, tt.member, tt.id)
			}
			if got.kind == stepWait && got.reason == "" {
				t.Errorf("a wait must say why")
			}
		})
	}
}

func TestPlanMembershipWaitsWhileEtcdIsUnreachable(t *testing.T) {
	obs := clusterShape{size: 5, members: 3, replicas: 3}.observe()
	obs.members = nil
	if got := planMembership(obs); got.kind != stepWait {
		t.Fatalf("got %s, want a wait", got.kind)
	}
}

func TestRaiseReplicasAfterACrashBetweenAddAndScale(t *testing.T) {
	// The operator added m-3 to etcd, then died before raising replicas:
	// the next pass starts its pod instead of adding another member.
	obs := clusterShape{size: 5, members: 4, replicas: 3, learners: []int{3}, unhealthy: []int{3}}.observe()
	got := planMembership(obs)
	if got.kind != stepRaiseReplicas || got.replicas != 4 {
		t.Fatalf("got %s to %d, want RaiseReplicas to 4", got.kind, got.replicas)
	}
}

// A learner that does not catch up is never promoted, no second member is
// added beside it, and past learnerCatchUpBound status says a person
// should look (Stalled, Progressing False).
func TestPlanBoundsALearnerThatDoesNotCatchUp(t *testing.T) {
	for _, tc := range []struct {
		name  string
		shape clusterShape
		want  string
	}{
		{"behind the leader", clusterShape{size: 5, members: 4, replicas: 4, learners: []int{3}, lagging: []int{3}}, "to catch up with the leader"},
		{"started, then silent", clusterShape{size: 5, members: 4, replicas: 4, learners: []int{3}, unhealthy: []int{3}}, "which started, to answer"},
		{"never started", clusterShape{size: 5, members: 4, replicas: 4, unsealed: true, joining: 3, learners: []int{3}, unhealthy: []int{3}, unstarted: []int{3}}, "to start"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obs := tc.shape.observe()
			obs.observedAt = time.Now()
			if got := planMembership(obs); got.kind != stepWait || got.member != "m-3" || !strings.Contains(got.reason, tc.want) {
				t.Fatalf("within the bound: got %s %s (%q), want a wait for m-3 %q", got.kind, got.member, got.reason, tc.want)
			}
			obs.observedAt = time.Now().Add(learnerCatchUpBound + time.Minute)
			got := planMembership(obs)
			if got.kind != stepLearnerStuck || got.member != "m-3" || !strings.Contains(got.reason, "has not caught up") {
				t.Fatalf("past the bound: got %s %s (%q), want LearnerNotCatchingUp for m-3", got.kind, got.member, got.reason)
			}
			st := computeStatus(obs, got)
			stalled := condition(st, etcdv1alpha1.ConditionStalled)
			progressing := condition(st, etcdv1alpha1.ConditionProgressing)
			if stalled.Status != metav1.ConditionTrue || stalled.Reason != etcdv1alpha1.ReasonLearnerNotCatchingUp ||
				progressing.Status != metav1.ConditionFalse {
				t.Errorf("Stalled %s/%s, Progressing %s: want Stalled True LearnerNotCatchingUp and Progressing False", stalled.Status, stalled.Reason, progressing.Status)
			}
		})
	}
}
