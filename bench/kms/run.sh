#!/usr/bin/env bash
# Builds and runs the KMS benchmark: ECDSA P-256 and RSA-2048 signatures/s
# and AES-256-GCM 1 KiB encryptions/s through kms_client -> keystore
# process (single calls, threads, batches), and `openssl speed` for the
# same operations on one core of the same machine as the ceiling.
#   bench/kms/run.sh [BUILD_DIR] [-- kms_bench args, e.g. -s 5 -t 8]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
[ $# -gt 0 ] && shift
[ "${1:-}" = "--" ] && shift
if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
ninja -C "$build" kms_bench >/dev/null
secs=3
"$build/kms_bench" -s "$secs" "$@"
echo
echo "openssl speed (one process, one core: the ceiling), $(openssl version | cut -d' ' -f1-2):"
echo
ec=$(openssl speed -seconds "$secs" ecdsap256 2>/dev/null | awk '/256 bits ecdsa/ {print $(NF-1)}')
rsa=$(openssl speed -seconds "$secs" rsa2048 2>/dev/null | awk '/^rsa 2048 bits/ {print $(NF-1)}')
gcm=$(openssl speed -seconds "$secs" -evp aes-256-gcm -bytes 1024 2>/dev/null |
      awk '/^AES-256-GCM/ {v=$NF; sub(/k$/, "", v); printf "%.0f", v * 1000 / 1024}')
echo "| operation | openssl speed |"
echo "|---|---:|"
echo "| ECDSA P-256 sign | ${ec:-?} |"
echo "| RSA-2048 sign | ${rsa:-?} |"
echo "| AES-256-GCM encrypt 1 KiB | ${gcm:-?} |"
