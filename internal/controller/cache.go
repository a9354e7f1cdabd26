package controller

import (
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/quorum-operator/quorum/internal/resources"
)

// CacheOptions is what the manager's cache holds: of the kinds the
// controllers read, only the objects the operator made (by their labels),
// without managedFields, in the watched namespaces (all when none are
// given). A cache of every Pod and ConfigMap of a large Kubernetes would
// cost the operator more memory than all its clusters.
//
// Reading through the cache sees nothing else: an object of these kinds
// the operator did not label is read with the API reader (a backup Job's
// pods, see EtcdBackupReconciler.Pods).
func CacheOptions(namespaces []string) cache.Options {
	member := labelExists(resources.LabelCluster)
	opts := cache.Options{
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Pod{}:                   {Label: member},
			&corev1.Service{}:               {Label: member},
			&corev1.ConfigMap{}:             {Label: member},
			&corev1.PersistentVolumeClaim{}: {Label: member},
			&appsv1.StatefulSet{}:           {Label: member},
			&policyv1.PodDisruptionBudget{}: {Label: member},
			&batchv1.Job{}:                  {Label: labelExists(resources.LabelJob)},
		},
	}
	if len(namespaces) > 0 {
		opts.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range namespaces {
			opts.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	return opts
}

func labelExists(key string) labels.Selector {
	req, err := labels.NewRequirement(key, selection.Exists, nil)
	if err != nil {
		panic(err) // the keys are constants
	}
	return labels.NewSelector().Add(*req)
}
