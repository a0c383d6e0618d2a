#!/usr/bin/env bash
# The CA's benchmarks, in one run:
#  1. certificates issued per second (ECDSA P-256 and RSA-2048 CAs),
#  2. OCSP responses per second and latency for a CA with N issued and
#     N/10 revoked certificates: bulwark (POST and GET) vs `openssl ocsp`
#     as the responder on the same index, and bulwark's own static
#     response through the same net stack as the ceiling (wrk).
#   bench/pki/run.sh [BUILD_DIR] [-- N_CERTS [SECONDS]]
# BW_BENCH_QUICK=1 shortens everything (100k certificates, 3 s runs).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
[ $# -gt 0 ] && shift
[ "${1:-}" = "--" ] && shift
n=${1:-1000000}; secs=${2:-10}
if [ "${BW_BENCH_QUICK:-0}" = 1 ]; then n=100000; secs=3; fi
if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
ninja -C "$build" pki_bench >/dev/null
command -v wrk >/dev/null || { echo "bench/pki: wrk is not installed"; exit 1; }
dir=$(mktemp -d "${BW_BENCH_DIR:-/var/tmp}/bw-pki-bench.XXXXXX")
pids=()
# openssl ocsp -multi forks workers and its parent does not always stop on
# TERM: stop the children of each process we started, then the process.
cleanup() {
  for p in "${pids[@]}"; do
    pkill -TERM -P "$p" 2>/dev/null || true
    kill "$p" 2>/dev/null || true
    sleep 0.2
    kill -9 "$p" 2>/dev/null || true
  done
  rm -rf "$dir"
}
trap cleanup EXIT

echo "== issuance (dev key backend in process; CSR parse, sign, self-check, store, OCSP pre-sign)"
mkdir -p "$dir/issue"
"$build/pki_bench" issue -d "$dir/issue" -k ec-p256 -n 2000 -t 1 2>/dev/null
"$build/pki_bench" issue -d "$dir/issue" -k rsa-2048 -n 1000 -t 1 2>/dev/null
"$build/pki_bench" issue -d "$dir/issue" -k ec-p256 -n 2000 -t 2 2>/dev/null

echo "== OCSP: CA with $n certificates, $((n / 10)) revoked"
"$build/pki_bench" serve -d "$dir" -N "$n" -R $((n / 10)) -w 2 >"$dir/serve.out" 2>"$dir/serve.err" &
pids+=($!)
for _ in $(seq 1 3600); do grep -q '^ready' "$dir/serve.out" 2>/dev/null && break; sleep 1; done
grep -q '^ready' "$dir/serve.out" || { grep -v '"level"' "$dir/serve.err" || true; exit 1; }
grep -v '"level"' "$dir/serve.err" || true
port=$(awk '/^ready/ {print $2}' "$dir/serve.out")
ca=$(cat "$dir/ca.id")
# ask about a certificate both responders know (a synthetic row; the
# second line of the index is a good one)
serial=$(sed -n 2p "$dir/index.txt" | cut -f4)
( cd "$dir" && openssl ocsp -issuer ca.pem -serial "0x$serial" -no_nonce -reqout req.der >/dev/null 2>&1 )
b64=$(base64 -w0 "$dir/req.der" | sed -e 's/+/%2B/g' -e 's#/#%2F#g' -e 's/=/%3D/g')
cat >"$dir/post.lua" <<LUA
local f = io.open("$dir/req.der", "rb"); local body = f:read("*a"); f:close()
wrk.method = "POST"; wrk.body = body
wrk.headers["Content-Type"] = "application/ocsp-request"
LUA
# openssl's own responder on the same index, same responder key
oport=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
( cd "$dir" && exec openssl ocsp -index index.txt -port "$oport" -rsigner responder.pem \
    -rkey responder.key -CA ca.pem -nmin 60 -multi 2 >"$dir/openssl.log" 2>&1 ) &
pids+=($!)
ask() { ( cd "$dir" && openssl ocsp -url "$1" -issuer ca.pem -serial "0x$serial" -CAfile chain.pem \
    -no_nonce 2>&1 | grep -q ': good' ); }
for _ in $(seq 1 120); do ask "http://127.0.0.1:$oport/" && break; sleep 1; done
ask "http://127.0.0.1:$oport/" || { echo "   (warning: openssl ocsp did not answer good)"; tail -3 "$dir/openssl.log"; }
ask "http://127.0.0.1:$port/ocsp/$ca" || echo "   (warning: bulwark did not answer good)"
run() {  # label url [script]
  local out
  out=$(wrk -t2 -c64 -d"${secs}s" --latency ${3:+-s "$3"} "$2" 2>&1) || true
  printf '%-34s %10s req/s   p50 %8s   p99 %8s\n' "$1" \
    "$(awk '/Requests\/sec/ {print $2}' <<<"$out")" \
    "$(awk '$1=="50%" {print $2}' <<<"$out")" "$(awk '$1=="99%" {print $2}' <<<"$out")"
}
run "bulwark static (ceiling)" "http://127.0.0.1:$port/static"
run "bulwark OCSP POST" "http://127.0.0.1:$port/ocsp/$ca" "$dir/post.lua"
run "bulwark OCSP GET" "http://127.0.0.1:$port/ocsp/$ca/$b64"
run "openssl ocsp -multi 2, POST" "http://127.0.0.1:$oport/" "$dir/post.lua"
echo "machine: $(nproc) vCPU, load average $(cut -d' ' -f1-3 /proc/loadavg)"
