package backup

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Result is what a finished backup reports; the operator copies it into
// the EtcdBackup's status.
type Result struct {
	Location    string `json:"location"`
	SizeBytes   int64  `json:"sizeBytes"`
	SHA256      string `json:"sha256"`
	Revision    int64  `json:"revision"`
	EtcdVersion string `json:"etcdVersion"`
	// Member and MemberID name the member the snapshot was read from.
	Member   string `json:"member,omitempty"`
	MemberID string `json:"memberID,omitempty"`
	// KVHash is the member's HashKV at Revision, asked right after the
	// snapshot; nil when it could not be had (see kvHashAt).
	KVHash    *KVHash   `json:"kvHash,omitempty"`
	StartTime time.Time `json:"startTime"`
	EndTime   time.Time `json:"endTime"`
}

// Sink writes a snapshot stream somewhere. Put must leave nothing that
// looks complete unless it returns nil. Delete removes the snapshot; one
// already gone is not an error.
type Sink interface {
	Put(ctx context.Context, r io.Reader) (location string, err error)
	Delete(ctx context.Context) (location string, err error)
}

// PermanentError is a failure a retry cannot fix (a missing bucket, wrong
// credentials); the command exits with a distinct code so the Job stops.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// IsPermanent says whether err is a PermanentError.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// probeTimeout bounds each question to a single member. A member cut off
// from the leader cannot serve a linearizable read and is passed over
// once it runs out.
const probeTimeout = 5 * time.Second

// Take snapshots the cluster that the member at endpoint belongs to; see
// TakeFrom.
func Take(ctx context.Context, endpoint string, tlsConfig *tls.Config, sink Sink) (Result, error) {
	return TakeFrom(ctx, []string{endpoint}, tlsConfig, sink)
}

// TakeFrom streams into sink a snapshot that holds every write the
// cluster acknowledged before the backup began. endpoints are client URLs
// of any of its members (over TLS when tlsConfig is not nil); the members
// are found through them.
//
// The member to read from is checked at the time of the snapshot, not
// taken from a status that may be stale: every member is probed (status
// and a linearizable read), the highest revision a linearizable read
// returned is the least the snapshot must hold, and the chosen member
// (see candidates) serves a linearizable read on its own connection
// right before the snapshot, which proves that it follows the leader of
// a quorum and has applied at least that revision. etcd commits the
// member's pending writes before it starts the snapshot, so the snapshot
// holds that revision. If no member passes, nothing is written.
func TakeFrom(ctx context.Context, endpoints []string, tlsConfig *tls.Config, sink Sink) (Result, error) {
	start := time.Now().UTC()
	members, err := listMembers(ctx, endpoints, tlsConfig)
	if err != nil {
		return Result{}, err
	}
	clients := dialMembers(members, tlsConfig)
	defer closeAll(clients)
	probeAll(ctx, members, clients)

	least := highestReadRevision(members)
	if least == 0 {
		return Result{}, fmt.Errorf("%w: none could serve a linearizable read, so the cluster has no quorum or cannot be reached: %s",
			ErrNoMember, strings.Join(reasonsNotRead(members), "; "))
	}
	ok, rejected := candidates(members)
	for _, m := range ok {
		rev, err := readAt(ctx, clients[m.ID], m, least)
		if err != nil {
			rejected = append(rejected, fmt.Sprintf("%s: %v", m.label(), err))
			continue
		}
		res := Result{StartTime: start, Revision: rev, EtcdVersion: m.Version, Member: m.Name, MemberID: fmt.Sprintf("%x", m.ID)}
		return stream(ctx, clients[m.ID], m, res, sink)
	}
	return Result{}, fmt.Errorf("%w (writes up to revision %d were acknowledged): %s", ErrNoMember, least, strings.Join(rejected, "; "))
}

// listMembers asks the members at endpoints for the member list. It is the
// answering member's own view (serializable), so a member cut off from the
// rest still names the others; nothing else is trusted to it.
func listMembers(ctx context.Context, endpoints []string, tlsConfig *tls.Config) ([]member, error) {
	cli, err := newClient(endpoints, tlsConfig)
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	listCtx, cancel := context.WithTimeout(ctx, 2*probeTimeout)
	defer cancel()
	resp, err := cli.MemberList(listCtx, clientv3.WithSerializable())
	if err != nil {
		return nil, fmt.Errorf("list the members through %s: %w", strings.Join(endpoints, ","), err)
	}
	members := make([]member, 0, len(resp.Members))
	for _, m := range resp.Members {
		mm := member{Name: m.Name, ID: m.ID, Learner: m.IsLearner}
		if len(m.ClientURLs) > 0 {
			mm.URL = m.ClientURLs[0]
		}
		members = append(members, mm)
	}
	slices.SortFunc(members, func(a, b member) int { return strings.Compare(a.Name, b.Name) })
	return members, nil
}

