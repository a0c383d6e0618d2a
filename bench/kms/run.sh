#!/usr/bin/env bash
# KMS / PKCS#11 benchmark, side by side in one run (issue 3):
#   (a) bulwark's libbulwark-pkcs11.so -> worker -> key process (p11bench)
#   (b) SoftHSM2 through its own PKCS#11 module, same harness (p11bench)
#   (c) the REST API (/api/v1/kms) with wrk over HTTPS
#   (d) `openssl speed`, one process on one core: the ceiling
# for ECDSA P-256 signatures, RSA-2048 signatures (PKCS#1 v1.5, SHA-256)
# and AES-256-GCM encryptions of 1 KiB; plus the batch call
# (C_BulwarkEncryptBatch, 64 messages per call) and kms_bench (the
# in-process client, no PKCS#11 or HTTP). Prints a Markdown table with
# the ratios the issue sets goals for.
#   bench/kms/run.sh [BUILD_DIR] [SECONDS]
# Every process it starts is stopped by PID; ports are picked by the
# daemon (port 0); nothing listens beyond 127.0.0.1.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
secs=${2:-3}
if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
ninja -C "$build" bulwark bulwark-pkcs11 p11bench kms_bench >/dev/null || exit 1
for t in pkcs11-tool softhsm2-util wrk openssl; do
  command -v $t >/dev/null || { echo "bench/kms: $t missing (apt-get install opensc softhsm2 wrk)" >&2; exit 1; }
