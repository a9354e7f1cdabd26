package writer

import (
	"context"
	"crypto/tls"
	"fmt"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Endpoints lists the client URLs of the cluster's current members; the
// writer asks again every second, as members are replaced.
type Endpoints func(ctx context.Context) ([]string, error)

// Stats is what a run of the writer saw.
type Stats struct {
	Acked, Failed int
	// LongestGap is the longest time between two acknowledged writes.
	LongestGap time.Duration
}

// Writer puts keys until stopped. A put that failed was never promised to
// anyone; one that succeeded must be readable at the end.
type Writer struct {
	cli       *clientv3.Client
	endpoints Endpoints
	prefix    string
	cancel    context.CancelFunc
	done      sync.WaitGroup

	mu    sync.Mutex
	acked []string
	stats Stats
}

// Start begins putting a key under prefix every interval, over TLS when
// tlsConfig is not nil.
func Start(ctx context.Context, endpoints Endpoints, tlsConfig *tls.Config, prefix string, interval time.Duration) (*Writer, error) {
	eps, err := endpoints(ctx)
	if err != nil {
		return nil, err
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second, TLS: tlsConfig, Logger: zap.NewNop()})
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	w := &Writer{cli: cli, endpoints: endpoints, prefix: prefix, cancel: cancel}
	w.done.Add(2)
	go w.write(runCtx, interval)
	go w.follow(runCtx)
	return w, nil
}

func (w *Writer) write(ctx context.Context, interval time.Duration) {
	defer w.done.Done()
	lastAck := time.Now()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
		key := fmt.Sprintf("%s/%08d", w.prefix, i)
		putCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := w.cli.Put(putCtx, key, key)
		cancel()
		w.mu.Lock()
		switch {
		case err == nil:
			w.acked = append(w.acked, key)
			w.stats.Acked++
			w.stats.LongestGap = max(w.stats.LongestGap, time.Since(lastAck))
			lastAck = time.Now()
		case ctx.Err() == nil:
			w.stats.Failed++
		}
		w.mu.Unlock()
	}
}

// follow points the client at the current members every second.
func (w *Writer) follow(ctx context.Context) {
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

// StopAndVerify stops writing and reads every acknowledged key back with a
// linearizable read, retrying reads for up to 30 s. It returns the keys
// that are missing.
func (w *Writer) StopAndVerify(ctx context.Context) (Stats, []string, error) {
	w.cancel()
	w.done.Wait()
	defer w.cli.Close()
	if eps, err := w.endpoints(ctx); err == nil && len(eps) > 0 {
		w.cli.SetEndpoints(eps...)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	var resp *clientv3.GetResponse
	var err error
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		getCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		resp, err = w.cli.Get(getCtx, w.prefix+"/", clientv3.WithPrefix(), clientv3.WithKeysOnly())
		cancel()
		if err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		return w.stats, nil, fmt.Errorf("read the acknowledged keys back: %w", err)
	}
	have := make(map[string]bool, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		have[string(kv.Key)] = true
	}
	var missing []string
	for _, key := range w.acked {
		if !have[key] {
			missing = append(missing, key)
		}
	}
	return w.stats, missing, nil
}
