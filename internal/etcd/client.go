package etcd

import (
	"context"
	"crypto/tls"
	"fmt"
)

// Member is one etcd member as the member list reports it.
type Member struct {
	ID         uint64
	Name       string // empty until the member has started once
	PeerURLs   []string
	ClientURLs []string
	IsLearner  bool
}

// IDHex is the member ID as etcdctl prints it.
func (m Member) IDHex() string { return fmt.Sprintf("%x", m.ID) }

// MemberStatus is what one member says of itself.
type MemberStatus struct {
	MemberID  uint64
	ClusterID uint64
	Leader    uint64
	Version   string
	DBSize    int64
	// DBSizeInUse is how much of the database file holds data; the rest
	// is free pages a defragmentation gives back to the filesystem.
	DBSizeInUse int64
	Revision    int64
	RaftIndex   uint64 // the last raft entry the member has
	Applied     uint64 // the last raft entry it has applied to its store
	IsLearner   bool
	// Errors are what the member reports as wrong with itself ("etcdserver:
	// no leader"). Cluster alarms are not among them: see Alarms.
	Errors []string
	// Alarms are the cluster's raised alarms as this member reports them.
	// etcd lists them among a status answer's errors on every member; they
	// say the cluster refuses writes (NOSPACE) or found corruption, not
	// that this member is unhealthy.
	Alarms []Alarm
	// StorageVersion is the data's schema version (3.6+; empty before).
	StorageVersion string
	// DowngradeTarget is the minor version a downgrade is enabled to
	// ("3.5"), empty when none is (3.6+).
	DowngradeTarget string
}

// Alarm types etcd raises.
const (
	AlarmNoSpace = "NOSPACE"
	AlarmCorrupt = "CORRUPT"
)

// Alarm is one raised alarm: its type and the member that raised it.
type Alarm struct {
	MemberID uint64
	Type     string
}

// Client is what the controllers ask of one etcd cluster.
type Client interface {
	// MemberList lists the cluster's members, as the member answering sees
	// them.
	MemberList(ctx context.Context) ([]Member, error)
	// Status asks the member at endpoint about itself.
	Status(ctx context.Context, endpoint string) (*MemberStatus, error)
	// AddLearner adds a non-voting member with the given peer URL. It is a
	// no-op that returns the existing member when the URL is listed already.
	AddLearner(ctx context.Context, peerURL string) (*Member, error)
	// Promote makes a learner a voting member; etcd refuses while the
	// learner has not caught up with the leader.
	Promote(ctx context.Context, id uint64) error
	// Remove removes a member; a member already gone is not an error.
	Remove(ctx context.Context, id uint64) error
	// MoveLeader asks the leader, reached at leaderEndpoint, to hand
	// leadership to the member transferee.
	MoveLeader(ctx context.Context, leaderEndpoint string, transferee uint64) error
	// EnableDowngrade validates and then enables a cluster downgrade to
	// the minor version target ("3.5"): etcd lowers the cluster and storage
	// versions, after which members may be restarted on the older release.
	EnableDowngrade(ctx context.Context, target string) error
	// Compact discards the key-value history before revision, cluster-wide.
	// A revision compacted already is not an error.
	Compact(ctx context.Context, revision int64) error
	// Defragment rewrites the database of the member at endpoint without its
	// free pages. The member serves nothing while it runs, which takes
	// about as long as writing its data once.
	Defragment(ctx context.Context, endpoint string) error
	// DisarmAlarm clears an alarm the member with that ID raised.
	DisarmAlarm(ctx context.Context, alarm Alarm) error
	// Close releases the connections.
	Close() error
}

// ClientFactory opens a Client to the cluster named cluster
// ("namespace/name") through the given endpoints (client URLs of its
// members), with TLS when tlsConfig is not nil. The real client needs only
// the endpoints; the name lets a fake answer for each cluster on its own.
type ClientFactory func(ctx context.Context, cluster string, endpoints []string, tlsConfig *tls.Config) (Client, error)