done
SOFTHSM=${SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
[ -f "$SOFTHSM" ] || { echo "bench/kms: $SOFTHSM missing (apt-get install softhsm2)" >&2; exit 1; }
BW_MOD="$build/libbulwark-pkcs11.so"
P11B="$build/p11bench"
tmp=$(mktemp -d /tmp/bwbench-kms.XXXXXX)
chmod 755 "$tmp" # the worker runs as an unprivileged user under it
SUP=
cleanup() {
  if [ -n "$SUP" ]; then kill -TERM "$SUP" 2>/dev/null; wait "$SUP" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# ---------------------------------------------------------------- bulwark
D="$tmp/bw"
"$build/bulwark" init --dir "$D" >"$tmp/init.log" 2>&1
start_daemon() { # start_daemon [EXTRA_YAML]
  cat >"$D/bulwark.yaml" <<YAML
server:
  data_dir: "$D"
  workers: 2
log:
  level: warn
listeners:
  - {name: admin, kind: admin, port: 0, tls: true}
${1:-}
YAML
  rm -f "$D/run/ports.json"
  "$build/bulwark" serve -c "$D/bulwark.yaml" >>"$tmp/daemon.log" 2>&1 &
  SUP=$!
  for _ in $(seq 1 200); do [ -s "$D/run/ports.json" ] && [ -S "$D/run/pkcs11.sock" ] && break; sleep 0.05; done
  [ -S "$D/run/pkcs11.sock" ] || { echo "bench/kms: daemon did not start" >&2; tail "$tmp/daemon.log" >&2; exit 1; }
}
stop_daemon() { kill -TERM "$SUP"; wait "$SUP" 2>/dev/null || true; SUP=; }
start_daemon
PORT=$(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["admin"]["port"])' "$D/run/ports.json")
TOKEN=$(cat "$D/bootstrap-token")
export BULWARK_PKCS11_SOCKET="$D/run/pkcs11.sock"
BP=(pkcs11-tool --module "$BW_MOD" --token-label platform --login --pin "$TOKEN")
"${BP[@]}" --keypairgen --key-type EC:prime256v1 --label ec >/dev/null 2>&1
"${BP[@]}" --keypairgen --key-type rsa:2048 --label rsa >/dev/null 2>&1
"${BP[@]}" --keygen --key-type AES:32 --label aes >/dev/null 2>&1

# ---------------------------------------------------------------- SoftHSM2
export SOFTHSM2_CONF="$tmp/softhsm2.conf"
mkdir -p "$tmp/tokens"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
  "$tmp/tokens" >"$SOFTHSM2_CONF"
softhsm2-util --init-token --free --label bench --pin 123456 --so-pin 654321 >/dev/null
SP=(pkcs11-tool --module "$SOFTHSM" --token-label bench --login --pin 123456)
"${SP[@]}" --keypairgen --key-type EC:prime256v1 --label ec >/dev/null 2>&1
"${SP[@]}" --keypairgen --key-type rsa:2048 --label rsa >/dev/null 2>&1
"${SP[@]}" --keygen --key-type AES:32 --label aes >/dev/null 2>&1

# Two measures per cell: operations per second of wall time (what a
# caller sees; on a loaded machine a three-process path gets a larger
# share of the CPUs than a one-process one), and operations per
# CPU-second of every process involved (p11bench, and for bulwark also
# the worker and the key process): the cost of an operation, whatever
# else the machine is doing.
daemon_ticks() { # utime + stime of the supervisor's children
  local t=0 p
  for p in $(pgrep -P "$SUP"); do
    t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat")))
  done
  echo $t
}
HZ=$(getconf CLK_TCK)
declare -A R C
measure() { # measure KEY MODULE TOKEN PIN LABEL OP THREADS [daemon]
  local k=$1 t0 t1 out; shift
  [ "${7:-}" = daemon ] && t0=$(daemon_ticks)
  out=$("$P11B" "$1" "$2" "$3" "$4" "$5" "$secs" "$6")
  R[$k]=$(sed -n 's/.*ops_per_s=\([0-9]*\).*/\1/p' <<<"$out")
  local ops cpu
  ops=$(sed -n 's/.* ops=\([0-9]*\).*/\1/p' <<<"$out")
  cpu=$(sed -n 's/.*cpu_s=\([0-9.]*\).*/\1/p' <<<"$out")
  if [ "${7:-}" = daemon ]; then
    t1=$(daemon_ticks)
    cpu=$(awk -v c="$cpu" -v d=$((t1 - t0)) -v hz="$HZ" 'BEGIN { print c + d / hz }')
  fi
  C[$k]=$(awk -v o="$ops" -v c="$cpu" 'BEGIN { if (c > 0) printf "%.0f", o / c; else print "?" }')
}
for th in 1 2; do
  measure bw_ec_$th "$BW_MOD" platform "$TOKEN" ec ecdsa $th daemon
  measure sh_ec_$th "$SOFTHSM" bench 123456 ec ecdsa $th
  measure bw_rsa_$th "$BW_MOD" platform "$TOKEN" rsa rsa $th daemon
  measure sh_rsa_$th "$SOFTHSM" bench 123456 rsa rsa $th
  measure bw_gcm_$th "$BW_MOD" platform "$TOKEN" aes aesgcm $th daemon
  measure sh_gcm_$th "$SOFTHSM" bench 123456 aes aesgcm $th
  measure bw_gcmb_$th "$BW_MOD" platform "$TOKEN" aes aesgcm-batch $th daemon
done

# ---------------------------------------------------------------- REST (wrk)
U="https://127.0.0.1:$PORT/api/v1/kms/tenants/platform/keys"
curl -sS --cacert "$D/tls/ca.crt" -o /dev/null -H "Authorization: Bearer $TOKEN" \
  -H 'Content-Type: application/json' -d '{"name":"rest-ec","type":"ecdsa-p256"}' "${U/127.0.0.1/localhost}"
curl -sS --cacert "$D/tls/ca.crt" -o /dev/null -H "Authorization: Bearer $TOKEN" \
  -H 'Content-Type: application/json' -d '{"name":"rest-rsa","type":"rsa-2048"}' "${U/127.0.0.1/localhost}"
curl -sS --cacert "$D/tls/ca.crt" -o /dev/null -H "Authorization: Bearer $TOKEN" \
  -H 'Content-Type: application/json' -d '{"name":"rest-aes","type":"aes256-gcm"}' "${U/127.0.0.1/localhost}"
DIG=$(head -c 32 /dev/zero | tr '\0' 'Z' | base64 -w0)
KB=$(head -c 1024 /dev/zero | tr '\0' 'Z' | base64 -w0)
wrk_rate() { # wrk_rate PATH BODY
  cat >"$tmp/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '$2'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $TOKEN"
local bad = 0
response = function(status) if status ~= 200 then bad = bad + 1 end end
done = function() if bad > 0 then io.stderr:write("non-200 answers: " .. bad .. "\n") end end
LUA
  wrk -t2 -c16 -d"${secs}s" -s "$tmp/post.lua" "$U/$1" 2>"$tmp/wrk.err" |
    awk '/^Requests\/sec/ {printf "%.0f", $2}'
  if [ -s "$tmp/wrk.err" ]; then cat "$tmp/wrk.err" >&2; fi
}
R[rest_ec]=$(wrk_rate rest-ec/sign "{\"message\":\"$DIG\",\"prehashed\":true,\"hash\":\"sha256\"}")
R[rest_rsa]=$(wrk_rate rest-rsa/sign "{\"message\":\"$DIG\",\"prehashed\":true,\"hash\":\"sha256\"}")
R[rest_gcm]=$(wrk_rate rest-aes/encrypt "{\"plaintext\":\"$KB\"}")

stop_daemon

# The same signatures and single encryptions with kms.pkcs11.audit:
# per_second (counted audit records instead of one per operation).
start_daemon 'kms:
  pkcs11:
    audit: per_second'
for th in 1 2; do
  measure ba_ec_$th "$BW_MOD" platform "$TOKEN" ec ecdsa $th daemon
  measure ba_rsa_$th "$BW_MOD" platform "$TOKEN" rsa rsa $th daemon
  measure ba_gcm_$th "$BW_MOD" platform "$TOKEN" aes aesgcm $th daemon
done
stop_daemon

# ---------------------------------------------------------------- ceiling
ec=$(openssl speed -seconds "$secs" ecdsap256 2>/dev/null | awk '/256 bits ecdsa/ {print $(NF-1)}')
rsa=$(openssl speed -seconds "$secs" rsa2048 2>/dev/null | awk '/^rsa 2048 bits/ {print $(NF-1)}')
gcm=$(openssl speed -seconds "$secs" -evp aes-256-gcm -bytes 1024 2>/dev/null |
      awk '/^AES-256-GCM/ {v=$NF; sub(/k$/, "", v); printf "%.0f", v * 1000 / 1024}')

ratio() { awk -v a="${1:-0}" -v b="${2:-0}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "?" }'; }
row() { # row LABEL THREADS BW_KEY SH_KEY GOAL REST
  local rest=${6:-} rr=
  [ -n "$rest" ] && rr=$(ratio "$rest" "${R[$3]}")
  echo "| $1 | $2 | ${R[$3]} | ${R[$4]} | $(ratio "${R[$3]}" "${R[$4]}") | ${C[$3]} | ${C[$4]} | $(ratio "${C[$3]}" "${C[$4]}") | $5 | $rest | $rr |"
}
echo
echo "PKCS#11 and REST, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(openssl version | cut -d' ' -f1-2), ${secs} s per cell"
echo
echo "| operation | threads | bulwark PKCS#11 ops/s | SoftHSM2 ops/s | ratio | bulwark ops per CPU-s | SoftHSM2 ops per CPU-s | ratio (CPU) | goal | REST ops/s (wrk, 16 conn) | REST / PKCS#11 |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for th in 1 2; do
  re=; rr=; rg=
  [ $th = 2 ] && { re=${R[rest_ec]}; rr=${R[rest_rsa]}; rg=${R[rest_gcm]}; }
  row "ECDSA P-256 sign" $th bw_ec_$th sh_ec_$th "≥ 1.0" "$re"
  row "RSA-2048 sign" $th bw_rsa_$th sh_rsa_$th "≥ 1.0" "$rr"
  row "AES-256-GCM 1 KiB, single call" $th bw_gcm_$th sh_gcm_$th "≥ 0.5" "$rg"
  row "AES-256-GCM 1 KiB, batch of 64" $th bw_gcmb_$th sh_gcm_$th "≥ 1.0" ""
done
for th in 1 2; do
  row "ECDSA P-256 sign, audit per_second" $th ba_ec_$th sh_ec_$th "≥ 1.0" ""
  row "RSA-2048 sign, audit per_second" $th ba_rsa_$th sh_rsa_$th "≥ 1.0" ""
  row "AES-256-GCM 1 KiB single, audit per_second" $th ba_gcm_$th sh_gcm_$th "≥ 0.5" ""
done
echo
echo "REST goal: within 2x of the PKCS#11 path (REST / PKCS#11 >= 0.5)."
echo
echo "openssl speed, one process (the ceiling): ECDSA P-256 ${ec:-?} sign/s, RSA-2048 ${rsa:-?} sign/s, AES-256-GCM 1 KiB ${gcm:-?} enc/s"
echo
echo "kms_bench (in-process kms_client -> key process, no PKCS#11 or HTTP):"
"$build/kms_bench" -s "$secs" 2>/dev/null | tail -n +1 || true
