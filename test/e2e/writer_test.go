package e2e

import (
	"context"
	"fmt"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	clientv3 "go.etcd.io/etcd/client/v3"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
)

// writer puts a key every interval while an operation runs, and remembers
// which puts etcd acknowledged. A put that failed was never promised to
// anyone; one that succeeded must be readable at the end.
type writer struct {
	cluster *etcdv1alpha1.EtcdCluster
	cli     *clientv3.Client
	cancel  context.CancelFunc
	done    sync.WaitGroup

	mu     sync.Mutex
	acked  []string
	failed int
	// longestGap is the longest time between two acknowledged writes.
	longestGap time.Duration
}

// startWriter begins writing under prefix; stop it with stop.
func startWriter(c *etcdv1alpha1.EtcdCluster, prefix string, interval time.Duration) *writer {
	w := &writer{cluster: c, cli: etcdClient(values(memberEndpoints(c))...)}
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	w.done.Add(2)
	go w.write(ctx, prefix, interval)
	go w.followMembers(ctx)
	return w
}

func (w *writer) write(ctx context.Context, prefix string, interval time.Duration) {
	defer GinkgoRecover()
	defer w.done.Done()
	lastAck := time.Now()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
		key := fmt.Sprintf("%s/%08d", prefix, i)
		putCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := w.cli.Put(putCtx, key, key)
		cancel()
		w.mu.Lock()
		if err == nil {
			w.acked = append(w.acked, key)
			w.longestGap = max(w.longestGap, time.Since(lastAck))
			lastAck = time.Now()
		} else {
			w.failed++
		}
		w.mu.Unlock()
	}
}

// followMembers points the client at the current member pods, as a client
// that reads the cluster's endpoints would.
func (w *writer) followMembers(ctx context.Context) {
	defer GinkgoRecover()
	defer w.done.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
		if eps := values(memberEndpoints(w.cluster)); len(eps) > 0 {
			w.cli.SetEndpoints(eps...)
		}
	}
}

// stopAndVerify stops writing and checks that every acknowledged key is
// there, with a linearizable read.
func (w *writer) stopAndVerify() {
	GinkgoHelper()
	w.cancel()
	w.done.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	Expect(w.acked).NotTo(BeEmpty(), "the writer got no write acknowledged")
	missing := []string{}
	for _, key := range w.acked {
		var resp *clientv3.GetResponse
		Eventually(func() error {
			getCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			var err error
			resp, err = w.cli.Get(getCtx, key)
			return err
		}, 30*time.Second, 500*time.Millisecond).Should(Succeed())
		if len(resp.Kvs) != 1 {
			missing = append(missing, key)
		}
	}
	Expect(missing).To(BeEmpty(), "acknowledged writes lost")
	GinkgoWriter.Printf("writer: %d writes acknowledged, %d failed, longest gap between acknowledged writes %s\n",
		len(w.acked), w.failed, w.longestGap.Round(time.Millisecond))
}
