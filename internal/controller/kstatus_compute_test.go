package controller

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
)

// kstatusOf is what Flux, Argo CD's kstatus users and 'kubectl wait' would
// conclude from the object.
func kstatusOf(t *testing.T, obj runtime.Object) status.Status {
	t.Helper()
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	res, err := status.Compute(&unstructured.Unstructured{Object: u})
	if err != nil {
		t.Fatal(err)
	}
	return res.Status
}

// Every phase of an EtcdCluster, as kstatus reads the status the operator
// writes for it.
func TestKstatusOfEveryClusterPhase(t *testing.T) {
	for _, tt := range []struct {
		name string
		obs  func() *observedCluster
		plan step
		want status.Status
	}{
		{"Running", func() *observedCluster { return threeMembers("main-0", "main-1", "main-2") }, step{}, status.CurrentStatus},
		{"Creating", func() *observedCluster {
			o := threeMembers()
			o.members = nil
			return o
		}, step{}, status.InProgressStatus},
		{"Scaling", func() *observedCluster {
			o := threeMembers("main-0", "main-1", "main-2")
			o.cluster.Spec.Size = 5
			return o
		}, step{kind: stepAddLearner, reason: "adding"}, status.InProgressStatus},
		{"Upgrading", func() *observedCluster { return threeMembers("main-0", "main-1", "main-2") }, step{kind: stepRollMember, reason: "restarting"}, status.InProgressStatus},
		{"Degraded", func() *observedCluster { return threeMembers("main-0", "main-1") }, step{}, status.InProgressStatus},
		{"QuorumLost", func() *observedCluster {
			o := threeMembers("main-0")
			o.cluster.Status.ClusterID = "abc"
			return o
		}, step{}, status.FailedStatus},
		{"RolloutHalted", func() *observedCluster { return threeMembers("main-0", "main-1") }, step{kind: stepHalted, reason: "rollout halted"}, status.FailedStatus},
		{"Paused", func() *observedCluster {
			o := threeMembers("main-0", "main-1", "main-2")
			o.cluster.Spec.Paused = true
			return o
		}, step{}, status.CurrentStatus},
		{"ReconcileError", func() *observedCluster { return threeMembers("main-0", "main-1", "main-2") }, step{kind: stepError, reason: "conflict"}, status.InProgressStatus},
	} {
		t.Run(tt.name, func(t *testing.T) {
			obs := tt.obs()
			c := obs.cluster.DeepCopy()
			c.Status = computeStatus(obs, tt.plan)
			if got := kstatusOf(t, c); got != tt.want {
				t.Errorf("kstatus %s, want %s (phase %s, conditions %+v)", got, tt.want, c.Status.Phase, c.Status.Conditions)
			}
		})
	}
	t.Run("a spec not yet acted on", func(t *testing.T) {
		obs := threeMembers("main-0", "main-1", "main-2")
		c := obs.cluster.DeepCopy()
		c.Status = computeStatus(obs, step{})
		c.Generation++
		if got := kstatusOf(t, c); got != status.InProgressStatus {
			t.Errorf("kstatus %s, want InProgress", got)
		}
	})
}

func TestKstatusOfBackupsAndSchedules(t *testing.T) {
	for _, tt := range []struct {
		phase etcdv1alpha1.BackupPhase
		want  status.Status
	}{
		{"", status.InProgressStatus},
		{etcdv1alpha1.BackupPending, status.InProgressStatus},
		{etcdv1alpha1.BackupRunning, status.InProgressStatus},
		{etcdv1alpha1.BackupSucceeded, status.CurrentStatus},
		{etcdv1alpha1.BackupFailed, status.FailedStatus},
	} {
		b := &etcdv1alpha1.EtcdBackup{ObjectMeta: metav1.ObjectMeta{Name: "b", Generation: 1}}
		b.Status.Phase, b.Status.Message = tt.phase, "why"
		setBackupKstatus(b)
		if got := kstatusOf(t, b); got != tt.want {
			t.Errorf("backup %q: kstatus %s, want %s", tt.phase, got, tt.want)
		}
	}
	for _, tt := range []struct {
		ready  metav1.ConditionStatus
		reason string
		want   status.Status
	}{
		{metav1.ConditionTrue, "Scheduled", status.CurrentStatus},
		{metav1.ConditionTrue, "Suspended", status.CurrentStatus},
		{metav1.ConditionFalse, "InvalidSchedule", status.FailedStatus},
	} {
		s := &etcdv1alpha1.EtcdBackupSchedule{ObjectMeta: metav1.ObjectMeta{Name: "s", Generation: 1}}
		setReady(s, tt.ready, tt.reason, "why")
		setScheduleKstatus(s)
		if got := kstatusOf(t, s); got != tt.want {
			t.Errorf("schedule %s: kstatus %s, want %s", tt.reason, got, tt.want)
		}
	}
}
