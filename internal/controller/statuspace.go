package controller

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
)

// counterRefresh is how often status is written when only the members'
// revisions and database sizes moved: every write to etcd moves them, and
// writing status for each would make a busy cluster cost an API write per
// pass. Any other change is written at once. Prometheus has the live
// figures.
const counterRefresh = 5 * time.Minute

// onlyCountersChanged says whether next differs from stored only in the
// members' revisions and database sizes.
func onlyCountersChanged(stored, next etcdv1alpha1.EtcdClusterStatus) bool {
	if len(stored.Members) != len(next.Members) {
		return false
	}
	masked := *next.DeepCopy()
	for i := range masked.Members {
		masked.Members[i].Revision = stored.Members[i].Revision
		masked.Members[i].DBSizeBytes = stored.Members[i].DBSizeBytes
	}
	return equality.Semantic.DeepEqual(stored, masked)
}

// statusPacer remembers when each cluster's status was last written.
type statusPacer struct {
	mu   sync.Mutex
	last map[string]time.Time
}

// due says whether a counters-only write of the cluster key may go now.
func (p *statusPacer) due(key string, now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	last, ok := p.last[key]
	return !ok || now.Sub(last) >= counterRefresh
}

func (p *statusPacer) wrote(key string, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.last == nil {
		p.last = map[string]time.Time{}
	}
	p.last[key] = now
}

func (p *statusPacer) forget(key string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.last, key)
}
