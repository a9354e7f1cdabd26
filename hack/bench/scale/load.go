package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
)

func newClient(cfg *rest.Config) (client.Client, error) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := etcdv1alpha1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	return client.New(cfg, client.Options{Scheme: scheme})
}

// parallel runs f(0..n-1) on w workers and returns the first error.
func parallel(n, w int, f func(i int) error) error {
	var (
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
		next  = make(chan int)
	)
	for range w {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := f(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return first
}

func createNamespace(ctx context.Context, kube client.Client, name string) error {
	return client.IgnoreAlreadyExists(kube.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}))
}

// createNodes makes fake nodes for kwok; it makes them Ready.
func createNodes(ctx context.Context, kube client.Client, n int) error {
	return parallel(n, 4, func(i int) error {
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("kwok-node-%d", i), Labels: map[string]string{"type": "kwok"}},
			Status: corev1.NodeStatus{Allocatable: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("1k"), corev1.ResourceMemory: resource.MustParse("1Ti"), corev1.ResourcePods: resource.MustParse("10k"),
			}},
		}
		if err := client.IgnoreAlreadyExists(kube.Create(ctx, node)); err != nil {
			return err
		}
		// The API server taints a new node not-ready; the node lifecycle
		// controller, which does not run here, would lift that.
		return poll(ctx, 100*time.Millisecond, 30*time.Second, func() (bool, error) {
			if err := kube.Get(ctx, client.ObjectKeyFromObject(node), node); err != nil {
				return false, err
			}
			if len(node.Spec.Taints) == 0 {
				return true, nil
			}
			node.Spec.Taints = nil
			return false, client.IgnoreNotFound(ignoreConflict(kube.Update(ctx, node)))
		})
	})
}

func ignoreConflict(err error) error {
	if apierrors.IsConflict(err) {
		return nil
	}
	return err
}

// noiseNamespaces hold the unrelated objects.
const noiseNamespaces = 10

// createNoise makes n unrelated Pods and n ConfigMaps in other namespaces,
// for the caches to hold. The pods name a scheduler that does not exist,
// so they stay Pending and nothing touches them again.
func createNoise(ctx context.Context, kube client.Client, n int) error {
	for i := range noiseNamespaces {
		if err := createNamespace(ctx, kube, fmt.Sprintf("noise-%d", i)); err != nil {
			return err
		}
	}
	payload := strings.Repeat("x", 512)
	return parallel(n, 32, func(i int) error {
		ns := fmt.Sprintf("noise-%d", i%noiseNamespaces)
		labels := map[string]string{"app": fmt.Sprintf("app-%d", i%97), "tier": "noise"}
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("noise-%d", i), Namespace: ns, Labels: labels},
			Spec: corev1.PodSpec{
				SchedulerName: "bench-no-scheduler",
				Containers: []corev1.Container{{
					Name: "app", Image: "registry.example/app:1",
					Env:   []corev1.EnvVar{{Name: "PAYLOAD", Value: payload}},
					Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
				}},
			},
		}
		if err := client.IgnoreAlreadyExists(kube.Create(ctx, pod)); err != nil {
			return err
		}
		cm := &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("noise-%d", i), Namespace: ns, Labels: labels},
			Data:       map[string]string{"payload": payload, "index": fmt.Sprint(i)},
		}
		return client.IgnoreAlreadyExists(kube.Create(ctx, cm))
	})
}

// benchCluster names the i-th bench cluster.
func benchCluster(i, namespaces int) client.ObjectKey {
	return client.ObjectKey{Namespace: fmt.Sprintf("bench-%d", i%namespaces), Name: fmt.Sprintf("etcd-%d", i)}
}

// createClusters makes n clusters of 3 members with emptyDir storage; every
// other one, up to tlsCount, with operator-issued TLS.
func createClusters(ctx context.Context, kube client.Client, n, namespaces, tlsCount int) error {
	for i := range namespaces {
		if err := createNamespace(ctx, kube, fmt.Sprintf("bench-%d", i)); err != nil {
			return err
		}
	}
	return parallel(n, 16, func(i int) error {
		key := benchCluster(i, namespaces)
		c := &etcdv1alpha1.EtcdCluster{
			ObjectMeta: metav1.ObjectMeta{Name: key.Name, Namespace: key.Namespace},
			Spec: etcdv1alpha1.EtcdClusterSpec{
				Size: 3, Version: "3.6.16",
				Storage: &etcdv1alpha1.StorageSpec{EmptyDir: &corev1.EmptyDirVolumeSource{}},
				// As on the one-node local cluster the bench is calibrated
				// against: members may share a node.
				PodTemplate: &etcdv1alpha1.PodTemplate{MemberSpread: etcdv1alpha1.MemberSpreadNone},
			},
		}
		if i%2 == 1 && i/2 < tlsCount {
			c.Spec.TLS = &etcdv1alpha1.TLSSpec{}
		}
		return client.IgnoreAlreadyExists(kube.Create(ctx, c))
	})
}

// countAvailable counts the bench clusters with condition Available true.
func countAvailable(ctx context.Context, kube client.Client) (int, error) {
	var list etcdv1alpha1.EtcdClusterList
	if err := kube.List(ctx, &list); err != nil {
		return 0, err
	}
	n := 0
	for _, c := range list.Items {
		if meta.IsStatusConditionTrue(c.Status.Conditions, etcdv1alpha1.ConditionAvailable) {
			n++
		}
	}
	return n, nil
}

// poll calls f every interval until it says done, fails, or timeout passes.
func poll(ctx context.Context, interval, timeout time.Duration, f func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		done, err := f()
		if err != nil || done {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s", timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}
