package etcd

import (
	"context"
	"crypto/tls"
	"strings"
	"sync"
)

// Fakes holds one Fake per namespace, so specs that run side by side, each
// in a namespace of its own, never see each other's members, calls or
// errors.
type Fakes struct {
	mu     sync.Mutex
	byName map[string]*Fake
}

// NewFakes returns an empty set; a namespace's Fake is made on first use.
func NewFakes() *Fakes {
	return &Fakes{byName: map[string]*Fake{}}
}

// For returns the Fake that answers for every cluster in namespace.
func (fs *Fakes) For(namespace string) *Fake {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	f := fs.byName[namespace]
	if f == nil {
		f = &Fake{Statuses: map[string]*MemberStatus{}}
		fs.byName[namespace] = f
	}
	return f
}

// Factory returns a ClientFactory that hands out the Fake of the cluster's
// namespace.
func (fs *Fakes) Factory() ClientFactory {
	return func(_ context.Context, cluster string, _ []string, _ *tls.Config) (Client, error) {
		namespace, _, _ := strings.Cut(cluster, "/")
		return fs.For(namespace), nil
	}
}
