package etcd

import (
	"errors"
	"fmt"
	"testing"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

func TestIsNotYet(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("promote etcd learner 5: %w", rpctypes.ErrMemberLearnerNotReady), true},
		{fmt.Errorf("add etcd learner http://m-3:2380: %w", rpctypes.ErrUnhealthy), true},
		// As the client returns them: gRPC status errors, not the typed ones.
		{fmt.Errorf("add etcd learner: %w", rpctypes.ErrGRPCUnhealthy), true},
		{fmt.Errorf("promote: %w", rpctypes.ErrGRPCLearnerNotReady), true},
		{fmt.Errorf("remove etcd member 3: %w", rpctypes.ErrMemberNotFound), false},
		{errors.New("context deadline exceeded"), false},
		{nil, false},
	}
	for _, tt := range tests {
		if got := IsNotYet(tt.err); got != tt.want {
			t.Errorf("IsNotYet(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}
