#!/usr/bin/env bash
# Builds and runs the identity benchmark (Argon2id parameter costs, logins
# per second per core, bearer authentication, JWS sign / JWT verify).
#   bench/iam/run.sh [BUILD_DIR] [-- iam_bench args, e.g. -n 9 -s 2]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
[ $# -gt 0 ] && shift
[ "${1:-}" = "--" ] && shift
if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
ninja -C "$build" iam_bench >/dev/null
dir=$(mktemp -d "${BW_BENCH_DIR:-/var/tmp}/bw-iam-bench.XXXXXX")
trap 'rm -rf "$dir"' EXIT
"$build/iam_bench" -d "$dir" "$@"
