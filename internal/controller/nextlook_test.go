package controller

import (
	"testing"
	"time"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
)

func TestNextLook(t *testing.T) {
	tests := []struct {
		plan  step
		phase etcdv1alpha1.ClusterPhase
		want  time.Duration
	}{
		// etcd's changes make no event: the next step is looked for at once.
		{step{kind: stepAddLearner}, etcdv1alpha1.PhaseScaling, requeueAfterAct},
		{step{kind: stepPromote}, etcdv1alpha1.PhaseScaling, requeueAfterAct},
		{step{kind: stepIssueCA}, etcdv1alpha1.PhaseCreating, requeueAfterAct},
		// A write the reconciler watches brings the next pass itself.
		{step{kind: stepCreate}, etcdv1alpha1.PhaseCreating, requeueWhileWaiting},
		{step{kind: stepRaiseReplicas}, etcdv1alpha1.PhaseScaling, requeueWhileWaiting},
		{step{kind: stepWait}, etcdv1alpha1.PhaseScaling, requeueWhileWaiting},
		// The next space step reads the status this one wrote, from the cache.
		{step{kind: stepDefrag}, etcdv1alpha1.PhaseRunning, requeueWhileWaiting},
		{step{kind: stepCompact}, etcdv1alpha1.PhaseRunning, requeueWhileWaiting},
		{step{}, etcdv1alpha1.PhaseCreating, requeueWhileWaiting},
		{step{kind: stepHalted}, etcdv1alpha1.PhaseUpgrading, requeueWhileUnready},
		{step{}, etcdv1alpha1.PhaseQuorumLost, requeueWhileUnready},
		{step{}, etcdv1alpha1.PhaseRunning, requeueWhenSteady},
	}
	for _, tt := range tests {
		if got := nextLook(tt.plan, tt.phase); got != tt.want {
			t.Errorf("nextLook(%q, %s) = %s, want %s", tt.plan.kind, tt.phase, got, tt.want)
		}
	}
}
