package controller

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
)

// votersShareNode is True when two or more voting members' pods are bound
// to one node (spec.nodeName): the node takes all their votes with it. A
// pod is a voter unless etcd lists its member as a learner.
func votersShareNode(obs *observedCluster, members []etcdv1alpha1.MemberStatus) metav1.Condition {
	learner := map[string]bool{}
	for _, m := range members {
		learner[m.Name] = m.Learner
	}
	byNode := map[string][]string{}
	voters := 0
	for _, p := range obs.pods {
		if learner[p.Name] || p.DeletionTimestamp != nil {
			continue
		}
		voters++
		if p.Spec.NodeName != "" {
			byNode[p.Spec.NodeName] = append(byNode[p.Spec.NodeName], p.Name)
		}
	}
	var shared []string
	for node, names := range byNode {
		if len(names) > 1 {
			shared = append(shared, fmt.Sprintf("%s run on node %s", strings.Join(names, ", "), node))
		}
	}
	if len(shared) == 0 {
		return newCondition(etcdv1alpha1.ConditionVotersShareNode, metav1.ConditionFalse, etcdv1alpha1.ReasonSeparateNodes,
			"no two voting members run on one node")
	}
	sort.Strings(shared)
	return newCondition(etcdv1alpha1.ConditionVotersShareNode, metav1.ConditionTrue, etcdv1alpha1.ReasonSharedNode,
		fmt.Sprintf("%s: losing such a node loses several of the %d votes at once; spec.podTemplate.memberSpread Required keeps members on separate nodes",
			strings.Join(shared, "; "), voters))
}

// membersUnschedulable is True while the scheduler cannot place a member
// pod, with its reason (the pod's PodScheduled condition) for each.
func membersUnschedulable(obs *observedCluster) metav1.Condition {
	var pending []string
	for _, p := range obs.pods {
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
				pending = append(pending, fmt.Sprintf("%s: %s", p.Name, c.Message))
			}
		}
	}
	if len(pending) == 0 {
		return newCondition(etcdv1alpha1.ConditionMembersUnschedulable, metav1.ConditionFalse, etcdv1alpha1.ReasonScheduled,
			"every member pod is scheduled")
	}
	return newCondition(etcdv1alpha1.ConditionMembersUnschedulable, metav1.ConditionTrue, etcdv1alpha1.ReasonUnschedulable,
		"pending, the scheduler says: "+strings.Join(pending, "; "))
}
