package etcd

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Describe is err as status may say it: the same failure reads the same
// from one pass to the next. The client tries members in an order that
// follows their last answers, and gRPC words one refused dial several
// ways; said raw, every pass over a cluster that is forming or has lost
// quorum would write a new condition message (17 status writes per cluster
// while 20 clusters formed on the local cluster, where 1 was needed). Each
// member's error is cut to what happened (refused, no answer in time, what
// etcd said), and the members are listed in address order.
func Describe(err error) string {
	if err == nil {
		return ""
	}
	var prefix string
	if outer := errors.Unwrap(err); outer != nil {
		if _, ok := outer.(interface{ Unwrap() []error }); ok {
			prefix = strings.TrimSuffix(err.Error(), outer.Error())
			err = outer
		}
	}
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return prefix + describeOne(err)
	}
	var parts []string
	for _, e := range joined.Unwrap() {
		parts = append(parts, describeOne(e))
	}
	slices.Sort(parts)
	return prefix + strings.Join(parts, "; ")
}

// describeOne keeps an endpoint's "<url>: " prefix, and says its error by
// kind.
func describeOne(err error) string {
	text := err.Error()
	var endpoint string
	if inner := errors.Unwrap(err); inner != nil && strings.HasSuffix(text, ": "+inner.Error()) {
		endpoint = strings.TrimSuffix(text, inner.Error())
	}
	return endpoint + errorKind(err)
}

// errorKind names what went wrong, without the parts that vary from one
// try to the next (addresses of the dial, gRPC's wording).
func errorKind(err error) string {
	var etcdErr rpctypes.EtcdError
	if errors.As(err, &etcdErr) {
		return etcdErr.Error()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "no answer in time"
	}
	s, ok := status.FromError(err)
	if !ok {
		return err.Error()
	}
	msg := s.Message()
	switch {
	case strings.Contains(msg, "connection refused"):
		return "connection refused"
	case strings.Contains(msg, "no route to host"), strings.Contains(msg, "network is unreachable"):
		return "no route to the member"
	case strings.Contains(msg, "certificate"), strings.Contains(msg, "tls:"), strings.Contains(msg, "x509"):
		return "TLS handshake failed: " + lastClause(msg)
	case s.Code() == codes.DeadlineExceeded:
		return "no answer in time"
	case s.Code() == codes.Unavailable:
		return "unavailable"
	}
	return fmt.Sprintf("%s: %s", s.Code(), msg)
}

// lastClause is the end of a chain of "a: b: c" messages, where the cause
// is.
func lastClause(msg string) string {
	msg = strings.TrimRight(msg, `"`)
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		return msg[i+2:]
	}
	return msg
}
