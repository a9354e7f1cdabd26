package backup

import (
	"errors"
	"strings"
	"testing"
)

// voter is a healthy voting member that follows leader 1 and has applied
// index applied.
func voter(name string, id uint64, applied uint64) member {
	return member{Name: name, ID: id, URL: "http://" + name + ":2379", Leader: 1, Applied: applied, Version: "3.6.16", Revision: 100}
}

func candidateNames(ms []member) string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Name)
	}
	return strings.Join(out, ",")
}

func TestCandidatesAreHealthyVotersThatFollowTheMajorityLeaderAndAreCaughtUp(t *testing.T) {
	learner := voter("m3", 4, 5000)
	learner.Learner = true
	withErrors := voter("m4", 5, 5000)
	withErrors.Errors = []string{"etcdserver: no leader"}
	otherLeader := voter("m5", 6, 5000)
	otherLeader.Leader = 6
	behind := voter("m6", 7, 5000-maxAppliedLag-1)
	unreachable := member{Name: "m7", ID: 8, URL: "http://m7:2379", StatusErr: errors.New("context deadline exceeded")}
	noRead := voter("m8", 9, 5000)
	noRead.ReadErr = errors.New("context deadline exceeded")
	members := []member{
		voter("m0", 1, 5000), // the leader
		voter("m2", 3, 5000-maxAppliedLag),
		voter("m1", 2, 4999),
		learner, withErrors, otherLeader, behind, unreachable, noRead,
	}

	ok, rejected := candidates(members)
	if got := candidateNames(ok); got != "m1,m2,m0" {
		t.Errorf("candidates %s, want the caught-up followers by name, then the leader: m1,m2,m0", got)
	}
	want := []string{
		"m3: is a learner",
		"m4: reports errors: etcdserver: no leader",
		"m5: follows leader 6, the majority follows 1",
		"m6: has applied raft index 3999, 1001 entries behind the leader",
		"m7: did not answer: context deadline exceeded",
		"m8: cannot serve a linearizable read: context deadline exceeded",
	}
	if strings.Join(rejected, "\n") != strings.Join(want, "\n") {
		t.Errorf("rejected:\n%s\nwant:\n%s", strings.Join(rejected, "\n"), strings.Join(want, "\n"))
	}
}

func TestNoCandidateWithoutALeaderAMajorityFollows(t *testing.T) {
	// Two of five voters follow 1, two follow 4, one does not answer: a
	// minority's leader is no leader, even if it says it leads.
	m := []member{voter("m0", 1, 10), voter("m1", 2, 10), voter("m2", 3, 10), voter("m3", 4, 10),
		{Name: "m4", ID: 5, URL: "http://m4:2379", StatusErr: errors.New("connection refused")}}
	m[2].Leader, m[3].Leader = 4, 4
	ok, rejected := candidates(m)
	if len(ok) != 0 {
		t.Fatalf("candidates %s without a majority leader", candidateNames(ok))
	}
	if !strings.Contains(strings.Join(rejected, ";"), "m0: no leader is followed by a majority of the voting members") {
		t.Errorf("rejected %v", rejected)
	}
}

func TestALeaderMustSayItLeads(t *testing.T) {
	// Both voters name 1, but 1 itself now follows 2: the view is stale.
	m := []member{voter("m0", 1, 10), voter("m1", 2, 10)}
	m[0].Leader = 2
	if ok, _ := candidates(m); len(ok) != 0 {
		t.Fatalf("candidates %s although the named leader does not lead", candidateNames(ok))
	}
}

func TestLearnersDoNotCountTowardsTheMajority(t *testing.T) {
	// One voter of three follows 1; two learners following 1 do not make
	// that a majority.
	m := []member{voter("m0", 1, 10), voter("m1", 2, 10), voter("m2", 3, 10), voter("m3", 4, 10), voter("m4", 5, 10)}
	m[1].StatusErr, m[2].StatusErr = errors.New("down"), errors.New("down")
	m[3].Learner, m[4].Learner = true, true
	if ok, _ := candidates(m); len(ok) != 0 {
		t.Fatalf("candidates %s with one voter of three answering", candidateNames(ok))
	}
}

func TestASingleMemberIsItsOwnLeader(t *testing.T) {
	if ok, _ := candidates([]member{voter("m0", 1, 10)}); candidateNames(ok) != "m0" {
		t.Fatalf("candidates %s, want m0", candidateNames(ok))
	}
}

func TestANoSpaceAlarmDoesNotDisqualifyButCorruptionDoes(t *testing.T) {
	full, corrupt := voter("m0", 1, 10), voter("m0", 1, 10)
	full.Errors = []string{"memberID:10276657743932975437 alarm:NOSPACE "}
	corrupt.Errors = []string{"memberID:10276657743932975437 alarm:CORRUPT "}
	if ok, rejected := candidates([]member{full}); len(ok) != 1 {
		t.Errorf("a cluster out of space cannot be backed up: %v", rejected)
	}
	if ok, _ := candidates([]member{corrupt}); len(ok) != 0 {
		t.Errorf("a member with a CORRUPT alarm was chosen")
	}
}
