package etcd

import (
	"context"
	"crypto/tls"
	"slices"
	"sync"
)

// Pool keeps one Client per cluster from one pass to the next, so a pass
// over a cluster opens no connection: it reuses those of the last one.
// A client follows its cluster's members (SetEndpoints) and is opened
// again only when the TLS material it dials with changes.
type Pool struct {
	open ClientFactory

	mu      sync.Mutex
	clients map[string]*pooledClient
}

type pooledClient struct {
	client    Client
	endpoints []string
	tlsKey    string
}

// endpointSetter is a Client that can change the members it talks to in
// place (the real one); others are opened again.
type endpointSetter interface {
	SetEndpoints(endpoints []string) error
}

// NewPool returns a pool that opens clients with open.
func NewPool(open ClientFactory) *Pool {
	return &Pool{open: open, clients: map[string]*pooledClient{}}
}

// Client returns the client of the cluster key, talking to endpoints with
// tlsConfig. tlsKey names the TLS material (a hash of it): a different key
// closes the old client and opens a new one.
func (p *Pool) Client(ctx context.Context, key string, endpoints []string, tlsConfig *tls.Config, tlsKey string) (Client, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pc := p.clients[key]; pc != nil && pc.tlsKey == tlsKey {
		if slices.Equal(pc.endpoints, endpoints) {
			return pc.client, nil
		}
		if setter, ok := pc.client.(endpointSetter); ok {
			if err := setter.SetEndpoints(endpoints); err != nil {
				return nil, err
			}
			pc.endpoints = slices.Clone(endpoints)
			return pc.client, nil
		}
	}
	p.forgetLocked(key)
	c, err := p.open(ctx, key, endpoints, tlsConfig)
	if err != nil {
		return nil, err
	}
	p.clients[key] = &pooledClient{client: c, endpoints: slices.Clone(endpoints), tlsKey: tlsKey}
	return c, nil
}

// Forget closes the client of the cluster key, if there is one: the
// cluster is gone.
func (p *Pool) Forget(key string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.forgetLocked(key)
}

func (p *Pool) forgetLocked(key string) {
	if pc := p.clients[key]; pc != nil {
		_ = pc.client.Close()
		delete(p.clients, key)
	}
}
