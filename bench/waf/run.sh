#!/usr/bin/env bash
# Builds and runs the WAF engine benchmark: bulwark's engine against
# libmodsecurity3 in-process, same CRS, same run, four request types.
#   bench/waf/run.sh [BUILD_DIR] [seconds-per-case]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
secs=${2:-2}
if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
ninja -C "$build" waf_bench >/dev/null
"$build/waf_bench" "$root" "$secs"
