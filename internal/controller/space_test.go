package controller

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
	"github.com/quorum-operator/quorum/internal/etcd"
	"github.com/quorum-operator/quorum/internal/resources"
)

// applySpace puts the shape's disk space settings into the cluster.
func (s clusterShape) applySpace(c *etcdv1alpha1.EtcdCluster) {
	if s.quota != "" {
		c.Spec.Options = &etcdv1alpha1.EtcdOptions{QuotaBackendBytes: ptr.To(resource.MustParse(s.quota))}
	}
	if s.defrag != nil {
		c.Spec.Maintenance = &etcdv1alpha1.MaintenanceSpec{Defrag: s.defrag}
	}
	c.Status.Maintenance = s.maint
	if s.recovered {
		compacted := metav1.NewTime(sealedAt)
		run := &etcdv1alpha1.DefragStatus{Reason: etcdv1alpha1.DefragReasonNoSpace, Result: etcdv1alpha1.DefragSucceeded,
			StartTime: metav1.NewTime(sealedAt.Add(time.Second)), CompletionTime: ptr.To(metav1.NewTime(sealedAt.Add(time.Minute)))}
		for i := range s.members {
			run.Members = append(run.Members, etcdv1alpha1.DefragMemberStatus{Name: fmt.Sprintf("m-%d", i)})
		}
		c.Status.Maintenance = &etcdv1alpha1.MaintenanceStatus{LastDefrag: run,
			LastCompaction: &etcdv1alpha1.CompactionStatus{Revision: s.revision, Time: compacted, Reason: etcdv1alpha1.DefragReasonNoSpace}}
	}
}

func TestPlanSpace(t *testing.T) {
	const mi = 1 << 20
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	threshold := &etcdv1alpha1.DefragPolicy{FragmentationThresholdPercent: ptr.To[int32](50)}
	daily := &etcdv1alpha1.DefragPolicy{Schedule: "@daily"}
	scheduleRun := func(done ...string) *etcdv1alpha1.MaintenanceStatus {
		run := &etcdv1alpha1.DefragStatus{Reason: etcdv1alpha1.DefragReasonSchedule, Result: etcdv1alpha1.DefragRunning, StartTime: metav1.NewTime(now.Add(-time.Minute))}
		for _, n := range done {
			run.Members = append(run.Members, etcdv1alpha1.DefragMemberStatus{Name: n})
		}
		return &etcdv1alpha1.MaintenanceStatus{LastDefrag: run, LastScheduleTime: ptr.To(metav1.NewTime(now.Truncate(24 * time.Hour)))}
	}
	settled := clusterShape{size: 3, members: 3, replicas: 3, dbSize: 200 * mi, dbInUse: 50 * mi}
	with := func(edit func(*clusterShape)) clusterShape { s := settled; edit(&s); return s }
	tests := []struct {
		name   string
		shape  clusterShape
		kind   stepKind
		member string
		reason string // the run's reason, for defragment
	}{
		{"no policy, no alarm: nothing", settled, stepNone, "", ""},
		{"a fragmented follower crosses the threshold", with(func(s *clusterShape) { s.defrag = threshold }), stepDefrag, "m-2", etcdv1alpha1.DefragReasonThreshold},
		{"a database under the minimum size is left fragmented", with(func(s *clusterShape) { s.defrag = threshold; s.dbSize, s.dbInUse = 60*mi, 10*mi }), stepNone, "", ""},
		{"below the threshold nothing runs", with(func(s *clusterShape) { s.defrag = threshold; s.dbInUse = 150 * mi }), stepNone, "", ""},
		{"a scheduled run starts with the highest follower", with(func(s *clusterShape) { s.defrag = daily }), stepDefrag, "m-2", etcdv1alpha1.DefragReasonSchedule},
		{"a scheduled run already made is not due", with(func(s *clusterShape) { s.defrag = daily; s.maint = scheduleRun("m-0", "m-1", "m-2") }), stepNone, "", ""},
		{"a scheduled run goes on with the next follower", with(func(s *clusterShape) { s.defrag = daily; s.maint = scheduleRun("m-2") }), stepDefrag, "m-1", etcdv1alpha1.DefragReasonSchedule},
		{"the leader goes last, after leadership moved", with(func(s *clusterShape) { s.defrag = daily; s.maint = scheduleRun("m-2", "m-1") }), stepMoveLeader, "m-0", ""},
		{"a one-member cluster defragments its leader in place", clusterShape{size: 1, members: 1, replicas: 1, defrag: daily}, stepDefrag, "m-0", etcdv1alpha1.DefragReasonSchedule},
		{"nothing while a member is unhealthy", with(func(s *clusterShape) { s.defrag = daily; s.unhealthy = []int{1} }), stepNone, "", ""},
		{"nothing while a learner is being added", clusterShape{size: 4, members: 4, replicas: 4, learners: []int{3}, defrag: daily}, stepNone, "", ""},
		{"NOSPACE: compact first", with(func(s *clusterShape) { s.noSpace, s.revision = true, 90 }), stepCompact, "", ""},
		{"nothing while CORRUPT is raised too", with(func(s *clusterShape) { s.noSpace, s.revision, s.defrag = true, 90, daily }), stepNone, "", ""},
		{"NOSPACE: compact again after deletes moved the revision, when the data still does not fit", with(func(s *clusterShape) {
			s.noSpace, s.revision, s.recovered = true, 90, true
			s.revision, s.dbSize = 95, 400<<20
		}), stepCompact, "", ""},
		{"NOSPACE: leave it to disarm once the data fits, though the revision moved", with(func(s *clusterShape) {
			s.noSpace, s.revision, s.recovered = true, 90, true
			s.revision, s.dbSize = 95, 100<<20
		}), stepNone, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obs := tt.shape.observe()
			obs.cluster.CreationTimestamp = metav1.NewTime(now.Add(-48 * time.Hour))
			if tt.name == "nothing while CORRUPT is raised too" {
				for _, st := range obs.statuses {
					st.Alarms = append(st.Alarms, etcd.Alarm{MemberID: 2, Type: etcd.AlarmCorrupt})
				}
			}
			if strings.HasPrefix(tt.name, "NOSPACE: compact again") || strings.HasPrefix(tt.name, "NOSPACE: leave it to disarm") {
				obs.cluster.Status.Maintenance.LastCompaction.Revision = 90
			}
			got := planSpace(obs, newMembership(obs), now)
			if got.kind != tt.kind || got.member != tt.member {
				t.Fatalf("got %s %s (%s), want %s %s", got.kind, got.member, got.reason, tt.kind, tt.member)
			}
			if tt.reason != "" && (got.space == nil || got.space.reason != tt.reason) {
				t.Errorf("run reason: got %+v, want %s", got.space, tt.reason)
			}
		})
	}
}

