#!/usr/bin/env bash
# Brings up a single-node Kubernetes on this machine, for the e2e suite and
# the demo: etcd, the control plane, containerd, kubelet, kube-proxy, CoreDNS
# and a local-path StorageClass, every process started here with its PID
# recorded under $STATE_DIR/pids. Running it twice is harmless; down.sh
# removes everything it added. Called by 'make cluster-up', which builds the
# binaries and images first.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

[ "$(id -u)" -eq 0 ] || die "the local cluster needs root (network setup, containerd, kubelet)"
mkdir -p "$STATE_DIR" "$PKI" "$PIDS" "$LOGS" "$RECORD"

# record_once NAME VALUE: keeps what the machine had before up changed it,
# so that down can put it back; a second up keeps the first record.
record_once() { [ -f "$RECORD/$1" ] || echo "$2" > "$RECORD/$1"; }

setup_network() {
  record_once ip_forward "$(cat /proc/sys/net/ipv4/ip_forward)"
  record_once bridge_nf_call_iptables "$(cat /proc/sys/net/bridge/bridge-nf-call-iptables)"
  record_once iptables_chains "$(iptables-save | grep -oE '^:[A-Z0-9_-]+' | tr -d : | sort -u | tr '\n' ' ')"
  record_once ip6tables_chains "$(ip6tables-save | grep -oE '^:[A-Z0-9_-]+' | tr -d : | sort -u | tr '\n' ' ')"

  ip addr show dev lo | grep -q " $NODE_IP/32" || ip addr add "$NODE_IP/32" dev lo
  ip route replace blackhole "$SERVICE_CIDR"
  # Pods reach Services through the host (routed) and each other through the
  # bridge, where br_netfilter lets kube-proxy's rules see the traffic.
  echo 1 > /proc/sys/net/ipv4/ip_forward
  echo 1 > /proc/sys/net/bridge/bridge-nf-call-iptables

  # Forwarded pod traffic may go to the bridge only: nothing leaves the
  # machine, whatever a pod sends.
  iptables -N "$FORWARD_CHAIN" 2>/dev/null || true
  iptables -F "$FORWARD_CHAIN"
  iptables -A "$FORWARD_CHAIN" -s "$POD_CIDR" -o "$BRIDGE" -j RETURN
  iptables -A "$FORWARD_CHAIN" -s "$POD_CIDR" -j DROP
  iptables -C FORWARD -j "$FORWARD_CHAIN" 2>/dev/null || iptables -I FORWARD 1 -j "$FORWARD_CHAIN"
  log "network: $NODE_IP on lo, blackhole $SERVICE_CIDR, pods confined to $BRIDGE"
}

# cert NAME CN O [SAN]: a key and certificate signed by the cluster CA.
cert() {
  local name=$1 cn=$2 org=$3 san=${4:-}
  [ -f "$PKI/$name.crt" ] && return
  openssl req -new -newkey rsa:2048 -nodes -keyout "$PKI/$name.key" -out "$PKI/$name.csr" \
    -subj "/CN=$cn${org:+/O=$org}" 2>/dev/null
  local ext=$PKI/$name.ext
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    if [ -n "$san" ]; then echo "extendedKeyUsage=serverAuth,clientAuth"; echo "subjectAltName=$san"
    else echo "extendedKeyUsage=clientAuth"; fi
  } > "$ext"
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -days 365 -extfile "$ext" -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr" "$ext"
}

# kubeconfig NAME: a kubeconfig for the client certificate NAME.
kubeconfig() {
  local name=$1 file=$STATE_DIR/$1.kubeconfig
  cat > "$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: quorum-local
  cluster:
    certificate-authority: $PKI/ca.crt
    server: https://$NODE_IP:6443
users:
- name: $name
  user:
    client-certificate: $PKI/$name.crt
    client-key: $PKI/$name.key
contexts:
- name: quorum-local
  context: {cluster: quorum-local, user: $name}
current-context: quorum-local
EOF
}

setup_pki() {
  if [ ! -f "$PKI/ca.crt" ]; then
    openssl req -x509 -new -newkey rsa:2048 -nodes -keyout "$PKI/ca.key" -out "$PKI/ca.crt" \
      -days 365 -subj "/CN=quorum-local-ca" 2>/dev/null
  fi
  [ -f "$PKI/sa.key" ] || { openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null; openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null; }
  cert apiserver kube-apiserver "" "IP:$NODE_IP,IP:$KUBERNETES_SERVICE_IP,IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.$CLUSTER_DOMAIN"
  cert admin admin system:masters
  cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters
  cert kube-controller-manager system:kube-controller-manager ""
  cert kube-scheduler system:kube-scheduler ""
  cert kubelet "system:node:$NODE_NAME" system:nodes
  cert kube-proxy system:kube-proxy ""
  cert coredns quorum:coredns ""
  cert local-path-provisioner quorum:local-path-provisioner ""
  for n in admin kube-controller-manager kube-scheduler kubelet kube-proxy coredns local-path-provisioner; do kubeconfig "$n"; done
  log "certificates and kubeconfigs in $PKI"
}

