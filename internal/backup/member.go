package backup

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/quorum-operator/quorum/internal/etcd"
)

// ErrNoMember is returned, wrapped with the reasons, when no member of the
// cluster can be trusted with the snapshot now. It is not permanent: the
// Job tries again after its backoff, and the cluster may have healed.
var ErrNoMember = errors.New("no member of the cluster can be read from")

// maxAppliedLag is how many raft entries a member's applied index may
// trail the leader's for the backup to read from it; as far as the
// operator lets a member fall behind before a restart.
const maxAppliedLag = 1000

// member is one etcd member as the backup sees it just before the
// snapshot: what the member list says of it and what it answered when
// probed.
type member struct {
	Name    string
	ID      uint64
	URL     string // its client URL; empty for a member that never started
	Learner bool   // in the member list

	// StatusErr says why the member did not answer its status call; the
	// fields below it are its answer.
	StatusErr error
	Leader    uint64 // the leader it follows; 0 for none
	Applied   uint64 // the last raft entry applied to its store
	IsLearner bool   // what the member says of itself
	Errors    []string
	Version   string

	// ReadErr says why the member could not serve a linearizable read;
	// Revision is the revision that read returned.
	ReadErr  error
	Revision int64
}

// candidates orders the members a snapshot may be read from: voters that
// report no errors, follow the leader a majority of the voters follow,
// have applied nearly all the leader has, and served a linearizable read
// just now (so they are connected to that leader). Followers come first,
// to keep the snapshot's load off the leader; the leader is last. It also
// says why each other member was passed over.
func candidates(members []member) (ok []member, rejected []string) {
	leader, found := currentLeader(members)
	var leaderApplied uint64
	for _, m := range members {
		if m.ID == leader {
			leaderApplied = m.Applied
		}
	}
	var followers, leaders []member
	for _, m := range members {
		why := unfit(m, leader, found, leaderApplied)
		switch {
		case why != "":
			rejected = append(rejected, fmt.Sprintf("%s: %s", m.label(), why))
		case m.ID == leader:
			leaders = append(leaders, m)
		default:
			followers = append(followers, m)
		}
	}
	sort.SliceStable(followers, func(i, j int) bool { return followers[i].Name < followers[j].Name })
	return append(followers, leaders...), rejected
}

// unfit says why a snapshot must not be read from m, or "" if it may.
func unfit(m member, leader uint64, leaderFound bool, leaderApplied uint64) string {
	switch {
	case m.URL == "":
		return "has not started (no client URL)"
	case m.Learner || (m.StatusErr == nil && m.IsLearner):
		return "is a learner"
	case m.StatusErr != nil:
		return fmt.Sprintf("did not answer: %v", m.StatusErr)
	case len(ownErrors(m.Errors)) > 0:
		return "reports errors: " + strings.Join(ownErrors(m.Errors), ", ")
	case !leaderFound:
		return "no leader is followed by a majority of the voting members"
	case m.Leader != leader:
		return fmt.Sprintf("follows leader %x, the majority follows %x", m.Leader, leader)
	case leaderApplied > m.Applied+maxAppliedLag:
		return fmt.Sprintf("has applied raft index %d, %d entries behind the leader", m.Applied, leaderApplied-m.Applied)
	case m.ReadErr != nil:
		return fmt.Sprintf("cannot serve a linearizable read: %v", m.ReadErr)
	}
	return ""
}

// currentLeader is the leader that a majority of the voting members in the
// list follow and that, answering itself, says it leads. A member cut off
// from its peers may still name the leader it last heard from; it is one
// voice, never a majority.
func currentLeader(members []member) (uint64, bool) {
	voters, votes := 0, map[uint64]int{}
	for _, m := range members {
		if m.Learner {
			continue
		}
		voters++
		if m.StatusErr == nil && m.Leader != 0 {
			votes[m.Leader]++
		}
	}
	for id, n := range votes {
		if n < voters/2+1 {
			continue
		}
		for _, m := range members {
			if m.ID == id && !m.Learner && m.StatusErr == nil && m.Leader == id {
				return id, true
			}
		}
	}
	return 0, false
}

// ownErrors drops the NOSPACE alarm from a member's errors. Every member
// reports it while the cluster is out of space, and a cluster that takes
// no more writes still holds all of its data: that is when a backup is
// needed most. Any other error (no leader, a CORRUPT alarm) disqualifies
// the member.
func ownErrors(statusErrors []string) []string {
	out, alarms := etcd.SplitAlarms(statusErrors)
	for _, a := range alarms {
		if a.Type != etcd.AlarmNoSpace {
			out = append(out, fmt.Sprintf("alarm %s raised by member %x", a.Type, a.MemberID))
		}
	}
	return out
}

func (m member) label() string {
	if m.Name != "" {
		return m.Name
	}
	return fmt.Sprintf("member %x", m.ID)
}
