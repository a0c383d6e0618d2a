#!/usr/bin/env bash
# Identity benchmarks.
#  1. iam_bench (in process): Argon2id parameter costs, logins per second
#     per core, bearer authentication, client-credentials token issuance,
#     introspection, JWS sign / JWT verify.
#  2. iam_loadlat (against a running daemon): latency of unrelated requests
#     (/healthz on the event loop, an authenticated API read on the pool)
#     while 200 REST logins hash at once, and the daemon's login rate.
#   bench/iam/run.sh [BUILD_DIR] [-- iam_bench args, e.g. -n 9 -s 2]
# The daemon listens on 127.0.0.1 with ports picked at run time and is
# stopped by PID when the run ends.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
[ $# -gt 0 ] && shift
[ "${1:-}" = "--" ] && shift
if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
ninja -C "$build" iam_bench iam_loadlat bulwark >/dev/null
dir=$(mktemp -d "${BW_BENCH_DIR:-/var/tmp}/bw-iam-bench.XXXXXX")
# The daemon's data directory is its own mktemp directory: started as root,
# init hands it to the unprivileged worker user, which must reach it.
D=$(mktemp -d "${BW_BENCH_DIR:-/var/tmp}/bw-iam-bench-daemon.XXXXXX")
SUP=
cleanup() {
  if [ -n "$SUP" ]; then kill -TERM "$SUP" 2>/dev/null; wait "$SUP" 2>/dev/null || true; fi
  rm -rf "$dir" "$D"
}
trap cleanup EXIT
[ -n "${SKIP_INPROC:-}" ] || "$build/iam_bench" -d "$dir" "$@"

# ---- daemon: loop latency under a login burst
"$build/bulwark" init --dir "$D" >/dev/null 2>&1
cat >"$D/bulwark.yaml" <<YAML
server:
  data_dir: "$D"
log:
  level: warn
listeners:
  - {name: admin, kind: admin, address: 127.0.0.1, port: 0, tls: true}
  - {name: plain, kind: admin, address: 127.0.0.1, port: 0, tls: false}
YAML
"$build/bulwark" serve -c "$D/bulwark.yaml" >"$dir/daemon.log" 2>&1 &
SUP=$!
for _ in $(seq 1 200); do [ -s "$D/run/ports.json" ] && break; sleep 0.05; done
PORT=$(/usr/bin/python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["plain"]["port"])' "$D/run/ports.json")
BASE="http://127.0.0.1:$PORT"
TOKEN=$(cat "$D/bootstrap-token")
for _ in $(seq 1 100); do curl -fs "$BASE/readyz" >/dev/null && break; sleep 0.1; done
PW="loop latency passphrase $RANDOM$RANDOM"
curl -fsS -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -d "{\"name\":\"bench\",\"password\":\"$PW\"}" "$BASE/api/v1/iam/tenants/platform/users" >/dev/null
out=$("$build/iam_loadlat" "$BASE" "$TOKEN" platform bench "$PW" 200)
echo "$out" | sed 's/^/  /'
v() { awk -v k="$1" '$1 == k { print $2 }' <<<"$out"; }
cores=$(nproc)
echo
echo "| measure (daemon, $cores cores, 200 concurrent REST logins) | p50 ms | p99 ms | max ms |"
echo "|---|---:|---:|---:|"
echo "| /healthz, idle | $(v baseline_healthz_p50_ms) | $(v baseline_healthz_p99_ms) | $(v baseline_healthz_max_ms) |"
echo "| /healthz, during the burst | $(v load_healthz_p50_ms) | $(v load_healthz_p99_ms) | $(v load_healthz_max_ms) |"
echo "| GET tenant (pool), idle | $(v baseline_api_p50_ms) | $(v baseline_api_p99_ms) | $(v baseline_api_max_ms) |"
echo "| GET tenant (pool), during the burst | $(v load_api_p50_ms) | $(v load_api_p99_ms) | $(v load_api_max_ms) |"
echo
echo "daemon logins: $(v logins_ok)/$(v logins) in $(v login_seconds) s = $(v logins_per_s) logins/s"
