package controller

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
)

// apiCall is one request a reconciler sent to the API server through the
// recorded client.
type apiCall struct {
	verb      string // get, create, update, patch, delete, deletecollection, apply; "patch status" for a subresource
	kind      string
	namespace string
	name      string
}

func (c apiCall) String() string {
	return fmt.Sprintf("%s %s %s/%s", c.verb, c.kind, c.namespace, c.name)
}

func (c apiCall) write() bool { return c.verb != "get" }

// callRecorder records the writes a reconciler makes, object by object,
// and its Gets of single objects (a Get of the EtcdCluster marks the start
// of a pass). Lists are not recorded.
type callRecorder struct {
	mu    sync.Mutex
	calls []apiCall
}

// wrap returns c with its calls recorded.
func (r *callRecorder) wrap(c client.Client) client.Client {
	return &recordingClient{Client: c, rec: r}
}

func (r *callRecorder) record(c client.Client, verb string, obj runtime.Object, namespace, name string) {
	kind := fmt.Sprintf("%T", obj)
	if gvk, err := apiutil.GVKForObject(obj, c.Scheme()); err == nil {
		kind = gvk.Kind
	}
	r.add(apiCall{verb: verb, kind: kind, namespace: namespace, name: name})
}

func (r *callRecorder) add(c apiCall) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, c)
}

// mark is a position to look at the calls made after it.
func (r *callRecorder) mark() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls)
}

// writesSince lists the writes to objects of the namespace made since the
// mark, e.g. "update Service ns/main".
func (r *callRecorder) writesSince(mark int, namespace string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, c := range r.calls[mark:] {
		if c.write() && c.namespace == namespace {
			out = append(out, c.String())
		}
	}
	return out
}

// count is how many calls of the verb to the named object were made.
func (r *callRecorder) count(verb, kind string, key client.ObjectKey) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.calls {
		if c.verb == verb && c.kind == kind && c.namespace == key.Namespace && c.name == key.Name {
			n++
		}
	}
	return n
}

// recordingClient is a client.Client that records its calls in rec.
type recordingClient struct {
	client.Client
	rec *callRecorder
}

func (c *recordingClient) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	c.rec.record(c.Client, "get", obj, key.Namespace, key.Name)
	return c.Client.Get(ctx, key, obj, opts...)
}

func (c *recordingClient) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	c.rec.record(c.Client, "create", obj, obj.GetNamespace(), obj.GetName())
	return c.Client.Create(ctx, obj, opts...)
}

func (c *recordingClient) Update(ctx context.Context, obj client.Object, opts ...client.UpdateOption) error {
	c.rec.record(c.Client, "update", obj, obj.GetNamespace(), obj.GetName())
	return c.Client.Update(ctx, obj, opts...)
}

func (c *recordingClient) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
	c.rec.record(c.Client, "patch", obj, obj.GetNamespace(), obj.GetName())
	return c.Client.Patch(ctx, obj, patch, opts...)
}

func (c *recordingClient) Delete(ctx context.Context, obj client.Object, opts ...client.DeleteOption) error {
	c.rec.record(c.Client, "delete", obj, obj.GetNamespace(), obj.GetName())
	return c.Client.Delete(ctx, obj, opts...)
}

func (c *recordingClient) DeleteAllOf(ctx context.Context, obj client.Object, opts ...client.DeleteAllOfOption) error {
	var o client.DeleteAllOfOptions
	o.ApplyOptions(opts)
	c.rec.record(c.Client, "deletecollection", obj, o.Namespace, "")
	return c.Client.DeleteAllOf(ctx, obj, opts...)
}

func (c *recordingClient) Apply(ctx context.Context, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
	c.rec.add(apiCall{verb: "apply", kind: fmt.Sprintf("%T", obj)})
	return c.Client.Apply(ctx, obj, opts...)
}

func (c *recordingClient) Status() client.SubResourceWriter { return c.SubResource("status") }

func (c *recordingClient) SubResource(name string) client.SubResourceClient {
	return &recordingSubResource{SubResourceClient: c.Client.SubResource(name), parent: c, name: name}
}

// recordingSubResource records writes of a subresource such as status.
type recordingSubResource struct {
	client.SubResourceClient
	parent *recordingClient
	name   string
}

func (s *recordingSubResource) record(verb string, obj client.Object) {
	s.parent.rec.record(s.parent.Client, verb+" "+s.name, obj, obj.GetNamespace(), obj.GetName())
}

func (s *recordingSubResource) Create(ctx context.Context, obj, sub client.Object, opts ...client.SubResourceCreateOption) error {
	s.record("create", obj)
	return s.SubResourceClient.Create(ctx, obj, sub, opts...)
}

func (s *recordingSubResource) Update(ctx context.Context, obj client.Object, opts ...client.SubResourceUpdateOption) error {
	s.record("update", obj)
	return s.SubResourceClient.Update(ctx, obj, opts...)
}

func (s *recordingSubResource) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
	s.record("patch", obj)
	return s.SubResourceClient.Patch(ctx, obj, patch, opts...)
}

func (s *recordingSubResource) Apply(ctx context.Context, obj runtime.ApplyConfiguration, opts ...client.SubResourceApplyOption) error {
	s.parent.rec.add(apiCall{verb: "apply " + s.name, kind: fmt.Sprintf("%T", obj)})
	return s.SubResourceClient.Apply(ctx, obj, opts...)
}

// countingReader counts the Gets it passes on.
type countingReader struct {
	client.Reader
	gets atomic.Int64
}

func (r *countingReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	r.gets.Add(1)
	return r.Reader.Get(ctx, key, obj, opts...)
}
