package verify

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/quorum-operator/quorum/internal/backup"
	"github.com/quorum-operator/quorum/internal/jobexit"
	"github.com/quorum-operator/quorum/internal/restore"
)

// Command runs `manager verify` and returns its exit code, jobexit.Permanent
// on a mismatch (a retry reads the same bytes). The Result, as JSON, goes
// to the termination log whether the snapshot passed or not; the operator
// copies it into the backup's status.
func Command(args []string) int {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	file := fs.String("file", "", "the snapshot file (a mounted claim)")
	s3 := backup.S3Flags(fs)
	sha := fs.String("sha256", "", "the SHA-256 the backup recorded")
	kvHash := fs.String("kv-hash", "", "the member's HashKV the backup recorded, as JSON (revision, compactRevision, hash, keys); empty when none was")
	workDir := fs.String("work-dir", "", "an empty directory for the snapshot and the throwaway etcd's data")
	terminationLog := fs.String("termination-log", "/dev/termination-log", "where the result is written")
	timeout := fs.Duration("timeout", time.Hour, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return jobexit.Permanent
	}
	want := Expected{SHA256: *sha}
	if *kvHash != "" {
		want.KVHash = &backup.KVHash{}
		if err := json.Unmarshal([]byte(*kvHash), want.KVHash); err != nil {
			return report(*terminationLog, Result{}, &Mismatch{fmt.Errorf("-kv-hash: %w", err)})
		}
	}
	var src restore.Source
	switch {
	case *file != "":
		src = restore.FileSource(*file)
	case s3.Given():
		src = s3.WithEnvCredentials()
	default:
		return report(*terminationLog, Result{}, &Mismatch{errors.New("give -file, or -s3-endpoint, -s3-bucket and -s3-key")})
	}
	if *sha == "" || *workDir == "" {
		return report(*terminationLog, Result{}, &Mismatch{errors.New("-sha256 and -work-dir are required")})
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	lg, _ := zap.NewProduction()
	res, err := Run(ctx, src, want, *workDir, lg)
	return report(*terminationLog, res, err)
}

// report writes the result where the operator reads it and picks the exit
// code.
func report(path string, res Result, err error) int {
	code := jobexit.OK
	if err != nil {
		res.Passed, res.Message = false, err.Error()
		code = jobexit.Retry
		var m *Mismatch
		if errors.As(err, &m) {
			code, res.Mismatch = jobexit.Permanent, true
		}
		fmt.Fprintln(os.Stderr, "verification failed:", err)
	} else {
		fmt.Println("verified:", res.Message)
	}
	if res.EndTime.IsZero() {
		res.EndTime = time.Now().UTC()
	}
	if res.StartTime.IsZero() { // the command did not get to start
		res.StartTime = res.EndTime
	}
	// The kubelet keeps 4096 bytes of a termination message.
	if len(res.Message) > 3000 {
		res.Message = res.Message[:3000] + "..."
	}
	msg, _ := json.Marshal(res)
	if werr := os.WriteFile(path, msg, 0o644); werr != nil {
		fmt.Fprintln(os.Stderr, "write termination log:", werr)
	}
	return code
}
