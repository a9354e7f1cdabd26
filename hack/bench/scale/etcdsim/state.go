package etcdsim

import (
	"math/rand/v2"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Sick modes: how a cluster's members fail to answer.
const (
	Healthy = ""
	// Hang accepts connections and never answers, as a frozen member or a
	// dropped network does: every call waits out its deadline.
	Hang = "hang"
	// Refuse closes the members' listeners: connections are refused at once.
	Refuse = "refuse"
)

// member is one etcd member of a simulated cluster.
type member struct {
	id      uint64
	name    string // set once its pod has run
	host    string // pod name, from its peer URL
	peerURL string
	learner bool
}

// pod is what the simulator knows of one member pod.
type pod struct {
	ip      string
	running bool
	version string // from the image tag
}

// cluster is one EtcdCluster's simulated etcd.
type cluster struct {
	key      string // namespace/name
	ns, name string
	id       uint64
	members  []*member
	leader   uint64
	pods     map[string]pod // by pod name
	sick     string
	// secret is the member TLS Secret; empty without TLS.
	secret   string
	revision int64
	raft     uint64
	// calls are the membership changes, in order.
	calls []Call
	// lastList is when the member list was last read.
	lastList time.Time
	// conns counts connections to its members.
	conns int64
}

// Call is one membership change a cluster received.
type Call struct {
	Time   time.Time `json:"time"`
	Method string    `json:"method"`
}

// state is every simulated cluster, guarded by one mutex: calls are short.
type state struct {
	mu       sync.Mutex
	clusters map[string]*cluster
	byIP     map[string]*cluster
}

func newState() *state {
	return &state{clusters: map[string]*cluster{}, byIP: map[string]*cluster{}}
}

func (s *state) cluster(ns, name string) *cluster {
	key := ns + "/" + name
	c := s.clusters[key]
	if c == nil {
		c = &cluster{key: key, ns: ns, name: name, id: newID(), pods: map[string]pod{}, revision: 1, raft: 10}
		s.clusters[key] = c
	}
	return c
}

func newID() uint64 {
	for {
		if id := rand.Uint64(); id != 0 {
			return id
		}
	}
}

// hostOf is the pod name in a peer URL (<pod>.<cluster>-peer.<ns>.svc).
func hostOf(peerURL string) string {
	u, err := url.Parse(peerURL)
	if err != nil {
		return ""
	}
	h, _, _ := strings.Cut(u.Hostname(), ".")
	return h
}

// bootstrap makes the initial members from ETCD_INITIAL_CLUSTER
// (name=peerURL,...), as a new cluster's first member does.
func (c *cluster) bootstrap(initial string) {
	for _, part := range strings.Split(initial, ",") {
		name, peer, ok := strings.Cut(part, "=")
		if !ok {
			continue
		}
		c.members = append(c.members, &member{id: newID(), host: name, peerURL: peer})
	}
}

// up says whether the member's pod runs.
func (c *cluster) up(m *member) bool {
	return c.pods[m.host].running
}

// settle names started members and picks a leader among started voters
// when there is none, as long as a quorum of voters runs.
func (c *cluster) settle() {
	voters, upVoters := 0, 0
	for _, m := range c.members {
		if c.up(m) && m.name == "" {
			m.name = m.host
		}
		if !m.learner {
			voters++
			if c.up(m) {
				upVoters++
			}
		}
	}
	if upVoters < voters/2+1 {
		c.leader = 0
		return
	}
	if l := c.byID(c.leader); l != nil && !l.learner && c.up(l) {
		return
	}
	for _, m := range c.members {
		if !m.learner && c.up(m) {
			c.leader = m.id
			return
		}
	}
}

func (c *cluster) byID(id uint64) *member {
	for _, m := range c.members {
		if m.id == id {
			return m
		}
	}
	return nil
}

// memberAt is the member whose pod has this IP.
func (c *cluster) memberAt(ip string) *member {
	for name, p := range c.pods {
		if p.ip == ip && p.running {
			for _, m := range c.members {
				if m.host == name {
					return m
				}
			}
		}
	}
	return nil
}

func (c *cluster) version(ip string) string {
	for _, p := range c.pods {
		if p.ip == ip && p.version != "" {
			return p.version
		}
	}
	return "3.6.16"
}

func (c *cluster) record(method string) {
	c.calls = append(c.calls, Call{Time: time.Now(), Method: method})
	c.revision++
	c.raft++
}
