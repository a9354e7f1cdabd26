package main

import (
	"testing"
	"time"
)

// The idle bound tells a cluster looked at every 30 s from one looked at
// every 10 s, whatever the window.
func TestIdleRPCBoundSeparatesSteadyFromPolling(t *testing.T) {
	for _, window := range []time.Duration{35 * time.Second, time.Minute, 5 * time.Minute} {
		bound := idleRPCBound(window)
		steadyWorst := 4 * (window.Seconds()/30 + 1) / window.Seconds()
		polling := 4.0 / 10
		if steadyWorst > bound || polling <= bound {
			t.Errorf("window %s: bound %.3f, steady at worst %.3f, a 10 s poll %.3f", window, bound, steadyWorst, polling)
		}
	}
}
