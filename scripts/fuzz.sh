#!/usr/bin/env bash
# `make fuzz`: builds every libFuzzer target with clang (ASan+UBSan) and runs
# each for SECONDS (default 60) on a copy of its seed corpus. New inputs land
# in build-fuzz/corpus/<target>; crashes stop the run with the reproducer.
set -uo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build-fuzz}
secs=${2:-60}
CC=clang cmake -S . -B "$dir" -G Ninja -DBW_FUZZ=ON >/dev/null || exit 1
targets=$(cut -d'|' -f1 "$dir/fuzz_targets.txt" | tr '\n' ' ')
# shellcheck disable=SC2086
ninja -C "$dir" $targets || exit 1
rc=0
while IFS='|' read -r name corpus; do
  [ -n "$name" ] || continue
  mkdir -p "$dir/corpus/$name"
  cp -rn "$corpus"/. "$dir/corpus/$name"/ 2>/dev/null
  dict=$(ls "$(dirname "$corpus")/$name.dict" 2>/dev/null)
  echo "fuzz: $name for ${secs}s"
  (cd "$dir" && "./$name" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
     ${dict:+-dict="$dict"} "corpus/$name") || { echo "fuzz: $name FAILED"; rc=1; }
done < "$dir/fuzz_targets.txt"
exit $rc
