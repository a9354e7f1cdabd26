package e2e

import (
	"os/exec"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/quorum-operator/quorum/internal/failpoint"
)

var _ = Describe("The operator stopped in the middle of a membership change", Label("disruptive"), Serial, func() {
	It("converges when it starts again: right after member add, and right after member remove", func() {
		ns := newNamespace()
		cluster := createCluster(ns, "disrupt", 3)
		w := startWriter(cluster, "/disrupt", 50*time.Millisecond)

		// The operator exits right after these steps succeeded: after
		// member add, before the StatefulSet has the learner's pod; after
		// member remove, before the removed member's pod stops.
		armFailpoints("AddLearner,RemoveMember")
		restarts := operatorRestarts()

		By("scaling to 4: the operator exits right after the learner is added")
		resize(cluster, 4)
		restarts = waitFailpointExit(restarts, "AddLearner")
		waitMembers(cluster, 4)

		By("scaling to 3: the operator exits right after the member is removed")
		resize(cluster, 3)
		waitFailpointExit(restarts, "RemoveMember")
		waitMembers(cluster, 3)

		w.stopAndVerify()
	})
})

// armFailpoints sets QUORUM_FAILPOINTS on the deployed operator, and clears
// it after the spec.
func armFailpoints(points string) {
	GinkgoHelper()
	setOperatorEnv(failpoint.EnvVar + "=" + points)
	DeferCleanup(func() { setOperatorEnv(failpoint.EnvVar + "-") })
}

// setOperatorEnv changes the operator's environment (NAME=value, or NAME-
// to remove it) and waits for the rollout.
func setOperatorEnv(change string) {
	GinkgoHelper()
	deployment := "deployment/" + operatorDeployment
	out, err := exec.Command(kubectl, "-n", operatorNamespace, "set", "env", deployment, "-c", "manager", change).CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "kubectl set env: %s", out)
	out, err = exec.Command(kubectl, "-n", operatorNamespace, "rollout", "status", deployment, "--timeout=180s").CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "kubectl rollout status: %s", out)
}

// operatorPod is the running operator pod, once the rollout left one.
func operatorPod(g Gomega) corev1.Pod {
	var pods corev1.PodList
	g.Expect(k8sClient.List(ctx, &pods, client.InNamespace(operatorNamespace),
		client.MatchingLabels{"control-plane": "controller-manager"})).To(Succeed())
	var live []corev1.Pod
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			live = append(live, p)
		}
	}
	g.Expect(live).To(HaveLen(1), "operator pods")
	return live[0]
}

func operatorRestarts() int32 {
	GinkgoHelper()
	pod := operatorPod(Default)
	Expect(pod.Status.ContainerStatuses).NotTo(BeEmpty())
	return pod.Status.ContainerStatuses[0].RestartCount
}

// waitFailpointExit waits until the operator container restarted after
// exiting at the named failpoint, and returns its new restart count.
func waitFailpointExit(before int32, point string) int32 {
	GinkgoHelper()
	var pod corev1.Pod
	Eventually(func(g Gomega) {
		pod = operatorPod(g)
		g.Expect(pod.Status.ContainerStatuses).NotTo(BeEmpty())
		cs := pod.Status.ContainerStatuses[0]
		g.Expect(cs.RestartCount).To(BeNumerically(">", before))
		g.Expect(cs.LastTerminationState.Terminated).NotTo(BeNil())
		g.Expect(cs.LastTerminationState.Terminated.ExitCode).To(BeEquivalentTo(failpoint.ExitCode), "the operator exited, but not at a failpoint")
	}, 3*time.Minute, time.Second).Should(Succeed())
	out, err := exec.Command(kubectl, "-n", operatorNamespace, "logs", pod.Name, "-c", "manager", "--previous").CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "kubectl logs --previous: %s", out)
	Expect(strings.Split(string(out), "\n")).To(ContainElement(And(ContainSubstring("Exiting at a failpoint"), ContainSubstring(`"`+point+`"`))),
		"the operator did not exit at the %s failpoint:\n%s", point, lastLines(string(out), 5))
	return pod.Status.ContainerStatuses[0].RestartCount
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