start_control_plane() {
  start etcd "$ETCD_BIN/etcd" --name local --data-dir "$STATE_DIR/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "local=http://127.0.0.1:$ETCD_PEER_PORT" --listen-metrics-urls "http://127.0.0.1:23793"
  wait_for "control-plane etcd" 60 curl -fsS "http://127.0.0.1:23793/health"

  start kube-apiserver "$KUBE_BIN/kube-apiserver" --advertise-address="$NODE_IP" --bind-address="$NODE_IP" --secure-port=6443 \
    --etcd-servers="http://127.0.0.1:$ETCD_CLIENT_PORT" --service-cluster-ip-range="$SERVICE_CIDR" \
    --client-ca-file="$PKI/ca.crt" --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
    --kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" --kubelet-client-key="$PKI/apiserver-kubelet-client.key" \
    --service-account-issuer="https://kubernetes.default.svc.$CLUSTER_DOMAIN" \
    --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
    --authorization-mode=Node,RBAC --allow-privileged=true --enable-priority-and-fairness=false \
    --kubelet-preferred-address-types=InternalIP
  wait_for "kube-apiserver" 120 $KUBECTL get --raw /readyz

  start kube-controller-manager "$KUBE_BIN/kube-controller-manager" --kubeconfig="$STATE_DIR/kube-controller-manager.kubeconfig" \
    --authentication-kubeconfig="$STATE_DIR/kube-controller-manager.kubeconfig" --authorization-kubeconfig="$STATE_DIR/kube-controller-manager.kubeconfig" \
    --bind-address=127.0.0.1 --leader-elect=false --use-service-account-credentials=true \
    --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
    --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
    --service-cluster-ip-range="$SERVICE_CIDR" --controllers='*,-nodeipam'
  start kube-scheduler "$KUBE_BIN/kube-scheduler" --kubeconfig="$STATE_DIR/kube-scheduler.kubeconfig" \
    --authentication-kubeconfig="$STATE_DIR/kube-scheduler.kubeconfig" --authorization-kubeconfig="$STATE_DIR/kube-scheduler.kubeconfig" \
    --bind-address=127.0.0.1 --leader-elect=false
}

start_containerd() {
  mkdir -p "$STATE_DIR/containerd" "$STATE_DIR/cni/net.d"
  cat > "$STATE_DIR/cni/net.d/10-quorum.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "quorum",
  "plugins": [
    {
      "type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
      "ipam": {"type": "host-local", "dataDir": "$STATE_DIR/cni/ipam",
               "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$POD_GATEWAY"}]],
               "routes": [{"dst": "0.0.0.0/0"}]}
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
  cat > "$STATE_DIR/containerd/config.toml" <<EOF
version = 2
root = "$STATE_DIR/containerd/root"
state = "$STATE_DIR/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$CONTAINERD_SOCK"
[ttrpc]
  address = "$CONTAINERD_SOCK.ttrpc"
[debug]
  address = "$CONTAINERD_SOCK.debug"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.10"
  # The machine lacks CAP_SYS_RESOURCE: without this every sandbox fails.
  restrict_oom_score_adj = true
  # Keep pod network namespaces under our state dir, not /var/run/netns.
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$STATE_DIR/cni/net.d"
EOF
  start containerd containerd --config "$STATE_DIR/containerd/config.toml"
  wait_for "containerd" 60 ctr --address "$CONTAINERD_SOCK" version
}

