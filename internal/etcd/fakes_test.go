package etcd_test

import (
	"context"
	"testing"

	"github.com/quorum-operator/quorum/internal/etcd"
)

// Two clusters in two namespaces get fakes of their own: what one spec
// injects (an error, members) never reaches a cluster of another.
func TestFakesAnswerEachNamespaceOnItsOwn(t *testing.T) {
	ctx := context.Background()
	fakes := etcd.NewFakes()
	open := fakes.Factory()
	fakes.For("a").Members = []etcd.Member{{ID: 1, Name: "main-0"}}

	a, err := open(ctx, "a/main", []string{"http://10.0.0.1:2379"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := open(ctx, "b/main", []string{"http://10.0.0.1:2379"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a != etcd.Client(fakes.For("a")) || b != etcd.Client(fakes.For("b")) {
		t.Fatalf("a cluster got another namespace's fake")
	}
	if got, _ := b.MemberList(ctx); len(got) != 0 {
		t.Fatalf("namespace b sees a's members: %v", got)
	}
	if _, err := a.AddLearner(ctx, "http://main-1:2380"); err != nil {
		t.Fatal(err)
	}
	if len(fakes.For("b").Calls) != 0 {
		t.Fatalf("a's membership call recorded in b: %v", fakes.For("b").Calls)
	}
	if _, err := b.Status(ctx, "http://10.0.0.1:2379"); err == nil {
		t.Fatalf("b answers for an endpoint only a's spec could have set")
	}
}
