package etcd

import (
	"crypto/tls"
	"fmt"
	"net/url"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// Connection settings. gRPC backs off up to two minutes between attempts
// to reach a member that is down; a member that comes back must be seen
// within a pass or two, so the backoff stays short. The buffers are small:
// the operator's calls and answers are a few hundred bytes, and an
// operator of hundreds of clusters holds a connection to every member.
const (
	reconnectMaxDelay = time.Second
	connectTimeout    = 3 * time.Second
	connBufferBytes   = 8 << 10
)

// memberConn is the one connection to one member.
type memberConn struct {
	endpoint    string
	conn        *grpc.ClientConn
	cluster     pb.ClusterClient
	maintenance pb.MaintenanceClient
	kv          pb.KVClient
}

// dialMember sets up the connection to the member at endpoint (a client
// URL: http://ip:port or https://ip:port). It does not wait for it.
func dialMember(endpoint string, tlsConfig *tls.Config) (*memberConn, error) {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("etcd endpoint %q is not a URL with a host", endpoint)
	}
	var creds credentials.TransportCredentials
	switch {
	case u.Scheme == "https" && tlsConfig != nil:
		creds = credentials.NewTLS(tlsConfig.Clone())
	case u.Scheme == "http":
		creds = insecure.NewCredentials()
	default:
		return nil, fmt.Errorf("etcd endpoint %q: scheme %q without a matching TLS configuration", endpoint, u.Scheme)
	}
	conn, err := grpc.NewClient("passthrough:///"+u.Host,
		grpc.WithTransportCredentials(creds),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: reconnectMaxDelay},
			MinConnectTimeout: connectTimeout,
		}),
		grpc.WithReadBufferSize(connBufferBytes),
		grpc.WithWriteBufferSize(connBufferBytes),
	)
	if err != nil {
		return nil, fmt.Errorf("connect to etcd %s: %w", endpoint, err)
	}
	return &memberConn{endpoint: endpoint, conn: conn, cluster: pb.NewClusterClient(conn), maintenance: pb.NewMaintenanceClient(conn), kv: pb.NewKVClient(conn)}, nil
}

// rank orders connections by how likely a call on them is answered at
// once. A connection that failed is told to try again now rather than
// after its backoff: the caller is about to need it.
func (m *memberConn) rank() int {
	switch m.conn.GetState() {
	case connectivity.Ready:
		return 0
	case connectivity.TransientFailure:
		m.conn.ResetConnectBackoff()
		return 2
	default:
		return 1
	}
}

func (m *memberConn) close() { _ = m.conn.Close() }
