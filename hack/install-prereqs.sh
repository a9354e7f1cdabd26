#!/usr/bin/env bash
# Installs the Debian packages the build and tests need and a fresh machine
# may lack. Go itself must already be on PATH (1.26 or newer); every Go tool
# is built from the module proxy by the Makefile.
set -euo pipefail

packages=(make git ca-certificates)

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
