package controller

import (
	"slices"
	"sync"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
	"github.com/quorum-operator/quorum/internal/resources"
)

// allStepKinds are the failpoints the test reconciler arms: every step
// that changes something.
var allStepKinds = []string{
	string(stepAddLearner), string(stepRaiseReplicas), string(stepPromote), string(stepMoveLeader),
	string(stepRemoveMember), string(stepLowerReplicas), string(stepDeleteClaim), string(stepSeal),
	string(stepReplace), string(stepRestartPod), string(stepRollMember), string(stepFinishRollout),
	string(stepEnableDowngrade), string(stepDisarmAlarm), string(stepWriteJoin), string(stepNarrow),
	string(stepApplyServices), string(stepExpandClaims), string(stepIssueCA), string(stepIssueLeaves), string(stepCATrustBoth),
	string(stepCASwitch), string(stepCADropOld), string(stepCreate), string(stepUpdateTemplate),
	string(stepCompact), string(stepDefrag),
}

// stepRecorder records the steps taken, from the failpoints.
type stepRecorder struct {
	mu    sync.Mutex
	steps []string
}

func (r *stepRecorder) add(step string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.steps = append(r.steps, step)
}

func (r *stepRecorder) mark() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.steps)
}

func (r *stepRecorder) since(mark int) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.steps[mark:])
}

// Every part of a pass that changes something is a step: reported, and a
// failpoint a test can stop the operator at, CA rotation phases included.
var _ = Describe("The steps of a pass", func() {
	It("include creating the Services, the CA, the certificates and the members, and each CA rotation phase", func() {
		mark := stepsTaken.mark()
		cluster := createTestCluster(newTestNamespace("steps-"), "main",
			etcdv1alpha1.EtcdClusterSpec{Size: 3, Version: "3.6.16", TLS: &etcdv1alpha1.TLSSpec{}})
		Eventually(func() []string { return stepsTaken.since(mark) }, timeout).Should(
			ContainElements(string(stepApplyServices), string(stepIssueCA), string(stepCreate)))
		Expect(stepsTaken.since(mark)[0]).To(Equal(string(stepApplyServices)), "Services come first: members find each other through them")

		bringToSteadyState(cluster)
		mark = stepsTaken.mark()
		By("asking for a CA rotation")
		before := cluster.DeepCopy()
		cluster.Annotations = map[string]string{resources.AnnotationRotateCA: "1"}
		Expect(k8sClient.Patch(ctx, cluster, client.MergeFrom(before))).To(Succeed())
		Eventually(func() []string { return stepsTaken.since(mark) }, timeout).Should(
			ContainElements(string(stepCATrustBoth), string(stepUpdateTemplate)))
	})
})
