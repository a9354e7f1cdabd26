package etcd

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func refused(ip string) error {
	return status.Error(codes.Unavailable, fmt.Sprintf(`connection error: desc = "transport: Error while dialing: dial tcp %s:2379: connect: connection refused"`, ip))
}

func listErr(errs ...error) error {
	return fmt.Errorf("list etcd members: %w", errors.Join(errs...))
}

func atEndpoint(ip string, err error) error {
	return fmt.Errorf("http://%s:2379: %w", ip, err)
}

// The same members failing the same way read the same, whatever order the
// client tried them in and however gRPC worded the dial.
func TestDescribeIsStableAcrossPasses(t *testing.T) {
	a := listErr(atEndpoint("10.0.0.2", refused("10.0.0.2")), atEndpoint("10.0.0.1", refused("10.0.0.1")))
	b := listErr(atEndpoint("10.0.0.1", refused("10.0.0.1")), atEndpoint("10.0.0.2", refused("10.0.0.2")))
	if Describe(a) != Describe(b) {
		t.Fatalf("two passes over the same failure read differently:\n%s\n%s", Describe(a), Describe(b))
	}
	want := "list etcd members: http://10.0.0.1:2379: connection refused; http://10.0.0.2:2379: connection refused"
	if got := Describe(a); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestDescribeSaysWhatHappened(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{nil, ""},
		{errors.New("no member pod has an IP yet"), "no member pod has an IP yet"},
		{listErr(atEndpoint("10.0.0.1", rpctypes.ErrNoLeader)), "list etcd members: http://10.0.0.1:2379: etcdserver: no leader"},
		{listErr(atEndpoint("10.0.0.1", status.Error(codes.DeadlineExceeded, "context deadline exceeded"))), "list etcd members: http://10.0.0.1:2379: no answer in time"},
		{fmt.Errorf("status of etcd member at http://10.0.0.1:2379: %w", context.DeadlineExceeded), "status of etcd member at http://10.0.0.1:2379: no answer in time"},
		{listErr(atEndpoint("10.0.0.1", status.Error(codes.Unavailable, `connection error: desc = "transport: authentication handshake failed: tls: failed to verify certificate: x509: certificate signed by unknown authority"`))),
			"list etcd members: http://10.0.0.1:2379: TLS handshake failed: certificate signed by unknown authority"},
		{listErr(atEndpoint("10.0.0.1", status.Error(codes.Unavailable, "error reading from server: EOF"))), "list etcd members: http://10.0.0.1:2379: unavailable"},
	}
	for _, tt := range tests {
		if got := Describe(tt.err); got != tt.want {
			t.Errorf("Describe(%v)\n got %q\nwant %q", tt.err, got, tt.want)
		}
	}
}
