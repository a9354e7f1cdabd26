package controller

import (
	"context"
	"fmt"
	"maps"
	"strings"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/conversion"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
	"github.com/quorum-operator/quorum/internal/resources"
)

// ensureServices keeps the peer and client Services and the disruption
// budget as built; they hold no data, so updating them is always safe.
// The budget follows the voters etcd has (disruptionMinAvailable).
func (r *EtcdClusterReconciler) ensureServices(ctx context.Context, obs *observedCluster) (step, error) {
	c := obs.cluster
	var written []string
	for _, desired := range []*corev1.Service{resources.PeerService(c), resources.ClientService(c)} {
		svc := &corev1.Service{ObjectMeta: desired.ObjectMeta}
		changed, err := r.applyOwned(ctx, c, svc, func() {
			svc.Labels = desired.Labels
			// ClusterIP and other allocated fields stay as the API server set them.
			svc.Spec.Selector = desired.Spec.Selector
			svc.Spec.Ports = desired.Spec.Ports
			svc.Spec.PublishNotReadyAddresses = desired.Spec.PublishNotReadyAddresses
			if svc.CreationTimestamp.IsZero() {
				svc.Spec.ClusterIP = desired.Spec.ClusterIP
				svc.Spec.Type = desired.Spec.Type
			}
		})
		if err != nil {
			return step{}, err
		}
		if changed {
			written = append(written, "Service "+svc.Name)
		}
	}
	pdb := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: resources.PodDisruptionBudgetName(c), Namespace: c.Namespace}}
	changed, err := r.applyOwned(ctx, c, pdb, func() {
		// pdb holds the stored budget here, if there is one.
		desired := resources.PodDisruptionBudget(c, disruptionMinAvailable(obs, pdb.Spec.MinAvailable))
		pdb.Labels = desired.Labels
		pdb.Spec = desired.Spec
	})
	if err != nil {
		return step{}, err
	}
	if changed {
		written = append(written, "PodDisruptionBudget "+pdb.Name)
	}
	if len(written) == 0 {
		return step{}, nil
	}
	return step{kind: stepApplyServices, reason: "wrote " + strings.Join(written, ", ")}, nil
}

// disruptionMinAvailable is the budget's minAvailable for what etcd lists
// now (see resources.MinAvailable): a quorum of its voters, plus its
// learners and the member pods that are not voters. When no member could
// list the members, the stored value is kept: membership cannot have been
// changed by the operator meanwhile, and a lower value could let a drain
// break quorum. A new cluster starts with spec.size voters.
func disruptionMinAvailable(obs *observedCluster, stored *intstr.IntOrString) int32 {
	if len(obs.members) == 0 {
		if stored != nil && stored.Type == intstr.Int && stored.IntVal > 0 {
			return stored.IntVal
		}
		return resources.MinAvailable(int(obs.cluster.Spec.Size), 0)
	}
	voters, nonVoters := map[string]bool{}, map[string]bool{}
	for _, m := range obs.members {
		if m.IsLearner {
			// Counted before its pod exists, so the budget is raised
			// before the pod can be ready.
			nonVoters[memberName(m)] = true
		} else {
			voters[memberName(m)] = true
		}
	}
	for _, p := range obs.pods {
		// A pod being deleted no longer counts for the budget.
		if p.DeletionTimestamp == nil && !voters[p.Name] {
			nonVoters[p.Name] = true
		}
	}
	return resources.MinAvailable(len(voters), len(nonVoters))
}

// applyOwned creates obj, or updates the existing one, after mutate set the
// fields the operator owns, with the cluster as its controller, and says
// whether it wrote. It writes only when one of those fields differs from
// the stored object (ownedFieldsEqual), so a pass over a cluster that is as
// it should be writes nothing.
func (r *EtcdClusterReconciler) applyOwned(ctx context.Context, c *etcdv1alpha1.EtcdCluster, obj client.Object, mutate func()) (bool, error) {
	err := r.Get(ctx, client.ObjectKeyFromObject(obj), obj)
	if apierrors.IsNotFound(err) {
		// The cache holds only objects with the operator's labels. One of
		// that name without them (another's, or one whose labels were
		// removed) is seen only by the API server, and must be updated
		// (labels restored) or refused, not taken as created.
		err = r.APIReader.Get(ctx, client.ObjectKeyFromObject(obj), obj)
	}
	if apierrors.IsNotFound(err) {
		mutate()
		if err := r.createOwned(ctx, c, obj); err != nil {
			return false, fmt.Errorf("create %T %s: %w", obj, obj.GetName(), err)
		}
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("get %T %s: %w", obj, obj.GetName(), err)
	}
	stored := obj.DeepCopyObject()
	mutate()
	if err := controllerutil.SetControllerReference(c, obj, r.Scheme); err != nil {
		return false, err
	}
	if ownedFieldsEqual(obj, stored) {
		return false, nil
	}
	if err := r.Update(ctx, obj); err != nil {
		return false, fmt.Errorf("update %T %s: %w", obj, obj.GetName(), err)
	}
	return true, nil
}