import_images() {
  local tar
  for tar in "$IMAGES_DIR"/*.tar; do
    ctr --address "$CONTAINERD_SOCK" -n k8s.io images import --no-unpack=false "$tar" >/dev/null
  done
  log "images imported: $(ctr --address "$CONTAINERD_SOCK" -n k8s.io images ls -q | grep -v '^sha256:' | tr '\n' ' ')"
}

start_node() {
  mkdir -p "$STATE_DIR/kubelet" "$STATE_DIR/pod-logs"
  echo "nameserver $NODE_IP" > "$STATE_DIR/resolv.conf"
  cat > "$STATE_DIR/kubelet-config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
clusterDNS: [$NODE_IP]
clusterDomain: $CLUSTER_DOMAIN
resolvConf: $STATE_DIR/resolv.conf
podCIDR: $POD_CIDR
podLogsDir: $STATE_DIR/pod-logs
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
# Images are imported locally and cannot be pulled back: never collect them.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
# Mounted Secrets and ConfigMaps follow their objects at each pod sync: every
# 10 s here rather than every minute, so a renewed or rotated certificate
# reaches the members sooner (the operator checks what members serve, not
# how soon the kubelet delivers it).
syncFrequency: 10s
EOF
  start kubelet "$KUBE_BIN/kubelet" --config="$STATE_DIR/kubelet-config.yaml" \
    --kubeconfig="$STATE_DIR/kubelet.kubeconfig" --hostname-override="$NODE_NAME" --node-ip="$NODE_IP" \
    --root-dir="$STATE_DIR/kubelet" --cert-dir="$STATE_DIR/kubelet/pki"

  cat > "$STATE_DIR/kube-proxy-config.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: {kubeconfig: $STATE_DIR/kube-proxy.kubeconfig}
hostnameOverride: $NODE_NAME
clusterCIDR: $POD_CIDR
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
nodePortAddresses: [127.0.0.0/8]
conntrack: {maxPerCore: 0}
EOF
  start kube-proxy "$KUBE_BIN/kube-proxy" --config="$STATE_DIR/kube-proxy-config.yaml"
  wait_for "node $NODE_NAME Ready" 180 $KUBECTL wait --for=condition=Ready "node/$NODE_NAME" --timeout=5s
}

apply_addons() {
  $KUBECTL apply --server-side -f "$REPO_ROOT/hack/localcluster/addons.yaml" >/dev/null
  cat > "$STATE_DIR/Corefile" <<EOF
.:53 {
    bind $NODE_IP
    errors
    health 127.0.0.1:8082
    ready 127.0.0.1:8183
    kubernetes $CLUSTER_DOMAIN in-addr.arpa ip6.arpa {
        kubeconfig $STATE_DIR/coredns.kubeconfig quorum-local
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    cache 5
    # No forward plugin: nothing off this machine is ever asked.
}
EOF
  start coredns "$COREDNS" -conf "$STATE_DIR/Corefile"
  wait_for "cluster DNS" 60 nslookup_kubernetes

  mkdir -p "$STATE_DIR/local-path"
  cat > "$STATE_DIR/local-path-config.json" <<EOF
{"nodePathMap": [{"node": "DEFAULT_PATH_FOR_NON_LISTED_NODES", "paths": ["$STATE_DIR/local-path"]}]}
EOF
  start local-path-provisioner "$LOCAL_PATH_PROVISIONER" start \
    --kubeconfig "$STATE_DIR/local-path-provisioner.kubeconfig" --config "$STATE_DIR/local-path-config.json" \
    --provisioner-name rancher.io/local-path --namespace local-path-storage --configmap-name local-path-config \
    --helper-image quorum.local/busybox:1 --service-account-name local-path-provisioner
}

# start_s3: a real S3-compatible server (versitygw over plain directories)
# for backups, on the node address: pods and this machine reach it there.
start_s3() {
  mkdir -p "$STATE_DIR/s3"
  start s3 "$VERSITYGW" --access "$S3_ACCESS_KEY" --secret "$S3_SECRET_KEY" --port "$NODE_IP:$S3_PORT" posix "$STATE_DIR/s3"
  wait_for "S3 on $NODE_IP:$S3_PORT" 30 s3_listening
}

s3_listening() { (exec 3<>"/dev/tcp/$NODE_IP/$S3_PORT") 2>/dev/null; }

# nslookup_kubernetes: the kubernetes Service resolves through CoreDNS.
nslookup_kubernetes() {
  getent_answer=$(dig_a "kubernetes.default.svc.$CLUSTER_DOMAIN")
  [ "$getent_answer" = "$KUBERNETES_SERVICE_IP" ]
}

# dig_a NAME: the A record of NAME from CoreDNS, with no DNS tools needed.
dig_a() { "$LOCALCLUSTER_BIN/dnsquery" -server "$NODE_IP:53" "$1"; }

main() {
  local t0=$SECONDS phase_start
  phase() { log "phase $1 done in $((SECONDS - phase_start))s"; phase_start=$SECONDS; }
  phase_start=$SECONDS
  setup_network; phase network
  setup_pki; phase pki
  start_control_plane; phase control-plane
  start_containerd; import_images; phase containerd+images
  start_node; phase node
  apply_addons; phase addons
  start_s3; phase s3
  cp "$ADMIN_KUBECONFIG" "$REPO_ROOT/bin/kubeconfig"
  log "cluster up in $((SECONDS - t0))s; KUBECONFIG=$REPO_ROOT/bin/kubeconfig"
}

# restart.sh sources this file for its start functions.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  main "$@"
fi
