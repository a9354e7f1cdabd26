package etcd_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/quorum-operator/quorum/internal/etcd"
	"github.com/quorum-operator/quorum/internal/testservers"
)

// A real etcd over its quota raises NOSPACE and lists it among the status
// errors; the client reports it as an alarm, not as the member's own error,
// and can disarm it once the quota allows.
func TestNoSpaceAlarmIsNotAMemberError(t *testing.T) {
	url, raw := testservers.Etcd(t, t.TempDir(), "--quota-backend-bytes", "1048576")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	value := strings.Repeat("x", 64*1024)
	var putErr error
	for i := 0; i < 200 && putErr == nil; i++ {
		_, putErr = raw.Put(ctx, "fill/"+time.Now().Format(time.RFC3339Nano), value)
	}
	if putErr == nil || !strings.Contains(putErr.Error(), "database space exceeded") {
		t.Fatalf("filling a 1 MiB quota: want 'database space exceeded', got %v", putErr)
	}

	cli, err := etcd.NewClient(ctx, "test/cluster", []string{url}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	st, err := cli.Status(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Errors) != 0 {
		t.Errorf("member errors: want none, got %q", st.Errors)
	}
	want := etcd.Alarm{MemberID: st.MemberID, Type: etcd.AlarmNoSpace}
	if len(st.Alarms) != 1 || st.Alarms[0] != want {
		t.Fatalf("alarms: want [%+v], got %+v", want, st.Alarms)
	}

	if err := cli.DisarmAlarm(ctx, want); err != nil {
		t.Fatal(err)
	}
	if st, err = cli.Status(ctx, url); err != nil || len(st.Alarms) != 0 {
		t.Fatalf("after disarm: alarms %+v, err %v", st.Alarms, err)
	}
}

func TestSplitAlarms(t *testing.T) {
	errs, alarms := etcd.SplitAlarms([]string{"etcdserver: no leader", "memberID:42 alarm:CORRUPT ", "alarm: not one"})
	if len(errs) != 2 || errs[0] != "etcdserver: no leader" || errs[1] != "alarm: not one" {
		t.Errorf("errors: %q", errs)
	}
	if len(alarms) != 1 || alarms[0] != (etcd.Alarm{MemberID: 42, Type: etcd.AlarmCorrupt}) {
		t.Errorf("alarms: %+v", alarms)
	}
}