// The whole NOSPACE recovery, planned and carried out against the etcd
// fake: compact once, defragment the followers, move leadership, defragment
// the old leader, then disarm; status records the run.
func TestNoSpaceRecoverySequence(t *testing.T) {
	const mi = 1 << 20
	taken, maint := runNoSpaceRecovery(t, 0)
	want := []string{"Compact", "Defragment m-2", "Defragment m-1", "MoveLeader m-0", "Defragment m-0", "DisarmAlarm"}
	if strings.Join(taken, ", ") != strings.Join(want, ", ") {
		t.Fatalf("steps:\n got %v\nwant %v", taken, want)
	}
	run := maint.LastDefrag
	if run.Result != etcdv1alpha1.DefragSucceeded || run.CompletionTime == nil || len(run.Members) != 3 || run.ReclaimedBytes != 3*360*mi {
		t.Errorf("run status: %+v", run)
	}
	if maint.LastCompaction == nil || maint.LastCompaction.Revision != 90 {
		t.Errorf("compaction status: %+v", maint.LastCompaction)
	}
}

// A member defragmented twice in one run (a stale read of status) keeps
// one entry: the API server refuses a list map with a key twice.
func TestDefragRecordsAMemberOnce(t *testing.T) {
	obs := clusterShape{size: 3, members: 3, replicas: 3, dbSize: 100 << 20, dbInUse: 10 << 20}.observe()
	fake := &etcd.Fake{Statuses: map[string]*etcd.MemberStatus{}, Members: obs.members}
	for name, st := range obs.statuses {
		ep, _ := podEndpoint(obs, name)
		fake.Statuses[ep] = st
	}
	r := &EtcdClusterReconciler{EtcdClients: fake.Factory(), Recorder: events.NewFakeRecorder(10)}
	s := step{kind: stepDefrag, member: "m-2", space: &spacePlan{reason: etcdv1alpha1.DefragReasonSchedule, newRun: true}}
	for range 2 {
		if _, err := r.execute(context.Background(), obs, s); err != nil {
			t.Fatal(err)
		}
		obs.cluster.Status.Maintenance = obs.maintenanceStatus()
		s.space.newRun = false
	}
	if got := obs.cluster.Status.Maintenance.LastDefrag.Members; len(got) != 1 || got[0].Name != "m-2" {
		t.Fatalf("members of the run: %+v", got)
	}
}

// Under NOSPACE etcd still takes deletes and lease expiries, so the
// revision moves between passes: the recovery must still defragment every
// member once and disarm, not compact again and restart its run (review
// finding; this test failed so before planNoSpace finished a run first).
func TestNoSpaceRecoveryFinishesWhileTheRevisionMoves(t *testing.T) {
	taken, _ := runNoSpaceRecovery(t, 3) // a lease expired, keys deleted
	want := []string{"Compact", "Defragment m-2", "Defragment m-1", "MoveLeader m-0", "Defragment m-0", "DisarmAlarm"}
	if strings.Join(taken, ", ") != strings.Join(want, ", ") {
		t.Fatalf("steps:\n got %v\nwant %v", taken, want)
	}
}