// dialMembers opens a client to each started member, by its own URL only,
// so that every call, the snapshot included, goes to that member.
func dialMembers(members []member, tlsConfig *tls.Config) map[uint64]*clientv3.Client {
	clients := map[uint64]*clientv3.Client{}
	for i := range members {
		if members[i].URL == "" {
			continue
		}
		cli, err := newClient([]string{members[i].URL}, tlsConfig)
		if err != nil {
			members[i].StatusErr = err
			continue
		}
		clients[members[i].ID] = cli
	}
	return clients
}

// probeAll asks every member, at once, for its status and for a
// linearizable read.
func probeAll(ctx context.Context, members []member, clients map[uint64]*clientv3.Client) {
	var wg sync.WaitGroup
	for i := range members {
		cli := clients[members[i].ID]
		if cli == nil {
			continue
		}
		wg.Go(func() { probe(ctx, cli, &members[i]) })
	}
	wg.Wait()
}

func probe(ctx context.Context, cli *clientv3.Client, m *member) {
	statusCtx, cancel := context.WithTimeout(ctx, probeTimeout)
	st, err := cli.Status(statusCtx, m.URL)
	cancel()
	if err != nil {
		m.StatusErr = err
		return
	}
	m.Leader, m.Applied, m.IsLearner, m.Errors, m.Version = st.Leader, st.RaftAppliedIndex, st.IsLearner, st.Errors, st.Version
	m.Revision, m.ReadErr = linearizableRead(ctx, cli, m.ID)
}

// linearizableRead reads through the member; etcd serves it only after
// the leader confirmed its leadership with a quorum and the member applied
// everything committed up to then. It returns the revision read, and
// checks that the member answering is the one expected (a name may point
// at a replaced member).
func linearizableRead(ctx context.Context, cli *clientv3.Client, id uint64) (int64, error) {
	// Fail at once on a member without a leader instead of at the timeout.
	readCtx, cancel := context.WithTimeout(clientv3.WithRequireLeader(ctx), probeTimeout)
	defer cancel()
	// The key etcdctl's endpoint health reads; whether it exists does not
	// matter, only the revision in the answer's header.
	resp, err := cli.Get(readCtx, "health", clientv3.WithCountOnly())
	if err != nil {
		return 0, err
	}
	if resp.Header.MemberId != id {
		return 0, fmt.Errorf("member %x answered instead", resp.Header.MemberId)
	}
	return resp.Header.Revision, nil
}

func highestReadRevision(members []member) int64 {
	var rev int64
	for _, m := range members {
		if m.StatusErr == nil && m.ReadErr == nil {
			rev = max(rev, m.Revision)
		}
	}
	return rev
}

func reasonsNotRead(members []member) []string {
	var out []string
	for _, m := range members {
		switch {
		case m.URL == "":
			out = append(out, m.label()+": has not started")
		case m.StatusErr != nil:
			out = append(out, fmt.Sprintf("%s: status: %v", m.label(), m.StatusErr))
		case m.ReadErr != nil:
			out = append(out, fmt.Sprintf("%s: linearizable read: %v", m.label(), m.ReadErr))
		}
	}
	return out
}

// readAt checks the chosen member once more, right before the snapshot:
// it must still serve a linearizable read, at a revision no lower than
// least. It returns that revision, which the snapshot then holds.
func readAt(ctx context.Context, cli *clientv3.Client, m member, least int64) (int64, error) {
	rev, err := linearizableRead(ctx, cli, m.ID)
	if err != nil {
		return 0, fmt.Errorf("cannot serve a linearizable read: %w", err)
	}
	if rev < least {
		return 0, fmt.Errorf("read revision %d, below the %d the cluster acknowledged", rev, least)
	}
	return rev, nil
}

// stream copies the member's snapshot through a SHA-256 and a byte counter
// into sink.
func stream(ctx context.Context, cli *clientv3.Client, m member, res Result, sink Sink) (Result, error) {
	snap, err := cli.SnapshotWithVersion(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("start snapshot from %s: %w", m.label(), err)
	}
	defer snap.Snapshot.Close()

	digest := sha256.New()
	counted := &countingReader{r: io.TeeReader(snap.Snapshot, digest)}
	if res.Location, err = sink.Put(ctx, counted); err != nil {
		return Result{}, err
	}
	res.SizeBytes = counted.n
	res.SHA256 = hex.EncodeToString(digest.Sum(nil))
	// The snapshot is safe in the sink; a missing hash only leaves a later
	// verification less to compare, so it does not fail the backup.
	if res.KVHash, err = kvHashAt(ctx, cli, m.URL, res.Revision); err != nil {
		fmt.Printf("no HashKV recorded: %v\n", err)
	}
	res.EndTime = time.Now().UTC()
	return res, nil
}

func newClient(endpoints []string, tlsConfig *tls.Config) (*clientv3.Client, error) {
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 10 * time.Second, TLS: tlsConfig, Logger: zap.NewNop()})
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", strings.Join(endpoints, ","), err)
	}
	return cli, nil
}

func closeAll(clients map[uint64]*clientv3.Client) {
	for _, c := range clients {
		c.Close()
	}
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
