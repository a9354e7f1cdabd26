#!/usr/bin/env bash
# restart.sh [--down SECONDS] NAME...: stops processes of the local cluster
# by the PIDs up.sh recorded, keeps them down for SECONDS (default 0), and
# starts them again as up.sh does. NAME is one of kube-apiserver, containerd,
# kubelet, kube-proxy. Containers outlive containerd and the kubelet (their
# shims run on), as they do on a node whose runtime restarts; the e2e fault
# suite kills the processes it wants dead itself.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/up.sh"

down=0
if [ "${1:-}" = "--down" ]; then down=$2; shift 2; fi
[ $# -gt 0 ] || die "usage: restart.sh [--down SECONDS] kube-apiserver|containerd|kubelet|kube-proxy..."
for name in "$@"; do
  case $name in
    kube-apiserver|containerd|kubelet|kube-proxy) ;;
    *) die "restart.sh cannot restart $name" ;;
  esac
  running "$name" || die "$name is not running"
done

for name in "$@"; do stop "$name"; done
sleep "$down"
for name in "$@"; do
  case $name in
    kube-apiserver) start_control_plane ;;
    containerd) start_containerd ;;
  esac
done
# The kubelet and kube-proxy start together, after the runtime.
for name in "$@"; do
  case $name in kubelet|kube-proxy) start_node; break ;; esac
done
log "restarted $* after ${down}s down"
