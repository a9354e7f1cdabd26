package verify

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"syscall"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/etcdutl/v3/snapshot"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"

	"github.com/quorum-operator/quorum/internal/backup"
)

// startTimeout bounds how long the throwaway etcd may take to serve: it
// loads the snapshot's keys into its index and elects itself.
const startTimeout = 2 * time.Minute

// maxQuota is the largest backend quota etcd recommends (8 GiB).
const maxQuota = 8 << 30

// hashRestored restores the snapshot into dataDir, starts a one-member etcd
// on it, listening on loopback only, and returns its HashKV and key count
// at rev. When the member recorded a later compaction than the snapshot
// has, the copy is compacted to it first: HashKV covers only revisions
// after the compaction, so both must be compacted alike to compare.
func hashRestored(ctx context.Context, snapshotPath, dataDir string, rev int64, want *backup.KVHash, lg *zap.Logger) (*backup.KVHash, error) {
	clientURL, peerURL, err := loopbackURLs()
	if err != nil {
		return nil, err
	}
	const name = "verify"
	err = snapshot.NewV3(lg).Restore(snapshot.RestoreConfig{
		SnapshotPath:        snapshotPath,
		Name:                name,
		OutputDataDir:       dataDir,
		PeerURLs:            []string{peerURL.String()},
		InitialCluster:      name + "=" + peerURL.String(),
		InitialClusterToken: "verify",
	})
	if err != nil {
		if ioError(err) {
			return nil, fmt.Errorf("restore the snapshot: %w", err)
		}
		return nil, mismatch("restore the snapshot: %w", err)
	}
	e, err := startEtcd(dataDir, name, clientURL, peerURL, lg)
	if err != nil {
		return nil, err
	}
	defer e.Close()

	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{clientURL.String()}, DialTimeout: 10 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return nil, fmt.Errorf("connect to the throwaway etcd: %w", err)
	}
	defer cli.Close()
	return hashAt(ctx, cli, clientURL.String(), rev, want)
}

// startEtcd starts etcd on the restored data directory and waits until it
// serves.
func startEtcd(dataDir, name string, clientURL, peerURL *url.URL, lg *zap.Logger) (*embed.Etcd, error) {
	cfg := embed.NewConfig()
	cfg.Name, cfg.Dir = name, dataDir
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*clientURL}, []url.URL{*clientURL}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*peerURL}, []url.URL{*peerURL}
	cfg.InitialCluster = name + "=" + peerURL.String()
	// etcd's largest supported database: a snapshot above the default
	// quota must still load and compact.
	cfg.QuotaBackendBytes = maxQuota
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(lg.WithOptions(zap.IncreaseLevel(zap.WarnLevel)))
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("start a throwaway etcd on the restored snapshot: %w", err)
	}
	select {
	case <-e.Server.ReadyNotify():
		return e, nil
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("the throwaway etcd on the restored snapshot stopped: %w", err)
	case <-time.After(startTimeout):
		e.Close()
		return nil, fmt.Errorf("the throwaway etcd on the restored snapshot did not serve within %s", startTimeout)
	}
}

// hashAt compacts the copy to the member's compaction revision if it is
// behind it, then asks for HashKV and the key count at rev. The copy can
// also be ahead (see comparable); its hash then covers less history than
// the member's and is returned as it is.
func hashAt(ctx context.Context, cli *clientv3.Client, endpoint string, rev int64, want *backup.KVHash) (*backup.KVHash, error) {
	h, err := cli.HashKV(ctx, endpoint, rev)
	if err != nil {
		return nil, queryError("hashkv at revision %d on the restored snapshot: %w", rev, err)
	}
	if want != nil && h.CompactRevision < want.CompactRevision {
		if _, err := cli.Compact(ctx, want.CompactRevision, clientv3.WithCompactPhysical()); err != nil {
			return nil, fmt.Errorf("compact the restored copy to the member's revision %d: %w", want.CompactRevision, err)
		}
		if h, err = cli.HashKV(ctx, endpoint, rev); err != nil {
			return nil, queryError("hashkv at revision %d on the restored snapshot: %w", rev, err)
		}
	}
	count, err := cli.Get(ctx, "", clientv3.WithPrefix(), clientv3.WithCountOnly(), clientv3.WithRev(rev))
	if err != nil {
		return nil, queryError("count the keys at revision %d on the restored snapshot: %w", rev, err)
	}
	return &backup.KVHash{Revision: rev, CompactRevision: h.CompactRevision, Hash: h.Hash, Keys: count.Count}, nil
}

// ioError says whether err is the machine's, not the snapshot's: a full
// or failing disk under the work directory judges nothing.
func ioError(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || errors.Is(err, syscall.EIO)
}

// queryError is a failed question to the throwaway etcd: a mismatch when
// the snapshot lacks the revision the member had (compacted past it), else
// an error that judges nothing (a timeout, the process gone).
func queryError(format string, rev int64, err error) error {
	if errors.Is(err, rpctypes.ErrCompacted) || errors.Is(err, rpctypes.ErrFutureRev) {
		return mismatch(format, rev, err)
	}
	return fmt.Errorf(format, rev, err)
}

// loopbackURLs picks two free ports on loopback for the throwaway etcd.
func loopbackURLs() (client, peer *url.URL, err error) {
	var ports [2]int
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, nil, fmt.Errorf("find a free port on loopback: %w", err)
		}
		ports[i] = l.Addr().(*net.TCPAddr).Port
		defer l.Close()
	}
	client = &url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", ports[0])}
	peer = &url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", ports[1])}
	return client, peer, nil
}
