#!/usr/bin/env bash
# Builds and runs the SIEM benchmark: parse + normalise + Sigma matching
# (10, 100, 1000 rules) over 206-byte RFC 5424 lines, single-threaded.
#   bench/siem/run.sh [BUILD_DIR] [-- siem_bench args, e.g. -n 2000000]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
[ $# -gt 0 ] && shift
[ "${1:-}" = "--" ] && shift
if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
ninja -C "$build" siem_bench >/dev/null
cd "$root"
"$build/siem_bench" -r "$root/tests/siem/rules" "$@"
