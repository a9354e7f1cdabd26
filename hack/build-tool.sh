#!/usr/bin/env bash
# Builds one command from a tools module into a versioned path under bin/.
#
#   hack/build-tool.sh MODULE_DIR PACKAGE OUTPUT [GO_LDFLAGS]
#
# The binary is written next to OUTPUT and renamed into place only when the
# build succeeded, so an interrupted build never leaves a file that later
# runs would take for a cached binary. Everything comes from the Go module
# proxy; nothing else is downloaded.
set -euo pipefail

module_dir=$1 package=$2 output=$3 ldflags=${4:-}
# The build runs in the module directory: make the output path absolute.
[[ $output = /* ]] || output=$PWD/$output

mkdir -p "$(dirname "$output")"
tmp="$output.partial.$$"
trap 'rm -f "$tmp"' EXIT

echo "Building $(basename "$output") from $package (a first build of a large command takes minutes)" >&2
start=$SECONDS
(cd "$module_dir" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w $ldflags" -o "$tmp" "$package")
mv "$tmp" "$output"
echo "Built $output in $((SECONDS - start))s" >&2
