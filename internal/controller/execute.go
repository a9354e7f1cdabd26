package controller

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
	"github.com/quorum-operator/quorum/internal/etcd"
	"github.com/quorum-operator/quorum/internal/resources"
)

// execute carries out one planned step. Each step is idempotent, so a pass
// that dies half-way (the operator killed after member add, say) is
// completed by the next one, which plans from what it observes then. When
// etcd refuses the step for now (see etcd.IsNotYet), execute returns the
// step turned into a wait that says why; the pass then ends without error.
func (r *EtcdClusterReconciler) execute(ctx context.Context, obs *observedCluster, s step) (step, error) {
	err := r.executeStep(ctx, obs, s)
	if err == nil && s.acts() {
		r.Failpoints.Hit(string(s.kind))
	}
	if etcd.IsNotYet(err) {
		logf.FromContext(ctx).Info("etcd refused the step for now", "step", s.kind, "member", s.member, "reason", err.Error())
		return step{kind: stepWait, member: s.member, reason: fmt.Sprintf("%s: etcd says not yet: %v", s.reason, err)}, nil
	}
	return s, err
}

func (r *EtcdClusterReconciler) executeStep(ctx context.Context, obs *observedCluster, s step) error {
	switch s.kind {
	case stepNone, stepWait, stepHalted, stepLearnerStuck:
		return nil
	case stepCompact, stepDefrag:
		return r.executeSpaceStep(ctx, obs, s)
	case stepAddLearner, stepPromote, stepMoveLeader, stepRemoveMember, stepReplace, stepEnableDowngrade, stepDisarmAlarm:
		return r.executeEtcdStep(ctx, obs, s)
	default:
		return r.executeKubernetesStep(ctx, obs, s)
	}
}

// executeKubernetesStep carries out the steps that change only Kubernetes
// objects.
func (r *EtcdClusterReconciler) executeKubernetesStep(ctx context.Context, obs *observedCluster, s step) error {
	c := obs.cluster
	switch s.kind {
	case stepRaiseReplicas, stepLowerReplicas:
		return r.setReplicas(ctx, obs, s.replicas)
	case stepSeal:
		return r.writeBootstrapConfig(ctx, c, resources.SealedBootstrapConfigMap(c, time.Now()))
	case stepNarrow:
		return r.writeBootstrapConfig(ctx, c, resources.WithMayStartEmpty(obs.bootstrap, s.remaining))
	case stepWriteJoin:
		return r.writeBootstrapConfig(ctx, c, resources.JoinConfigMap(c, memberNames(obs.members), s.member))
	case stepRestartPod:
		return r.deleteIfExists(ctx, &corev1.Pod{}, c.Namespace, s.member, s.reason)
	case stepFinishRollout:
		return r.finishRollout(ctx, obs, s)
	case stepRollMember:
		if err := r.deleteIfExists(ctx, &corev1.Pod{}, c.Namespace, s.member, s.reason); err != nil {
			return err
		}
		// The template hash keeps each rollout's events apart: identical
		// notes would merge into one event's series.
		r.event(c, corev1.EventTypeNormal, "MemberRestarted", "Restarting %s on version %s (template %s): %s",
			s.member, c.Spec.Version, obs.statefulSet.Annotations[resources.AnnotationTemplateHash], s.reason)
		return nil
	case stepDeleteClaim:
		return r.deleteIfExists(ctx, &corev1.PersistentVolumeClaim{}, c.Namespace, resources.DataVolumeName+"-"+s.member, s.reason)
	default:
		return fmt.Errorf("unknown step %q", s.kind)
	}
}

