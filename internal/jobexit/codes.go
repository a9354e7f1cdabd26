package jobexit

const (
	// OK: the command did its work.
	OK = 0
	// Retry: a failure a later attempt may not meet (a store or member
	// that could not be reached).
	Retry = 1
	// Permanent: a failure every attempt would meet (a bad argument, a
	// snapshot that does not match what was recorded).
	Permanent = 2
)
