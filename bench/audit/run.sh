#!/bin/sh
# Audit log benchmark: durable appends/s with 1, 8, 64 threads, then
# write + verify + reopen of 1,000,000 records.
#   bench/audit/run.sh [BUILD_DIR] [DATA_DIR] [SECONDS_PER_RUN] [RECORDS]
# DATA_DIR must be on a real disk (fsync on tmpfs measures nothing).
set -eu
BUILD=${1:-build}
DIR=${2:-/var/tmp/bw-audit-bench}
SECS=${3:-5}
N=${4:-1000000}
ninja -C "$BUILD" audit_bench >/dev/null
mkdir -p "$DIR"
echo "audit bench: $(nproc) CPUs, data dir $DIR ($(df -T "$DIR" | awk 'NR==2{print $2}'))"
"$BUILD/audit_bench" "$DIR" "$SECS" "$N"
rm -rf "$DIR"
