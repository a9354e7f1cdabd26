package controller

import (
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
	"github.com/quorum-operator/quorum/internal/resources"
)

// secretTTL is how long a certificate Secret read from the API server is
// used without reading it again. The operator neither lists nor watches
// Secrets (its role grants only get), and a TLS cluster's four Secrets
// read on every pass were most of what an idle cluster asked of the API
// server. The operator writes its own Secrets and forgets them when it
// does; what it must see sooner than this (a Secret it waits for, a
// changed spec or rotation request, a cluster its certificate no longer
// reaches) is read again at once.
const secretTTL = 10 * time.Minute

// secretCache holds the certificate Secrets of each cluster between passes.
type secretCache struct {
	mu       sync.Mutex
	clusters map[string]*clusterSecrets
}

type clusterSecrets struct {
	stamp   string // the cluster's spec and annotations the Secrets were read under
	readAt  time.Time
	secrets map[string]*corev1.Secret
}

// get returns a copy of the named Secret of cluster c if it was read
// under the same spec and annotations less than secretTTL before now.
func (sc *secretCache) get(c *etcdv1alpha1.EtcdCluster, name string, now time.Time) (*corev1.Secret, bool) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	cs := sc.clusters[clusterKey(c)]
	if cs == nil || cs.stamp != secretStamp(c) || now.Sub(cs.readAt) >= secretTTL {
		return nil, false
	}
	s, ok := cs.secrets[name]
	if !ok {
		return nil, false
	}
	return s.DeepCopy(), true
}

// put remembers a Secret of c as read from the API server at now. The
// cluster's Secrets age together: the first read after they expire
// starts a new set.
func (sc *secretCache) put(c *etcdv1alpha1.EtcdCluster, s *corev1.Secret, now time.Time) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.clusters == nil {
		sc.clusters = map[string]*clusterSecrets{}
	}
	key, stamp := clusterKey(c), secretStamp(c)
	cs := sc.clusters[key]
	if cs == nil || cs.stamp != stamp || now.Sub(cs.readAt) >= secretTTL {
		cs = &clusterSecrets{stamp: stamp, readAt: now, secrets: map[string]*corev1.Secret{}}
		sc.clusters[key] = cs
	}
	cs.secrets[s.Name] = s.DeepCopy()
}

// forget drops one Secret of c (name), or all of them (no name).
func (sc *secretCache) forget(c *etcdv1alpha1.EtcdCluster, names ...string) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	key := clusterKey(c)
	if len(names) == 0 {
		delete(sc.clusters, key)
		return
	}
	if cs := sc.clusters[key]; cs != nil {
		for _, n := range names {
			delete(cs.secrets, n)
		}
	}
}

// forgetCluster drops everything of the cluster key: it is gone.
func (sc *secretCache) forgetCluster(key string) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	delete(sc.clusters, key)
}

// secretStamp changes whenever what the certificates must be does: the
// spec, or a renewal or CA rotation request.
func secretStamp(c *etcdv1alpha1.EtcdCluster) string {
	return fmt.Sprintf("%d;%s;%s", c.Generation,
		c.Annotations[resources.AnnotationRenewCertificates], c.Annotations[resources.AnnotationRotateCA])
}
