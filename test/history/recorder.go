package history

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Endpoints lists the client URLs to send traffic to: a client Service's
// address or single members. The recorder asks again every second, as
// members are replaced.
type Endpoints func(ctx context.Context) ([]string, error)

// Config is what load to put on the cluster, and for how long.
type Config struct {
	Endpoints Endpoints
	TLS       *tls.Config // nil for plain HTTP
	// Prefix names the keys, Prefix/k0..; the keys must not exist when
	// the load starts, since the model starts from missing keys. Default:
	// a name made from the time.
	Prefix string
	// Keys is how many keys the clients share (default 8): few, so
	// operations on a key overlap.
	Keys int
	// Clients is how many clients issue operations at once (default 4),
	// each on its own connection.
	Clients int
	// The load stops by itself after Duration or after Operations
	// operations, whichever comes first; at least one must be set.
	Duration   time.Duration
	Operations int
	// OpTimeout bounds each operation (default 2 s); one that runs out is
	// unknown.
	OpTimeout time.Duration
}

// Recorder runs the clients and records what they do.
type Recorder struct {
	cfg     Config
	keys    []string
	start   time.Time // monotonic zero of the history
	began   time.Time
	clients []*clientv3.Client
	issued  atomic.Int64
	stop    chan struct{}
	stopped sync.Once
	done    chan struct{}

	mu      sync.Mutex
	ops     []Operation
	streams int // porcupine client ids handed out
}

// Start checks the keys are free and starts the clients. The load ends at
// cfg's bound, when Stop is called, or when ctx is done (which also cuts
// the operations in flight short, as unknown).
func Start(ctx context.Context, cfg Config) (*Recorder, error) {
	cfg, err := withDefaults(cfg)
	if err != nil {
		return nil, err
	}
	eps, err := cfg.Endpoints(ctx)
	if err != nil {
		return nil, fmt.Errorf("history: endpoints: %w", err)
	}
	r := &Recorder{cfg: cfg, stop: make(chan struct{}), done: make(chan struct{}), streams: cfg.Clients}
	for i := range cfg.Keys {
		r.keys = append(r.keys, fmt.Sprintf("%s/k%d", cfg.Prefix, i))
	}
	for range cfg.Clients {
		cli, err := newClient(eps, cfg.TLS)
		if err != nil {
			r.closeClients()
			return nil, err
		}
		r.clients = append(r.clients, cli)
	}
	if err := r.checkFree(ctx); err != nil {
		r.closeClients()
		return nil, err
	}
	r.start = time.Now()
	r.began = r.start.Round(0)
	r.run(ctx)
	return r, nil
}

func withDefaults(cfg Config) (Config, error) {
	if cfg.Endpoints == nil {
		return cfg, errors.New("history: no Endpoints")
	}
	if cfg.Duration <= 0 && cfg.Operations <= 0 {
		return cfg, errors.New("history: the load needs a bound: set Duration or Operations")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = fmt.Sprintf("quorum-history-%d", time.Now().UnixNano())
	}
	if cfg.Keys <= 0 {
		cfg.Keys = 8
	}
	if cfg.Clients <= 0 {
		cfg.Clients = 4
	}
	if cfg.OpTimeout <= 0 {
		cfg.OpTimeout = 2 * time.Second
	}
	return cfg, nil
}

func newClient(eps []string, tlsConfig *tls.Config) (*clientv3.Client, error) {
	return clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second, TLS: tlsConfig, Logger: zap.NewNop()})
}

// checkFree refuses keys that exist: the model could not explain them.
func (r *Recorder) checkFree(ctx context.Context) error {
	getCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := r.clients[0].Get(getCtx, r.cfg.Prefix+"/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return fmt.Errorf("history: read %s/: %w", r.cfg.Prefix, err)
	}
	if resp.Count > 0 {
		return fmt.Errorf("history: %d keys exist under %s/; the history must start from missing keys: use a new Prefix", resp.Count, r.cfg.Prefix)
	}
	return nil
}

// run starts the clients, the bound and the endpoint refresh.
func (r *Recorder) run(ctx context.Context) {
	var clients, follow sync.WaitGroup
	for i, cli := range r.clients {
		clients.Go(func() { r.work(ctx, i, cli) })
	}
	if r.cfg.Duration > 0 {
		timer := time.AfterFunc(r.cfg.Duration, r.signalStop)
		go func() { <-r.done; timer.Stop() }()
	}
	followCtx, stopFollow := context.WithCancel(ctx)
	follow.Go(func() { r.follow(followCtx) })
	go func() {
		clients.Wait()
		stopFollow()
		follow.Wait()
		r.closeClients()
		close(r.done)
	}()
}

func (r *Recorder) signalStop() { r.stopped.Do(func() { close(r.stop) }) }

func (r *Recorder) closeClients() {
	for _, cli := range r.clients {
		_ = cli.Close()
	}
}

// Done is closed once the load has stopped, by its bound, Stop or ctx.
func (r *Recorder) Done() <-chan struct{} { return r.done }

// Stop ends the load and waits for the operations in flight, at most
// OpTimeout.
func (r *Recorder) Stop() {
	r.signalStop()
	<-r.done
}

// History is what was recorded so far, ordered by call.
func (r *Recorder) History() *History {
	r.mu.Lock()
	defer r.mu.Unlock()
	ops := slices.Clone(r.ops)
	slices.SortStableFunc(ops, func(a, b Operation) int { return cmp.Compare(a.Call, b.Call) })
	return &History{Prefix: r.cfg.Prefix, Keys: slices.Clone(r.keys), Began: r.began, Operations: ops}
}

