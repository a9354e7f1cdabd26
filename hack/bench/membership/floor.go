package main

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/quorum-operator/quorum/internal/resources"
)

// floorRun creates, scales out and scales in the floor StatefulSet.
func (b *bench) floorRun(ctx context.Context, name string, f figures) error {
	sts := b.floorStatefulSet(name)
	start := time.Now()
	if err := b.kube.Create(ctx, sts); err != nil {
		return err
	}
	for _, step := range []struct {
		figure   string
		replicas int32
	}{{"floor create", 3}, {"floor 3to5", 5}, {"floor 5to3", 3}} {
		if step.figure != "floor create" {
			start = time.Now()
			before := sts.DeepCopy()
			sts.Spec.Replicas = ptr.To(step.replicas)
			if err := b.kube.Patch(ctx, sts, client.MergeFrom(before)); err != nil {
				return err
			}
		}
		if err := b.waitReadyPods(ctx, name, int(step.replicas), start); err != nil {
			return fmt.Errorf("%s: %w", step.figure, err)
		}
		f[step.figure] = time.Since(start)
	}
	return b.remove(ctx, sts, map[string]string{"bench": name})
}

// waitReadyPods polls until exactly n pods of the floor exist, all ready.
func (b *bench) waitReadyPods(ctx context.Context, name string, n int, start time.Time) error {
	for deadline := start.Add(10 * time.Minute); time.Now().Before(deadline); time.Sleep(pollEvery) {
		var pods corev1.PodList
		if err := b.kube.List(ctx, &pods, client.InNamespace(b.ns), client.MatchingLabels{"bench": name}); err != nil {
			return err
		}
		ready := 0
		for _, p := range pods.Items {
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue && p.DeletionTimestamp == nil {
					ready++
				}
			}
		}
		if ready == n && len(pods.Items) == n {
			return nil
		}
	}
	return fmt.Errorf("not %d ready pods after %s", n, time.Since(start).Round(time.Second))
}

// floorStatefulSet is the operator's member pods without membership: the
// same image, claim and readiness probe, each pod a one-member etcd.
func (b *bench) floorStatefulSet(name string) *appsv1.StatefulSet {
	labels := map[string]string{"bench": name}
	peer := "http://127.0.0.1:2380"
	container := corev1.Container{
		Name:    "etcd",
		Image:   "gcr.io/etcd-development/etcd:v" + b.version,
		Command: []string{"/usr/local/bin/etcd"},
		Args: []string{"--name=$(POD_NAME)", "--data-dir=/var/lib/etcd/data",
			"--listen-client-urls=http://0.0.0.0:2379", "--advertise-client-urls=http://$(POD_IP):2379",
			"--listen-metrics-urls=http://0.0.0.0:2381", "--listen-peer-urls=" + peer,
			"--initial-advertise-peer-urls=" + peer, "--initial-cluster=$(POD_NAME)=" + peer},
		Env: []corev1.EnvVar{
			{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
		},
		// As the operator's members: /readyz on the metrics port every 5 s.
		ReadinessProbe: &corev1.Probe{
			ProbeHandler:     corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/readyz", Port: intstr.FromInt32(resources.MetricsPort)}},
			PeriodSeconds:    5,
			FailureThreshold: 3,
		},
		VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/var/lib/etcd"}},
	}
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: b.ns},
		Spec: appsv1.StatefulSetSpec{
			Replicas:            ptr.To[int32](3),
			ServiceName:         name,
			PodManagementPolicy: appsv1.ParallelPodManagement,
			Selector:            &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{container}},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data", Labels: labels},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
				},
			}},
		},
	}
}
