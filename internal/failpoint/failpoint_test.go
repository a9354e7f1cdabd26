package failpoint

import (
	"slices"
	"testing"
)

func TestHitStopsOnlyAtArmedPoints(t *testing.T) {
	var hit []string
	s := Parse(" AddLearner, ,RemoveMember", func(p string) { hit = append(hit, p) })
	for _, p := range []string{"Promote", "AddLearner", "RaiseReplicas", "RemoveMember"} {
		s.Hit(p)
	}
	if want := []string{"AddLearner", "RemoveMember"}; !slices.Equal(hit, want) {
		t.Fatalf("hit %v, want %v", hit, want)
	}
}

func TestZeroSetNeverStops(t *testing.T) {
	var s Set
	s.Hit("AddLearner") // must not panic or exit
	if len(s.Armed()) != 0 {
		t.Fatalf("zero set armed %v", s.Armed())
	}
}