// ownedEquality compares what mutate made of a stored object with the
// stored object. A field mutate leaves empty (an empty string, a nil
// pointer, list or map) is the API server's to fill: a default such as a
// port's protocol, or an allocation such as a Service's clusterIP. The
// builders leave those out, so a whole-object comparison found a change
// on every pass and wrote every Service each time. Everything mutate sets
// is compared: numbers and booleans as they are, and string maps (labels,
// selectors, annotations, ConfigMap data) whole, so a key the operator
// dropped is dropped from the stored object too.
var ownedEquality = func() conversion.Equalities {
	e := equality.Semantic.Copy()
	if err := e.AddFunc(maps.Equal[map[string]string, map[string]string]); err != nil {
		panic(err)
	}
	return e
}()

func ownedFieldsEqual(mutated, stored runtime.Object) bool {
	return ownedEquality.DeepDerivative(mutated, stored)
}

// ensureCreated creates the bootstrap ConfigMap and the StatefulSet of a new
// cluster: all initial members start together from a static initial
// cluster. An existing StatefulSet is left alone: changing a running
// cluster's members goes through etcd first, never through the template.
//
// A cluster bootstrapped from a backup is created only once the backup is
// known to be complete; until then wait says why nothing is created.
func (r *EtcdClusterReconciler) ensureCreated(ctx context.Context, obs *observedCluster) (step, error) {
	c := obs.cluster
	if obs.statefulSet != nil {
		return step{}, nil
	}
	restore, wait, err := r.resolveRestore(ctx, c)
	if err != nil {
		return step{}, err
	}
	if wait != "" {
		return step{kind: stepWait, reason: wait}, nil
	}
	members := resources.InitialMembers(c, int(c.Spec.Size))
	cm := resources.BootstrapConfigMap(c, members, resources.InitialClusterStateNew)
	if err := r.createOwned(ctx, c, cm); err != nil {
		return step{}, fmt.Errorf("create bootstrap configmap: %w", err)
	}
	sts := resources.StatefulSet(c, c.Spec.Size, obs.trustedCA, r.ToolImage)
	if restore != nil {
		resources.AddRestore(&sts.Spec.Template, c, *restore, r.ToolImage)
	}
	if err := r.createOwned(ctx, c, sts); err != nil {
		return step{}, fmt.Errorf("create statefulset: %w", err)
	}
	r.event(c, corev1.EventTypeNormal, "Creating", "Creating %d members of etcd %s", c.Spec.Size, c.Spec.Version)
	return step{kind: stepCreate, reason: fmt.Sprintf("creating %d members", c.Spec.Size)}, nil
}

// resolveRestore finds the snapshot spec.bootstrap.fromBackup names. A
// named EtcdBackup must have succeeded: one still running is waited for,
// and a missing or failed one creates nothing, with the reason in status.
func (r *EtcdClusterReconciler) resolveRestore(ctx context.Context, c *etcdv1alpha1.EtcdCluster) (*resources.RestoreSource, string, error) {
	if c.Spec.Bootstrap == nil || c.Spec.Bootstrap.FromBackup == nil {
		return nil, "", nil
	}
	from := c.Spec.Bootstrap.FromBackup
	if from.BackupName == "" {
		src := resources.RestoreFromLocation(from)
		return &src, "", nil
	}
	var b etcdv1alpha1.EtcdBackup
	found, err := r.getIfExists(ctx, c, from.BackupName, &b)
	switch {
	case err != nil:
		return nil, "", fmt.Errorf("get EtcdBackup %s: %w", from.BackupName, err)
	case !found:
		return nil, fmt.Sprintf("not creating members: EtcdBackup %q to restore from does not exist", from.BackupName), nil
	case b.Status.Phase == etcdv1alpha1.BackupFailed:
		return nil, fmt.Sprintf("not creating members: EtcdBackup %q to restore from failed: %s", from.BackupName, b.Status.Message), nil
	case b.Status.Phase != etcdv1alpha1.BackupSucceeded:
		return nil, fmt.Sprintf("waiting for EtcdBackup %q to complete before restoring from it", from.BackupName), nil
	}
	src := resources.RestoreFromBackup(&b)
	return &src, "", nil
}

// createOwned creates obj owned by the cluster; an object that already
// exists is kept as it is (a second pass after a crash is harmless).
func (r *EtcdClusterReconciler) createOwned(ctx context.Context, c *etcdv1alpha1.EtcdCluster, obj client.Object) error {
	if err := controllerutil.SetControllerReference(c, obj, r.Scheme); err != nil {
		return err
	}
	if err := r.Create(ctx, obj); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return nil
}
