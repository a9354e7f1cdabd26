package backup

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Result is what a finished backup reports; the operator copies it into
// the EtcdBackup's status.
type Result struct {
	Location    string    `json:"location"`
	SizeBytes   int64     `json:"sizeBytes"`
	SHA256      string    `json:"sha256"`
	Revision    int64     `json:"revision"`
	EtcdVersion string    `json:"etcdVersion"`
	StartTime   time.Time `json:"startTime"`
	EndTime     time.Time `json:"endTime"`
}

// Sink writes a snapshot stream somewhere. Put must leave nothing that
// looks complete unless it returns nil. Delete removes the snapshot; one
// already gone is not an error.
type Sink interface {
	Put(ctx context.Context, r io.Reader) (location string, err error)
	Delete(ctx context.Context) (location string, err error)
}

// PermanentError is a failure a retry cannot fix (a missing bucket, wrong
// credentials); the command exits with a distinct code so the Job stops.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// IsPermanent says whether err is a PermanentError.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// Take streams a snapshot of the member at endpoint into sink, over TLS
// when tlsConfig is not nil.
func Take(ctx context.Context, endpoint string, tlsConfig *tls.Config, sink Sink) (Result, error) {
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 10 * time.Second, TLS: tlsConfig, Logger: zap.NewNop()})
	if err != nil {
		return Result{}, fmt.Errorf("connect to %s: %w", endpoint, err)
	}
	defer cli.Close()

	// Snapshot messages carry no header: the member's status just before
	// gives the revision (the snapshot holds at least that one) and its
	// etcd version.
	status, err := cli.Status(ctx, endpoint)
	if err != nil {
		return Result{}, fmt.Errorf("status of %s: %w", endpoint, err)
	}
	res := Result{StartTime: time.Now().UTC(), EtcdVersion: status.Version, Revision: status.Header.Revision}
	snap, err := cli.Snapshot(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("start snapshot from %s: %w", endpoint, err)
	}
	defer snap.Close()

	digest := sha256.New()
	counted := &countingReader{r: io.TeeReader(snap, digest)}
	if res.Location, err = sink.Put(ctx, counted); err != nil {
		return Result{}, err
	}
	res.SizeBytes = counted.n
	res.SHA256 = hex.EncodeToString(digest.Sum(nil))
	res.EndTime = time.Now().UTC()
	return res, nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
