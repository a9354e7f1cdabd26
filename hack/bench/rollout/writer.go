package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
	"github.com/quorum-operator/quorum/internal/resources"
)

// writer puts a key every 50 ms and remembers which puts etcd
// acknowledged; it follows the member pods as they are replaced.
type writer struct {
	kube    client.Client
	cluster *etcdv1alpha1.EtcdCluster
	cli     *clientv3.Client
	cancel  context.CancelFunc
	done    sync.WaitGroup

	mu         sync.Mutex
	acked      []string
	failed     int
	longestGap time.Duration
}

func startWriter(ctx context.Context, kube client.Client, c *etcdv1alpha1.EtcdCluster) (*writer, error) {
	w := &writer{kube: kube, cluster: c.DeepCopy()}
	endpoints, err := w.endpoints(ctx)
	if err != nil {
		return nil, err
	}
	w.cli, err = clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(ctx)
	w.cancel = cancel
	w.done.Add(2)
	go w.write(runCtx)
	go w.follow(runCtx)
	return w, nil
}

func (w *writer) write(ctx context.Context) {
	defer w.done.Done()
	lastAck := time.Now()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-time.After(50 * time.Millisecond):
		}
		key := fmt.Sprintf("/bench/%08d", i)
		putCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := w.cli.Put(putCtx, key, key)
		cancel()
		w.mu.Lock()
		if err == nil {
			w.acked = append(w.acked, key)
			w.longestGap = max(w.longestGap, time.Since(lastAck))
			lastAck = time.Now()
		} else if ctx.Err() == nil {
			w.failed++
		}
		w.mu.Unlock()
	}
}

// follow points the client at the current member pods every second.
func (w *writer) follow(ctx context.Context) {
	defer w.done.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
		if eps, err := w.endpoints(ctx); err == nil && len(eps) > 0 {
			w.cli.SetEndpoints(eps...)
		}
	}
}

func (w *writer) endpoints(ctx context.Context) ([]string, error) {
	var pods corev1.PodList
	if err := w.kube.List(ctx, &pods, client.InNamespace(w.cluster.Namespace), client.MatchingLabels(resources.SelectorLabels(w.cluster))); err != nil {
		return nil, err
	}
	var out []string
	for _, p := range pods.Items {
		if p.Status.PodIP != "" && p.DeletionTimestamp == nil {
			out = append(out, fmt.Sprintf("http://%s:%d", p.Status.PodIP, resources.ClientPort))
		}
	}
	return out, nil
}

// stopAndVerify stops writing and reads back every acknowledged key.
func (w *writer) stopAndVerify(ctx context.Context) (result, error) {
	w.cancel()
	w.done.Wait()
	defer w.cli.Close()
	if eps, err := w.endpoints(ctx); err == nil && len(eps) > 0 {
		w.cli.SetEndpoints(eps...)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	getCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	resp, err := w.cli.Get(getCtx, "/bench/", clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return result{}, fmt.Errorf("read back: %w", err)
	}
	have := make(map[string]bool, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		have[string(kv.Key)] = true
	}
	for _, key := range w.acked {
		if !have[key] {
			return result{}, fmt.Errorf("acknowledged write %s is lost", key)
		}
	}
	return result{longestGap: w.longestGap, acked: len(w.acked), failed: w.failed}, nil
}