// A cluster from before the volume-based default runs at etcd's 2 GiB on a
// 1 GiB claim. Once a member holds more than the new default (256 MiB)
// fits, the template keeps the running quota: a pod recreated by a drain
// or a replacement must not come up below the data (review finding).
func TestEffectiveQuotaKeepsTheQuotaTheDataNeeds(t *testing.T) {
	const mi = 1 << 20
	small := clusterShape{size: 3, members: 3, replicas: 3, dbSize: 100 * mi}.observe()
	if got, want := effectiveQuota(small), resources.QuotaBackendBytes(small.cluster); got != want {
		t.Errorf("data that fits the default: quota %d, want the default %d", got, want)
	}
	if withEffectiveQuota(small, small.cluster) != small.cluster {
		t.Errorf("data that fits the default: the template's cluster was changed")
	}
	big := clusterShape{size: 3, members: 3, replicas: 3, dbSize: 600 * mi}.observe()
	for i := range big.pods {
		big.pods[i].Spec.Containers = nil // made by an operator that set no quota
	}
	if got := effectiveQuota(big); got != resources.DefaultQuotaBackendBytes {
		t.Errorf("600 MiB of data on pods running etcd's default: quota %d, want %d kept", got, resources.DefaultQuotaBackendBytes)
	}
	kept := withEffectiveQuota(big, big.cluster)
	if q := kept.Spec.Options; q == nil || q.QuotaBackendBytes == nil || q.QuotaBackendBytes.Value() != resources.DefaultQuotaBackendBytes {
		t.Errorf("the template's cluster does not carry the kept quota: %+v", kept.Spec.Options)
	}
	if big.cluster.Spec.Options != nil {
		t.Errorf("the observed cluster's spec was changed")
	}
}

// storage.size raised on a class that cannot expand: the claims stay at
// 1Gi, so the default quota stays the one for 1Gi (review finding: it
// followed the spec and would let the disk fill before NOSPACE).
func TestEffectiveQuotaFollowsTheClaimsMembersHave(t *testing.T) {
	obs := clusterShape{size: 3, members: 3, replicas: 3, dbSize: 10 << 20}.observe()
	obs.cluster.Spec.Storage = &etcdv1alpha1.StorageSpec{Size: ptr.To(resource.MustParse("8Gi"))}
	for i := range 3 {
		obs.claims = append(obs.claims, corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-m-%d", resources.DataVolumeName, i)},
			Status:     corev1.PersistentVolumeClaimStatus{Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		})
	}
	if got, want := effectiveQuota(obs), resources.QuotaForVolume(1<<30); got != want {
		t.Errorf("claims of 1Gi under a spec of 8Gi: quota %d, want %d (the default for 1Gi)", got, want)
	}
}

// runNoSpaceRecovery plans and executes passes over a 3-member cluster
// whose databases filled their quota, against the Fake, until the plan
// has nothing left; the revision moves by bump after every pass. It
// returns the steps taken and the last maintenance status.
func runNoSpaceRecovery(t *testing.T, bump int64) ([]string, *etcdv1alpha1.MaintenanceStatus) {
	t.Helper()
	const mi = 1 << 20
	shape := clusterShape{size: 3, members: 3, replicas: 3, noSpace: true, dbSize: 400 * mi, dbInUse: 390 * mi, revision: 90}
	fake := &etcd.Fake{Statuses: map[string]*etcd.MemberStatus{}, InUseAfterCompact: 40 * mi}
	base := shape.observe()
	fake.Members = base.members
	for name, st := range base.statuses {
		ep, _ := podEndpoint(base, name)
		fake.Statuses[ep] = st
	}
	r := &EtcdClusterReconciler{EtcdClients: fake.Factory(), Recorder: events.NewFakeRecorder(100)}
	var maint *etcdv1alpha1.MaintenanceStatus
	var taken []string
	for range 20 {
		obs := shape.observe()
		obs.cluster.Status.Maintenance = maint
		for name := range obs.statuses {
			ep, _ := podEndpoint(obs, name)
			st, err := fake.Status(context.Background(), ep)
			if err != nil {
				t.Fatal(err)
			}
			obs.statuses[name] = st
		}
		s := planMembership(obs)
		if s.kind == stepNone {
			break
		}
		if !s.acts() {
			t.Fatalf("stuck: %s %s (%s) after %v", s.kind, s.member, s.reason, taken)
		}
		taken = append(taken, strings.TrimSpace(string(s.kind)+" "+s.member))
		if _, err := r.execute(context.Background(), obs, s); err != nil {
			t.Fatalf("%s: %v", s.kind, err)
		}
		maint = obs.maintenanceStatus()
		fake.Lock()
		for _, st := range fake.Statuses {
			st.Revision += bump
		}
		fake.Unlock()
	}
	return taken, maint
}
