#!/usr/bin/env bash
# Removes everything up.sh added: processes (by recorded PID), pod
# containers, mounts, cgroups, the bridge, the lo address, the blackhole
# route, iptables chains and rules, sysctls (put back as they were) and the
# state directory. Works after a crash too: every step tolerates a part that
# is already gone. Ends by checking that nothing remains, and says what does.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

[ "$(id -u)" -eq 0 ] || die "down needs root"

# ours PID: the process's command line names our state dir, so a recycled
# PID of someone else's process is never signalled.
ours() { grep -qF "$STATE_DIR" "/proc/$1/cmdline" 2>/dev/null; }

stop_ours() {
  local name=$1 pidfile=$PIDS/$1.pid
  [ -f "$pidfile" ] || return 0
  if ours "$(cat "$pidfile")"; then stop "$name"; else rm -f "$pidfile"; fi
}

kill_pods() {
  # Through containerd while it runs: every task killed and deleted.
  if running containerd; then
    local ctr=(ctr --address "$CONTAINERD_SOCK" -n k8s.io) id
    for id in $("${ctr[@]}" tasks ls -q 2>/dev/null); do
      "${ctr[@]}" tasks kill -s SIGKILL "$id" >/dev/null 2>&1
    done
    sleep 1
    for id in $("${ctr[@]}" tasks ls -q 2>/dev/null); do "${ctr[@]}" tasks delete -f "$id" >/dev/null 2>&1; done
  fi
  # Whatever is left in the pod cgroups our kubelet made (after a crash).
  local procs pid
  procs=$(find /sys/fs/cgroup/pids/kubepods -name cgroup.procs 2>/dev/null)
  for f in $procs; do
    for pid in $(cat "$f" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
  done
}

# Shims are started by containerd, not by us; they carry our socket path.
kill_shims() {
  local pid
  for pid in $(pgrep -f "containerd-shim.*$CONTAINERD_SOCK" 2>/dev/null); do
    ours "$pid" && kill -KILL "$pid" 2>/dev/null
  done
}

unmount_state() {
  local m
  # Deepest first.
  for m in $(awk -v d="$STATE_DIR" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r); do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
  done
}

remove_cgroups() {
  local hierarchy
  for hierarchy in /sys/fs/cgroup/*/kubepods; do
    [ -d "$hierarchy" ] || continue
    find "$hierarchy" -depth -type d -exec rmdir {} + 2>/dev/null
  done
}

# remove_chains IPTABLES: deletes the KUBE-, CNI- and QUORUM- chains that
# did not exist before up, with every rule that jumps to them.
remove_chains() {
  local ipt=$1 before table chain
  # Without a record up never changed the firewall: nothing here is ours.
  [ -f "$RECORD/${ipt}_chains" ] || return 0
  before=" $(cat "$RECORD/${ipt}_chains") "
  for table in filter nat mangle; do
    local chains=()
    for chain in $($ipt -t "$table" -S 2>/dev/null | awk '$1 == "-N" {print $2}' | grep -E '^(KUBE|CNI|QUORUM)-'); do
      [[ "$before" == *" $chain "* ]] || chains+=("$chain")
    done
    for chain in "${chains[@]}"; do
      # Rules in any chain that jump to it.
      $ipt -t "$table" -S 2>/dev/null | grep -E -- "-j $chain( |$)" | sed 's/^-A /-D /' |
        while read -r rule; do eval "$ipt -t $table $rule" 2>/dev/null; done
    done
    for chain in "${chains[@]}"; do $ipt -t "$table" -F "$chain" 2>/dev/null; done
    for chain in "${chains[@]}"; do $ipt -t "$table" -X "$chain" 2>/dev/null; done
  done
}

restore_sysctl() {
  local name=$1 path=$2
  [ -f "$RECORD/$name" ] && cat "$RECORD/$name" > "$path"
}

teardown() {
  stop_ours prometheus
  stop_ours s3
  stop_ours local-path-provisioner
  stop_ours coredns
  stop_ours kube-proxy
  stop_ours kubelet
  kill_pods
  stop_ours containerd
  kill_shims
  stop_ours kube-scheduler
  stop_ours kube-controller-manager
  stop_ours kube-apiserver
  stop_ours etcd
  unmount_state
  remove_cgroups

  ip link del "$BRIDGE" 2>/dev/null
  ip addr del "$NODE_IP/32" dev lo 2>/dev/null
  ip route del blackhole "$SERVICE_CIDR" 2>/dev/null
  [ -x "$KUBE_BIN/kube-proxy" ] && "$KUBE_BIN/kube-proxy" --cleanup >/dev/null 2>&1
  remove_chains iptables
  remove_chains ip6tables
  restore_sysctl ip_forward /proc/sys/net/ipv4/ip_forward
  restore_sysctl bridge_nf_call_iptables /proc/sys/net/bridge/bridge-nf-call-iptables
}

# check: prints what remains of the cluster; fails when anything does.
check() {
  local left=()
  local procs
  procs=$(pgrep -f -- "$STATE_DIR" | grep -vx "$$" | while read -r p; do ours "$p" && echo "$p"; done)
  [ -z "$procs" ] || left+=("processes: $(echo "$procs" | tr '\n' ' ')")
  grep -qF " $STATE_DIR" /proc/self/mountinfo && left+=("mounts under $STATE_DIR")
  ls -d /sys/fs/cgroup/*/kubepods >/dev/null 2>&1 && left+=("kubepods cgroups")
  ip link show "$BRIDGE" >/dev/null 2>&1 && left+=("bridge $BRIDGE")
  ip addr show dev lo | grep -q " $NODE_IP/32" && left+=("address $NODE_IP on lo")
  ip route show type blackhole | grep -q "^blackhole $SERVICE_CIDR" && left+=("blackhole route $SERVICE_CIDR")
  local chains
  chains=$( { iptables-save; ip6tables-save; } 2>/dev/null | grep -oE '^:(KUBE|CNI|QUORUM)-[A-Z0-9_-]+' | tr -d : | sort -u |
    while read -r c; do cat "$RECORD"/*tables_chains 2>/dev/null | grep -qw -- "$c" || echo "$c"; done | tr '\n' ' ')
  [ -z "$chains" ] || left+=("iptables chains: $chains")
  if ((${#left[@]})); then
    log "NOT CLEAN, still present:"; printf '  - %s\n' "${left[@]}" >&2
    return 1
  fi
  log "clean: no process, mount, cgroup, bridge, address, route or iptables chain of the local cluster remains"
}

teardown
check
status=$?
# The record is needed by check; the state dir goes last.
rm -rf "$STATE_DIR" "$REPO_ROOT/bin/kubeconfig"
[ ! -e "$STATE_DIR" ] || { log "state dir $STATE_DIR remains"; status=1; }
exit $status
