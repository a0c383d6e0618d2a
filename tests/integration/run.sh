#!/usr/bin/env bash
# Runs every integration test (t_*.sh, t_*.py) against a built bulwark
# (BULWARK_BIN, default build/bulwark) and prints
# "integration: N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")"
export BULWARK_BIN=${BULWARK_BIN:-$(cd ../.. && pwd)/build/bulwark}
# The worker drops privileges (not dumpable), so LeakSanitizer cannot attach
# to it; leaks are checked by the unit tests instead.
export ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0
pass=0; failn=0; failed=()
for t in t_*.sh t_*.py; do
  [ -e "$t" ] || continue
  s=$(date +%s)
  if [ "${t##*.}" = py ]; then cmd=(/usr/bin/python3 "$t"); else cmd=(bash "$t"); fi
  if out=$(timeout 300 "${cmd[@]}" 2>&1); then
    pass=$((pass + 1)); echo "PASS $t ($(( $(date +%s) - s ))s)"
  else
    failn=$((failn + 1)); failed+=("$t"); echo "FAIL $t ($(( $(date +%s) - s ))s)"
    echo "$out" | tail -60 | sed 's/^/    /'
  fi
done
echo "integration: $pass passed, $failn failed"
[ "$failn" -eq 0 ]