// executeEtcdStep carries out a membership change through the etcd client.
func (r *EtcdClusterReconciler) executeEtcdStep(ctx context.Context, obs *observedCluster, s step) error {
	c := obs.cluster
	cli, err := r.openEtcd(ctx, obs)
	if err != nil {
		return err
	}
	callCtx, cancel := context.WithTimeout(ctx, 2*etcdCallTimeout)
	defer cancel()

	switch s.kind {
	case stepAddLearner:
		// The new member reads the initial cluster from the ConfigMap: the
		// members now plus itself, joining an existing cluster. Only it may
		// start with an empty data directory (the member guard).
		members := append(memberNames(obs.members), s.member)
		cm := resources.JoinConfigMap(c, members, s.member)
		if err := r.writeBootstrapConfig(ctx, c, cm); err != nil {
			return err
		}
		added, err := cli.AddLearner(callCtx, resources.PeerURL(c, s.member))
		if err != nil {
			return err
		}
		r.event(c, corev1.EventTypeNormal, "MemberAdded", "Added %s (%x) as a learner", s.member, added.ID)
	case stepPromote:
		if err := cli.Promote(callCtx, s.id); err != nil {
			return err
		}
		r.event(c, corev1.EventTypeNormal, "MemberPromoted", "Promoted %s (%x) to a voting member", s.member, s.id)
	case stepMoveLeader:
		leader, ok := podEndpoint(obs, s.member)
		if !ok {
			return fmt.Errorf("move leadership off %s: its pod has no IP", s.member)
		}
		if err := cli.MoveLeader(callCtx, leader, s.id); err != nil {
			return err
		}
		r.event(c, corev1.EventTypeNormal, "LeaderMoved", "Moved leadership from %s to %x", s.member, s.id)
	case stepRemoveMember:
		if err := cli.Remove(callCtx, s.id); err != nil {
			return err
		}
		r.event(c, corev1.EventTypeNormal, "MemberRemoved", "Removed %s (%x)", s.member, s.id)
	case stepEnableDowngrade:
		target := minorVersion(c.Spec.Version)
		if err := cli.EnableDowngrade(callCtx, target); err != nil {
			return err
		}
		r.event(c, corev1.EventTypeNormal, "DowngradeEnabled", "Enabled etcd's downgrade to %s; members restart on %s next", target, c.Spec.Version)
	case stepDisarmAlarm:
		if err := cli.DisarmAlarm(callCtx, s.alarm); err != nil {
			return err
		}
		r.event(c, corev1.EventTypeNormal, "AlarmDisarmed", "%s", s.reason)
	case stepReplace:
		if err := cli.Remove(callCtx, s.id); err != nil {
			return err
		}
		r.event(c, corev1.EventTypeWarning, "MemberReplaced", "Removed %s (%x), which came back without its data; it is re-added as a learner", s.member, s.id)
	}
	return nil
}

// deleteIfExists deletes the named object; one already gone is fine.
func (r *EtcdClusterReconciler) deleteIfExists(ctx context.Context, obj client.Object, namespace, name, why string) error {
	obj.SetNamespace(namespace)
	obj.SetName(name)
	if err := r.Delete(ctx, obj); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("delete %T %s: %w", obj, name, err)
	}
	logf.FromContext(ctx).Info("Deleted", "object", fmt.Sprintf("%T", obj), "name", name, "reason", why)
	return nil
}

func (r *EtcdClusterReconciler) setReplicas(ctx context.Context, obs *observedCluster, replicas int32) error {
	sts := obs.statefulSet.DeepCopy()
	before := sts.DeepCopy()
	sts.Spec.Replicas = ptr.To(replicas)
	if err := r.Patch(ctx, sts, client.MergeFrom(before)); err != nil {
		return fmt.Errorf("set statefulset replicas to %d: %w", replicas, err)
	}
	logf.FromContext(ctx).Info("Set StatefulSet replicas", "replicas", replicas)
	return nil
}

// writeBootstrapConfig rewrites what members with empty data read at start.
func (r *EtcdClusterReconciler) writeBootstrapConfig(ctx context.Context, c *etcdv1alpha1.EtcdCluster, desired *corev1.ConfigMap) error {
	cm := &corev1.ConfigMap{ObjectMeta: desired.ObjectMeta}
	_, err := r.applyOwned(ctx, c, cm, func() {
		cm.Labels = desired.Labels
		cm.Annotations = desired.Annotations
		cm.Data = desired.Data
	})
	return err
}

func (r *EtcdClusterReconciler) event(obj client.Object, eventType, reason, note string, args ...any) {
	r.Recorder.Eventf(obj, nil, eventType, reason, reason, note, args...)
}
