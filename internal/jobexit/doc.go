// Package jobexit holds the exit codes of the commands the operator runs
// in Jobs (`manager backup`, `manager verify`, the snapshot delete) and
// what each means to the Jobs' pod failure policy (internal/resources):
// Permanent fails the Job at once, since a retry would meet the same
// failure; any other failure is retried with the Job controller's backoff.
// The commands and the policy must agree on these numbers, so they live
// in one place.
package jobexit
