#!/usr/bin/env bash
# Proves that every make target README tells a user to type installs the
# Debian packages before it builds or runs anything, and that CI takes no
# step a user would not take.
#
# A fresh machine once failed 'make demo' after 31 minutes of building: an
# image needed /bin/busybox, but the package install ran in cluster-up's
# recipe, after its prerequisites. CI missed it because it installed the
# packages itself first. So: for each README target, the first command of a
# dry run that rebuilds everything ('make -n -B') must be the install step,
# and .ci/run must not call the install step on its own.
set -euo pipefail
cd "$(dirname "$0")/.."

fail=0
# Targets README names as `make TARGET` (code or inline code); 'help' only
# prints text and needs nothing.
targets=$(grep -oE '(^|[`;&] *)make [a-z][a-z0-9-]*' README.md | awk '{print $NF}' | sort -u | grep -vx help)
[ -n "$targets" ] || { echo "check-prereqs: README names no make target" >&2; exit 1; }

for t in $targets; do
  # -B: a fresh machine has nothing cached, so every recipe would run.
  if ! out=$(make -n -B --no-print-directory "$t" 2>&1); then
    echo "check-prereqs: 'make -n $t' fails:"; echo "$out" | tail -5; fail=1; continue
  fi
  first=$(echo "$out" | grep -v '^make' | grep -m1 -v '^\s*$' || true)
  case $first in
    hack/install-prereqs.sh*) echo "ok: make $t installs packages first ($first)" ;;
    *) echo "check-prereqs: 'make $t' runs '$first' before installing the Debian packages"; fail=1 ;;
  esac
done

if grep -nE 'install-prereqs|apt-get' .ci/run; then
  echo "check-prereqs: .ci/run installs packages itself; it must only run README's commands"; fail=1
fi
exit $fail
