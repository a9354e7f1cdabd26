package failpoint

import (
	"os"
	"strings"
)

// EnvVar names the points, comma-separated, at which the process exits.
const EnvVar = "QUORUM_FAILPOINTS"

// ExitCode is what the process exits with at a failpoint, so a test can
// tell it from a crash.
const ExitCode = 86

// Set is the failpoints that are armed; the zero Set has none.
type Set struct {
	armed map[string]bool
	exit  func(point string)
}

// FromEnv arms the points QUORUM_FAILPOINTS names. exit is called at an
// armed point and must not return (the manager passes a function that
// logs and exits).
func FromEnv(exit func(point string)) Set {
	return Parse(os.Getenv(EnvVar), exit)
}

// Parse arms the comma-separated points in spec.
func Parse(spec string, exit func(point string)) Set {
	s := Set{armed: map[string]bool{}, exit: exit}
	for p := range strings.SplitSeq(spec, ",") {
		if p = strings.TrimSpace(p); p != "" {
			s.armed[p] = true
		}
	}
	return s
}

// Hit stops the process if point is armed.
func (s Set) Hit(point string) {
	if s.armed[point] && s.exit != nil {
		s.exit(point)
	}
}

// Armed lists the armed points, for the start-up log.
func (s Set) Armed() []string {
	out := make([]string, 0, len(s.armed))
	for p := range s.armed {
		out = append(out, p)
	}
	return out
}
