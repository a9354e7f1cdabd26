#!/usr/bin/env bash
# Installs the Debian packages a fresh machine may lack. Go itself must
# already be on PATH (1.26 or newer); every Go tool is built from the module
# proxy by the Makefile.
#
#   hack/install-prereqs.sh           what the build and 'make test' need
#   hack/install-prereqs.sh cluster   and what the local cluster needs
set -euo pipefail

packages=(make git ca-certificates)
if [ "${1:-}" = cluster ]; then
  # Container runtime, pod networking, Service rules, the local-path
  # provisioner's helper image (busybox), certificates and health checks.
  packages+=(containerd runc containernetworking-plugins iptables conntrack busybox-static openssl curl procps iproute2 bc)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "Installing Debian packages: ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

command -v go >/dev/null || { echo "Go 1.26 or newer must be on PATH" >&2; exit 1; }
