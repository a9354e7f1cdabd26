package controller

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
)

// What Flux, Argo CD's kstatus users and 'kubectl wait' conclude from an
// EtcdRestore at each stage.
func TestKstatusOfRestores(t *testing.T) {
	for _, tt := range []struct {
		phase   etcdv1alpha1.RestorePhase
		stalled bool
		want    status.Status
	}{
		{"", false, status.InProgressStatus},
		{etcdv1alpha1.RestorePending, false, status.InProgressStatus},
		{etcdv1alpha1.RestoreStopping, false, status.InProgressStatus},
		{etcdv1alpha1.RestoreRestoring, false, status.InProgressStatus},
		{etcdv1alpha1.RestoreRestoring, true, status.FailedStatus},
		{etcdv1alpha1.RestoreSucceeded, false, status.CurrentStatus},
		{etcdv1alpha1.RestoreFailed, false, status.FailedStatus},
	} {
		rs := &etcdv1alpha1.EtcdRestore{ObjectMeta: metav1.ObjectMeta{Name: "r", Generation: 1}}
		rs.Status.Phase, rs.Status.Message = tt.phase, "why"
		setRestoreKstatus(rs, tt.stalled)
		if got := kstatusOf(t, rs); got != tt.want {
			t.Errorf("restore %q (stalled %v): kstatus %s, want %s", tt.phase, tt.stalled, got, tt.want)
		}
	}
}

// The restored cluster must be whole and under a new ID before the mark
// goes.
func TestRestoredHealth(t *testing.T) {
	healthy := func(id string, n int, available bool) *etcdv1alpha1.EtcdCluster {
		c := &etcdv1alpha1.EtcdCluster{}
		c.Status.ClusterID = id
		for range n {
			c.Status.Members = append(c.Status.Members, etcdv1alpha1.MemberStatus{Healthy: true})
		}
		if available {
			c.Status.Conditions = []metav1.Condition{{Type: etcdv1alpha1.ConditionAvailable, Status: metav1.ConditionTrue}}
		}
		return c
	}
	for _, tt := range []struct {
		name    string
		cluster *etcdv1alpha1.EtcdCluster
		done    bool
	}{
		{"every member healthy under a new ID", healthy("beef", 3, true), true},
		{"still the old ID", healthy("feed", 3, true), false},
		{"no ID yet", healthy("", 3, true), false},
		{"two of three members", healthy("beef", 2, true), false},
		{"not Available behind the Service", healthy("beef", 3, false), false},
	} {
		if why := restoredHealth(tt.cluster, "feed", 3); (why == "") != tt.done {
			t.Errorf("%s: %q, want done %v", tt.name, why, tt.done)
		}
	}
}
