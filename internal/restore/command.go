package restore

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/quorum-operator/quorum/internal/backup"
)

// Command runs `manager restore` and returns its exit code. Errors also go
// to the termination log, where the operator reads them.
func Command(args []string) int {
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	var m Member
	fs.StringVar(&m.DataDir, "data-dir", "", "etcd's data directory")
	fs.StringVar(&m.Name, "name", "", "member name")
	fs.StringVar(&m.PeerURL, "peer-url", "", "the member's peer URL")
	fs.StringVar(&m.InitialCluster, "initial-cluster", "", "every initial member, name=peerURL,...")
	fs.StringVar(&m.Token, "initial-cluster-token", "", "the initial cluster token")
	fs.StringVar(&m.State, "initial-cluster-state", "", "new or existing")
	sha := fs.String("sha256", "", "the SHA-256 the backup recorded")
	inPlace := fs.String("in-place", "", "the ID of an in-place restore: replace the member's data, moving it aside (see RunInPlace)")
	file := fs.String("file", "", "the snapshot file (a mounted claim)")
	s3 := backup.S3Flags(fs)
	terminationLog := fs.String("termination-log", "/dev/termination-log", "where an error is written")
	timeout := fs.Duration("timeout", time.Hour, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return 2
	}

	var src Source
	switch {
	case *file != "":
		src = FileSource(*file)
	case s3.Given():
		src = s3.WithEnvCredentials()
	default:
		return fail(*terminationLog, fmt.Errorf("give -file, or -s3-endpoint, -s3-bucket and -s3-key"))
	}
	if m.DataDir == "" || m.Name == "" || m.PeerURL == "" || *sha == "" {
		return fail(*terminationLog, fmt.Errorf("-data-dir, -name, -peer-url and -sha256 are required"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	lg, _ := zap.NewProduction()
	var outcome Outcome
	var err error
	if *inPlace != "" {
		outcome, err = RunInPlace(ctx, m, src, *sha, *inPlace, lg)
	} else {
		outcome, err = Run(ctx, m, src, *sha, lg)
	}
	if err != nil {
		return fail(*terminationLog, err)
	}
	fmt.Printf("%s: %s\n", m.Name, outcome)
	return 0
}

func fail(terminationLog string, err error) int {
	fmt.Fprintln(os.Stderr, "restore failed:", err)
	_ = os.WriteFile(terminationLog, []byte(err.Error()), 0o644)
	return 1
}
