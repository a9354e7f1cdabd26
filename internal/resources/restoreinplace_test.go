package resources

import (
	"strings"
	"testing"

	etcdv1alpha1 "github.com/quorum-operator/quorum/api/v1alpha1"
)

func TestInPlaceRestoreReplacesABootstrapRestoreAndRunsBeforeTheGuard(t *testing.T) {
	c := testCluster()
	template, hash := MemberTemplate(c, nil, "quorum:test")
	AddRestore(&template, c, RestoreSource{ClaimName: "old-backups", Path: "a.db", SHA256: "aa"}, "quorum:test")
	s3 := &etcdv1alpha1.S3Location{Endpoint: "s3:9000", Bucket: "b", CredentialsSecret: etcdv1alpha1.SecretReference{Name: "creds"}}

	got := WithInPlaceRestore(&template, c, RestoreSource{S3: s3, Key: "k.db", SHA256: "bb"}, "quorum:test", "uid-1", 3)

	var names []string
	for _, ic := range got.Spec.InitContainers {
		names = append(names, ic.Name)
	}
	if strings.Join(names, ",") != "restore-in-place,member-guard" {
		t.Fatalf("init containers %v, want the in-place restore first, then the guard, and no bootstrap restore", names)
	}
	for _, v := range got.Spec.Volumes {
		if v.Name == restoreVolume {
			t.Errorf("the bootstrap restore's claim is still mounted: %+v", v)
		}
	}
	ic := got.Spec.InitContainers[0]
	if ic.EnvFrom != nil {
		t.Errorf("the in-place restore reads the bootstrap ConfigMap: %+v", ic.EnvFrom)
	}
	args := strings.Join(ic.Args, " ")
	for _, want := range []string{"--in-place=uid-1", "--sha256=bb", "--initial-cluster-state=new", "--initial-cluster-token=" + RestoreToken(c, "uid-1")} {
		if !strings.Contains(args, want) {
			t.Errorf("args %q lack %q", args, want)
		}
	}
	if InPlaceRestoreID(&got) != "uid-1" || InPlaceRestoreMembers(&got) != 3 {
		t.Errorf("restore ID %q, %d members; want uid-1 and 3", InPlaceRestoreID(&got), InPlaceRestoreMembers(&got))
	}
	if got.Annotations[AnnotationTemplateHash] != hash {
		t.Errorf("template hash %q, want %q kept: the restore must not start a rollout", got.Annotations[AnnotationTemplateHash], hash)
	}
	if !HasRestore(&got) || InPlaceRestoreID(&template) != "" {
		t.Error("the template given was changed, or the result does not count as restoring")
	}
}
