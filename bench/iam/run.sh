#!/usr/bin/env bash
# Identity benchmarks.
#  1. iam_bench (in process): Argon2id parameter costs, logins per second
#     per core, bearer authentication, client-credentials token issuance,
#     introspection, JWS sign / JWT verify.
#  2. iam_loadlat (against a running daemon): latency of unrelated requests
#     (/healthz on the event loop, an authenticated API read on the pool)
#     while 200 REST logins hash at once, and the daemon's login rate;
#  3. over HTTP with wrk, bulwark against its peer node-oidc-provider (a
#     certified OpenID provider; Keycloak, Ory, Authelia and Zitadel are not
#     packaged for Debian): client-credentials issuance and introspection
#     per second, bulwark restarted with one event-loop thread and one
#     pool thread,
#     node's single thread for the peer. The peer's npm packages come from
#     bench/iam/peer/package-lock.json (npm ci into a cache directory).
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
OP=
cleanup() {
  if [ -n "$SUP" ]; then kill -TERM "$SUP" 2>/dev/null; wait "$SUP" 2>/dev/null || true; fi
  if [ -n "$OP" ]; then kill -TERM "$OP" 2>/dev/null; wait "$OP" 2>/dev/null || true; fi
  rm -rf "$dir" "$D"
}
trap cleanup EXIT
[ -n "${SKIP_INPROC:-}" ] || "$build/iam_bench" -d "$dir" "$@"

# ---- daemon: loop latency under a login burst
"$build/bulwark" init --dir "$D" >/dev/null 2>&1
launch() { # launch WORKERS POOL_THREADS: (re)starts the daemon, sets BASE
  if [ -n "$SUP" ]; then kill -TERM "$SUP"; wait "$SUP" 2>/dev/null || true; SUP=; fi
  cat >"$D/bulwark.yaml" <<YAML
server:
  data_dir: "$D"
  workers: $1
  pool_threads: $2
log:
  level: warn
listeners:
  - {name: admin, kind: admin, address: 127.0.0.1, port: 0, tls: true}
  - {name: plain, kind: admin, address: 127.0.0.1, port: 0, tls: false}
YAML
  rm -f "$D/run/ports.json"
  "$build/bulwark" serve -c "$D/bulwark.yaml" >>"$dir/daemon.log" 2>&1 &
  SUP=$!
  for _ in $(seq 1 200); do [ -s "$D/run/ports.json" ] && break; sleep 0.05; done
  PORT=$(/usr/bin/python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["plain"]["port"])' "$D/run/ports.json")
  BASE="http://127.0.0.1:$PORT"
  for _ in $(seq 1 100); do curl -fs "$BASE/readyz" >/dev/null && break; sleep 0.1; done
}
# Default threads (one loop and one pool thread per core) for the burst.
launch 0 2
TOKEN=$(cat "$D/bootstrap-token")
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

# ---- peer: node-oidc-provider, same requests, same load generator
command -v wrk >/dev/null && command -v node >/dev/null || { echo "(wrk or node missing: no peer comparison)"; exit 0; }
PEER_SRC="$root/bench/iam/peer"
CACHE="${BW_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bulwark-node}/iam-peer-$(sha256sum "$PEER_SRC/package-lock.json" | cut -c1-16)"
if [ ! -d "$CACHE/node_modules/oidc-provider" ]; then
  mkdir -p "$CACHE" && cp "$PEER_SRC/package.json" "$PEER_SRC/package-lock.json" "$CACHE/"
  (cd "$CACHE" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) || { echo "(npm ci failed: no peer comparison)"; exit 0; }
fi
cp "$PEER_SRC/op.mjs" "$CACHE/"
json() { /usr/bin/python3 -c 'import json,sys;print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
# One event-loop thread and one pool thread against node's one thread.
launch 1 1
A=(-H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json')
curl -fsS "${A[@]}" -d '{"name":"bench"}' "$BASE/api/v1/iam/tenants" >/dev/null
r=$(curl -fsS "${A[@]}" -d '{"name":"bench","redirect_uris":"https://bench.example/cb","grant_types":"client_credentials","scopes":"api.read"}' "$BASE/api/v1/iam/tenants/bench/oidc/clients")
BCID=$(json client_id <<<"$r"); BSEC=$(json client_secret <<<"$r")
PSEC="peer-secret-$RANDOM$RANDOM$RANDOM"
(cd "$CACHE" && exec node op.mjs "$PSEC") >"$dir/op.log" 2>&1 &
OP=$!
for _ in $(seq 1 100); do grep -q '^port ' "$dir/op.log" && break; sleep 0.1; done
PPORT=$(awk '/^port /{print $2}' "$dir/op.log")
cat >"$dir/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = os.getenv("BODY")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = os.getenv("AUTH")
LUA
b64() { printf '%s' "$1" | base64 -w0; }
rate() { # rate URL BODY AUTH -> requests/s (non-2xx answers fail the run)
  local out
  out=$(BODY="$2" AUTH="$3" wrk -t1 -c16 -d"${BENCH_SECONDS:-5}"s -s "$dir/post.lua" "$1")
  if grep -q 'Non-2xx' <<<"$out"; then echo "error: non-2xx answers from $1" >&2; echo 0; return; fi
  awk '/^Requests\/sec/ {printf "%.0f", $2}' <<<"$out"
}
BAUTH="Basic $(b64 "$BCID:$BSEC")"
PAUTH="Basic $(b64 "bench:$PSEC")"
CC="grant_type=client_credentials&scope=api.read"
b_cc=$(rate "$BASE/oidc/bench/token" "$CC" "$BAUTH")
p_cc=$(rate "http://127.0.0.1:$PPORT/token" "$CC" "$PAUTH")
BT=$(curl -fsS -H "Authorization: $BAUTH" -d "$CC" "$BASE/oidc/bench/token" | json access_token)
PT=$(curl -fsS -H "Authorization: $PAUTH" -d "$CC&resource=https%3A%2F%2Fopaque.example" "http://127.0.0.1:$PPORT/token" | json access_token)
b_in=$(rate "$BASE/oidc/bench/introspect" "token=$BT" "$BAUTH")
p_in=$(rate "http://127.0.0.1:$PPORT/token/introspection" "token=$PT" "$PAUTH")
ratio() { /usr/bin/python3 -c 'import sys;a,b=float(sys.argv[1]),float(sys.argv[2]);print("%.2f" % (a/b) if b else "n/a")' "$1" "$2"; }
echo
echo "| over HTTP, wrk 16 connections ($cores cores) | bulwark /s | node-oidc-provider /s | ratio |"
echo "|---|---:|---:|---:|"
echo "| client credentials, ES256 JWT access token | $b_cc | $p_cc | $(ratio "$b_cc" "$p_cc") |"
echo "| introspection (bulwark: JWT verify + revocation list; peer: opaque token, in-memory) | $b_in | $p_in | $(ratio "$b_in" "$p_in") |"
