package verify

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/quorum-operator/quorum/internal/backup"
	"github.com/quorum-operator/quorum/internal/restore"
	"github.com/quorum-operator/quorum/internal/testservers"
)

// BenchmarkVerify100MiB verifies a snapshot of a real etcd filled with
// 100 MiB (1,024 values of 100 KiB): the figure in docs/backup.md.
// go test ./internal/verify -run XXX -bench Verify100MiB -benchtime 3x
func BenchmarkVerify100MiB(b *testing.B) {
	url, cli := testservers.Etcd(b, b.TempDir(), "--quota-backend-bytes", fmt.Sprint(int64(1)<<30))
	value := strings.Repeat("x", 100<<10)
	for i := range 1024 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := cli.Put(ctx, fmt.Sprintf("/fill/%04d", i), value)
		cancel()
		if err != nil {
			b.Fatal(err)
		}
	}
	path := filepath.Join(b.TempDir(), "b.db")
	res, err := backup.Take(context.Background(), url, nil, backup.FileSink{Path: path})
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("snapshot of %.1f MiB, revision %d", float64(res.SizeBytes)/(1<<20), res.Revision)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		got, err := Run(context.Background(), restore.FileSource(path), Expected{SHA256: res.SHA256, KVHash: res.KVHash}, b.TempDir(), zap.NewNop())
		if err != nil || !got.Passed {
			b.Fatalf("verify: %v", err)
		}
		b.Logf("verified in %s", time.Since(start).Round(10*time.Millisecond))
	}
}