// follow points the clients at the current endpoints every second.
func (r *Recorder) follow(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
		if eps, err := r.cfg.Endpoints(ctx); err == nil && len(eps) > 0 {
			for _, cli := range r.clients {
				cli.SetEndpoints(eps...)
			}
		}
	}
}

// takeTurn says whether the load may issue one more operation.
func (r *Recorder) takeTurn(ctx context.Context) bool {
	select {
	case <-r.stop:
		return false
	default:
	}
	if ctx.Err() != nil {
		return false
	}
	return r.cfg.Operations <= 0 || r.issued.Add(1) <= int64(r.cfg.Operations)
}

// now is the monotonic time since the history began.
func (r *Recorder) now() int64 { return int64(time.Since(r.start)) }

// record keeps op, and returns the client id the caller uses next: an
// unknown operation never returns as far as porcupine is concerned, so
// what the caller does next must count as another client's.
func (r *Recorder) record(op Operation) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ops = append(r.ops, op)
	if op.Status != Unknown {
		return op.Client
	}
	r.streams++
	return r.streams - 1
}

// work is one client: random operations on random keys until the load
// stops.
func (r *Recorder) work(ctx context.Context, id int, cli *clientv3.Client) {
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(id)))
	// seen is the value this client last saw in each key, which its
	// compare-and-swaps expect, so some of them succeed.
	seen := map[string]string{}
	client := id
	for seq := 0; r.takeTurn(ctx); seq++ {
		op := Operation{Client: client, Key: r.keys[rng.IntN(len(r.keys))]}
		value := fmt.Sprintf("c%d-%d", id, seq)
		switch n := rng.IntN(100); {
		case n < 35:
			op.Kind = Get
		case n < 65:
			op.Kind, op.Value = Put, value
		case n < 75:
			op.Kind = Delete
		default:
			op.Kind, op.Value, op.Compare = Txn, value, seen[op.Key]
		}
		r.do(ctx, cli, &op)
		client = r.record(op)
		if op.Status != OK {
			// A member that is down fails calls fast; do not fill the
			// history with them.
			time.Sleep(100 * time.Millisecond)
			continue
		}
		seen[op.Key] = lastValue(op)
	}
}

// lastValue is the value an answered operation left the key with.
func lastValue(op Operation) string {
	if op.writes() {
		return op.result()
	}
	return op.Read
}

// do sends op and fills in its times and results.
func (r *Recorder) do(ctx context.Context, cli *clientv3.Client, op *Operation) {
	opCtx, cancel := context.WithTimeout(ctx, r.cfg.OpTimeout)
	defer cancel()
	op.Call = r.now()
	var err error
	switch op.Kind {
	case Get:
		var resp *clientv3.GetResponse
		if resp, err = cli.Get(opCtx, op.Key); err == nil {
			op.setHeader(resp.Header)
			op.Read = valueOf(resp.Kvs)
		}
	case Put:
		var resp *clientv3.PutResponse
		if resp, err = cli.Put(opCtx, op.Key, op.Value); err == nil {
			op.setHeader(resp.Header)
		}
	case Delete:
		var resp *clientv3.DeleteResponse
		if resp, err = cli.Delete(opCtx, op.Key); err == nil {
			op.setHeader(resp.Header)
			op.Deleted = resp.Deleted > 0
		}
	case Txn:
		var resp *clientv3.TxnResponse
		resp, err = cli.Txn(opCtx).
			If(clientv3.Compare(clientv3.Value(op.Key), "=", op.Compare)).
			Then(clientv3.OpPut(op.Key, op.Value)).
			Else(clientv3.OpGet(op.Key)).
			Commit()
		if err == nil {
			op.setHeader(resp.Header)
			op.Succeeded = resp.Succeeded
			if !resp.Succeeded {
				op.Read = valueOf(resp.Responses[0].GetResponseRange().GetKvs())
			}
		}
	}
	op.Return = r.now()
	op.Status = statusOf(err)
	if err != nil {
		op.Error = err.Error()
	}
}

func (op *Operation) setHeader(h *etcdserverpb.ResponseHeader) {
	op.Revision, op.Member = h.GetRevision(), h.GetMemberId()
}

// valueOf is the value of the one key read, "" if it does not exist.
func valueOf(kvs []*mvccpb.KeyValue) string {
	if len(kvs) == 0 {
		return ""
	}
	return string(kvs[0].Value)
}

// refused are the errors with which etcd turns a request down without
// applying it: it was rejected before being proposed, or applied as a
// no-op under an alarm.
var refused = []error{
	rpctypes.ErrNoSpace, rpctypes.ErrCorrupt, rpctypes.ErrTooManyRequests, rpctypes.ErrRequestTooLarge,
	rpctypes.ErrTooManyOps, rpctypes.ErrPermissionDenied, rpctypes.ErrInvalidAuthToken,
}

// statusOf is what an error says about the operation. Any error but a
// refusal may come after etcd applied the request (a timeout, a lost
// connection, "request timed out", "no leader"): unknown.
func statusOf(err error) Status {
	if err == nil {
		return OK
	}
	for _, r := range refused {
		if errors.Is(err, r) {
			return Failed
		}
	}
	return Unknown
}
