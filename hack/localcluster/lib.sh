# Shared settings and helpers of the local cluster scripts (up.sh, down.sh).
# Sourced, not run.
#
# Network layout: everything stays on this machine.
#   NODE_IP      a /32 on lo: API server, kubelet, CoreDNS bind here, and pods
#                reach it through the bridge gateway.
#   POD_CIDR     on the bridge quorum0 (a local link).
#   SERVICE_CIDR virtual; a blackhole route keeps any packet no kube-proxy rule
#                rewrote from following the default route off the machine.
# A FORWARD rule drops pod traffic to anything but the bridge, so pods cannot
# reach off the machine either.

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
STATE_DIR=${QUORUM_CLUSTER_DIR:-/var/lib/quorum-local-cluster}
PKI=$STATE_DIR/pki
PIDS=$STATE_DIR/pids
LOGS=$STATE_DIR/logs
RECORD=$STATE_DIR/record   # what up found before it changed anything

NODE_NAME=quorum-node
NODE_IP=10.250.0.1
POD_CIDR=10.244.0.0/24
POD_GATEWAY=10.244.0.1
SERVICE_CIDR=10.96.0.0/24
KUBERNETES_SERVICE_IP=10.96.0.1
BRIDGE=quorum0
CLUSTER_DOMAIN=cluster.local
ETCD_CLIENT_PORT=23791
ETCD_PEER_PORT=23792
CONTAINERD_SOCK=$STATE_DIR/containerd/containerd.sock
ADMIN_KUBECONFIG=$STATE_DIR/admin.kubeconfig
# The chains the firewall rules of up.sh live in.
FORWARD_CHAIN=QUORUM-FORWARD

# Binaries, built by the Makefile into bin/ by version.
KUBE_BIN=${KUBE_BIN:?KUBE_BIN is set by the Makefile}
ETCD_BIN=${ETCD_BIN:?ETCD_BIN is set by the Makefile}
COREDNS=${COREDNS:?COREDNS is set by the Makefile}
LOCAL_PATH_PROVISIONER=${LOCAL_PATH_PROVISIONER:?LOCAL_PATH_PROVISIONER is set by the Makefile}
LOCALCLUSTER_BIN=${LOCALCLUSTER_BIN:?LOCALCLUSTER_BIN is set by the Makefile}
IMAGES_DIR=${IMAGES_DIR:?IMAGES_DIR is set by the Makefile}
VERSITYGW=${VERSITYGW:?VERSITYGW is set by the Makefile}
# The S3 server for backups listens on the node address; test credentials,
# set by the Makefile, which gives the same ones to the e2e suite.
S3_PORT=${S3_PORT:?S3_PORT is set by the Makefile}
S3_ACCESS_KEY=${S3_ACCESS_KEY:?S3_ACCESS_KEY is set by the Makefile}
S3_SECRET_KEY=${S3_SECRET_KEY:?S3_SECRET_KEY is set by the Makefile}
KUBECTL="$KUBE_BIN/kubectl --kubeconfig $ADMIN_KUBECONFIG"

log() { echo "[$(date +%T)] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# running NAME: true when the process up started as NAME is alive.
running() {
  local pidfile=$PIDS/$1.pid
  [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

# start NAME CMD...: starts CMD in its own session, logging to logs/NAME.log,
# and records its PID; does nothing when NAME already runs (up twice is
# harmless).
start() {
  local name=$1; shift
  if running "$name"; then
    log "$name already running (pid $(cat "$PIDS/$name.pid"))"
    return
  fi
  mkdir -p "$PIDS" "$LOGS"
  setsid "$@" >>"$LOGS/$name.log" 2>&1 < /dev/null &
  echo $! > "$PIDS/$name.pid"
  log "started $name (pid $!)"
}

# stop NAME: stops the process up recorded as NAME, by PID: TERM, then KILL
# after a grace period.
stop() {
  local name=$1 pidfile=$PIDS/$1.pid pid
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
    log "stopped $name (pid $pid)"
  fi
  rm -f "$pidfile"
}

# wait_for WHAT SECONDS CMD...: polls CMD until it succeeds or the deadline
# passes.
wait_for() {
  local what=$1 seconds=$2; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      die "timed out after ${seconds}s waiting for $what"
    fi
    sleep 1
  done
  log "$what: ready"
}

# The components in the order up starts them; down stops them in reverse.
COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler containerd kubelet kube-proxy coredns local-path-provisioner s3)
