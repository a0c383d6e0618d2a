#!/bin/sh
# Builds and runs the JSON parse benchmark (bulwark vs jansson).
#
#   bench/json/run.sh [BUILD_DIR] [LINES] [PASSES]
#
# With BUILD_DIR (a configured, non-sanitizer CMake build, e.g. /tmp/bw),
# links its libbw_json.a and libbw_core.a (built here with ninja if
# missing); without it, compiles src/json/*.c and src/core/*.c directly
# with the project's release flags. Needs libjansson-dev.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-}
lines=${2:-100000}
passes=${3:-5}
out=${TMPDIR:-/tmp}/bw_json_bench.$$
trap 'rm -f "$out"' EXIT
cflags="-std=c11 -D_GNU_SOURCE -O2 -g -I$root/src"
if [ -n "$build" ] && [ "$build" != "-" ]; then
	ninja -C "$build" bw_json bw_core >/dev/null
	cc $cflags "$here/json_bench.c" "$here/json_bench_jansson.c" "$build/libbw_json.a" \
		"$build/libbw_core.a" -ljansson -lcrypto -lpthread -lm -o "$out"
else
	cc $cflags "$here/json_bench.c" "$here/json_bench_jansson.c" "$root"/src/json/json_*.c \
		"$root"/src/core/*.c -ljansson -lcrypto -lpthread -lm -o "$out"
fi
echo "cc: $(cc --version | head -1); cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
"$out" "$lines" "$passes"
