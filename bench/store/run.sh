#!/usr/bin/env bash
# Builds and runs the store benchmark: durable writes per second through
# group commit (1, 8, 64 blocking submitters; one async submitter) against
# a naive one-transaction-per-write loop, in one run.
#   bench/store/run.sh [BUILD_DIR] [-- store_bench args, e.g. -s 5 -d DIR]
# The database directory must be on the disk you want to measure (not
# tmpfs, where fsync is free): the default is /var/tmp.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
[ $# -gt 0 ] && shift
[ "${1:-}" = "--" ] && shift
if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
ninja -C "$build" store_bench >/dev/null
dir=$(mktemp -d "${BW_BENCH_DIR:-/var/tmp}/bw-store-bench.XXXXXX")
trap 'rm -rf "$dir"' EXIT
"$build/store_bench" -d "$dir" "$@"
