package memberguard

import (
	"errors"
	"flag"
	"fmt"
	"os"
)

// Command runs `manager member-guard` and returns its exit code. The list
// of members that may start empty comes from the environment variable the
// bootstrap ConfigMap sets (resources.KeyMayStartEmpty).
func Command(args []string) int {
	fs := flag.NewFlagSet("member-guard", flag.ContinueOnError)
	dataDir := fs.String("data-dir", "", "etcd's data directory")
	name := fs.String("name", "", "the member's name")
	listEnv := fs.String("may-start-empty-env", EnvMayStartEmpty, "environment variable listing the members that may start empty")
	terminationLog := fs.String("termination-log", "/dev/termination-log", "where a refusal is written")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *dataDir == "" || *name == "" {
		fmt.Fprintln(os.Stderr, "member-guard: -data-dir and -name are required")
		return 2
	}
	list, set := os.LookupEnv(*listEnv)
	mayStartEmpty := MayStartEmpty(list, set, os.Getenv("ETCD_INITIAL_CLUSTER_STATE"), os.Getenv("ETCD_INITIAL_CLUSTER"))
	err := Check(*dataDir, *name, mayStartEmpty)
	if err == nil {
		return 0
	}
	fmt.Fprintln(os.Stderr, "member-guard:", err)
	_ = os.WriteFile(*terminationLog, []byte(err.Error()), 0o644)
	if errors.Is(err, ErrLostData) {
		return ExitLostData
	}
	return 1
}
