// Package failpoint stops the operator at named points, so tests can prove
// that a restart there converges. It is off unless QUORUM_FAILPOINTS names
// points; production deployments never set it.
package failpoint
