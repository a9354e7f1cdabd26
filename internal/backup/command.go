package backup

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/quorum-operator/quorum/internal/jobexit"
	"github.com/quorum-operator/quorum/internal/pki"
)

// Command runs `manager backup` with its arguments and returns the exit
// code. The result (JSON) or the error goes to the termination log, where
// the operator reads it from the pod's status.
func Command(args []string) int {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	endpoints := fs.String("endpoints", "", "client URLs of the cluster's members, comma-separated; the member to snapshot is chosen among them")
	remove := fs.Bool("delete", false, "delete the snapshot at the destination instead of taking one")
	file := fs.String("file", "", "write the snapshot to this file (a claim's mount)")
	location := fs.String("location", "", "the location to report for -file, e.g. pvc://claim/path")
	s3 := S3Flags(fs)
	certFile := fs.String("cert", "", "client certificate to present to a TLS member")
	keyFile := fs.String("key", "", "key of -cert")
	caFile := fs.String("cacert", "", "CAs to trust for a TLS member")
	terminationLog := fs.String("termination-log", "/dev/termination-log", "where the result or the error is written")
	timeout := fs.Duration("timeout", time.Hour, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return jobexit.Permanent
	}

	var sink Sink
	switch {
	case *file != "":
		sink = FileSink{Path: *file, Location: *location}
	case s3.Given():
		sink = s3.WithEnvCredentials()
	default:
		return report(*terminationLog, Result{}, &PermanentError{fmt.Errorf("give -file, or -s3-endpoint, -s3-bucket and -s3-key")})
	}

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if *remove {
		location, err := sink.Delete(ctx)
		return report(*terminationLog, Result{Location: location}, err)
	}
	if *endpoints == "" {
		return report(*terminationLog, Result{}, &PermanentError{fmt.Errorf("-endpoints is required")})
	}
	tlsConfig, err := clientTLS(*certFile, *keyFile, *caFile)
	if err != nil {
		return report(*terminationLog, Result{}, &PermanentError{err})
	}
	res, err := TakeFrom(ctx, strings.Split(*endpoints, ","), tlsConfig, sink)
	return report(*terminationLog, res, err)
}

// clientTLS reads the client certificate files, or returns nil when none
// are given (a cluster without TLS). The member is dialled by its DNS
// name, which its certificate holds, so no server name is set.
func clientTLS(certFile, keyFile, caFile string) (*tls.Config, error) {
	if certFile == "" && keyFile == "" && caFile == "" {
		return nil, nil
	}
	var pems [3][]byte
	for i, f := range []string{certFile, keyFile, caFile} {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read TLS file: %w", err)
		}
		pems[i] = b
	}
	return pki.ClientConfig(pems[0], pems[1], pems[2], "")
}

// report writes the outcome where the operator reads it and picks the exit
// code.
func report(path string, res Result, err error) int {
	var msg []byte
	code := jobexit.OK
	switch {
	case err == nil:
		msg, _ = json.Marshal(res)
		fmt.Printf("done: %s (%d bytes, sha256 %s, revision %d, from %s)\n", res.Location, res.SizeBytes, res.SHA256, res.Revision, res.Member)
	case IsPermanent(err):
		msg, code = []byte(err.Error()), jobexit.Permanent
	default:
		msg, code = []byte(err.Error()), jobexit.Retry
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "backup failed:", err)
	}
	if werr := os.WriteFile(path, msg, 0o644); werr != nil {
		fmt.Fprintln(os.Stderr, "write termination log:", werr)
	}
	return code
}
