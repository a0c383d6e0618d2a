#!/usr/bin/env bash
# `make test`: every test bulwark has, in stages, each timed:
#   deps → release build → unit + corpus replay (CTest) → ASan/UBSan build →
#   unit + replay under sanitizers → integration tests with real clients
#   (against the sanitizer build) → short fuzzing runs → source checks.
# Ends with one line "N passed, N failed" over every runner; exits non-zero
# when anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
JOBS=${JOBS:-2}
FUZZ_SECONDS=${FUZZ_SECONDS:-4}
FUZZ_RUNS=${FUZZ_RUNS:-20000}
PASSED=0
FAILED=0
FAILED_NAMES=()
T0=$(date +%s)

stage() { # stage NAME COMMAND...
  local name=$1; shift
  local s=$(date +%s)
  echo "=== stage: $name"
  "$@"
  local rc=$?
  echo "=== stage: $name took $(( $(date +%s) - s ))s (rc=$rc)"
  return $rc
}

count() { # count PASSED FAILED NAME
  PASSED=$((PASSED + $1)); FAILED=$((FAILED + $2))
  [ "$2" -gt 0 ] && FAILED_NAMES+=("$3")
  return 0
}

configure_build() { # configure_build DIR [cmake args...]
  local dir=$1; shift
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >"$dir.cmake.log" 2>&1 ||
    { mkdir -p "$dir"; cat "$dir.cmake.log"; return 1; }
  ninja -C "$dir" -j"$JOBS" >"$dir.ninja.log" 2>&1 || { grep -E 'error|FAILED' -A3 "$dir.ninja.log" | head -60; return 1; }
}

run_ctest() { # run_ctest DIR LABEL
  local dir=$1 name=$2 out
  out=$(cd "$dir" && ctest -j"$JOBS" --output-on-failure --timeout 600 2>&1)
  echo "$out" | grep -E '^\s*[0-9]+/[0-9]+ Test|tests passed|FAILED|Failed|\*\*\*' | tail -80
  local total failed
  total=$(echo "$out" | sed -n 's/.*tests failed out of \([0-9]*\).*/\1/p' | tail -1)
  failed=$(echo "$out" | sed -n 's/.* \([0-9]*\) tests failed out of.*/\1/p' | tail -1)
  [ -z "$total" ] && { count 0 1 "$name (ctest did not run)"; return 1; }
  count $((total - failed)) "$failed" "$name"
  [ "$failed" -eq 0 ]
}

stage deps scripts/deps.sh || { echo "deps failed"; echo "0 passed, 1 failed"; exit 1; }

if stage "build (release)" configure_build build; then
  stage "unit + fuzz corpus replay (release)" run_ctest build release
else
  count 0 1 "release build"
fi

if stage "build (ASan+UBSan)" configure_build build-asan -DBW_SANITIZE=ON; then
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
  stage "unit + fuzz corpus replay (ASan+UBSan)" run_ctest build-asan asan
  integ() {
    local out
    out=$(BULWARK_BIN="$ROOT/build-asan/bulwark" tests/integration/run.sh 2>&1)
    local rc=$?
    echo "$out" | tail -120
    local p f
    p=$(echo "$out" | sed -n 's/^integration: \([0-9]*\) passed, \([0-9]*\) failed$/\1/p' | tail -1)
    f=$(echo "$out" | sed -n 's/^integration: \([0-9]*\) passed, \([0-9]*\) failed$/\2/p' | tail -1)
    [ -z "$p" ] && { count 0 1 "integration (runner died)"; return 1; }
    count "$p" "$f" integration
    return $rc
  }
  stage "integration (real clients, ASan build)" integ
else
  count 0 1 "ASan build"
fi

fuzz_smoke() {
  if ! command -v clang >/dev/null; then
    echo "clang missing: fuzz smoke skipped"; count 0 1 "fuzz (no clang)"; return 1
  fi
  CC=clang cmake -S . -B build-fuzz -G Ninja -DBW_FUZZ=ON >build-fuzz.cmake.log 2>&1 ||
    { cat build-fuzz.cmake.log; count 0 1 "fuzz configure"; return 1; }
  local targets; targets=$(cut -d'|' -f1 build-fuzz/fuzz_targets.txt | tr '\n' ' ')
  # shellcheck disable=SC2086
  ninja -C build-fuzz -j"$JOBS" $targets >build-fuzz.ninja.log 2>&1 ||
    { grep -E 'error' -A3 build-fuzz.ninja.log | head -40; count 0 1 "fuzz build"; return 1; }
  local p=0 f=0 name corpus
  while IFS='|' read -r name corpus; do
    [ -n "$name" ] || continue
    local work; work=$(mktemp -d)
    cp -r "$corpus"/. "$work"/ 2>/dev/null
    # A fixed seed and a bounded number of runs make this stage repeatable
    # (the same inputs every time); `make fuzz` is the exploratory run.
    if (cd build-fuzz && timeout $((FUZZ_SECONDS + 60)) "./$name" -seed=1 -runs="$FUZZ_RUNS" \
          -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
          -print_final_stats=0 "$work" >"$name.log" 2>&1); then
      p=$((p + 1)); echo "fuzz $name: ok"
    else
      f=$((f + 1)); echo "fuzz $name: FAILED"; tail -30 "build-fuzz/$name.log"
    fi
    rm -rf "$work"
  done < <(cat build-fuzz/fuzz_targets.txt 2>/dev/null)
  [ $((p + f)) -eq 0 ] && { count 0 1 "fuzz (no targets)"; return 1; }
  count "$p" "$f" fuzz
  [ "$f" -eq 0 ]
}
stage "fuzz smoke (${FUZZ_RUNS} runs or ${FUZZ_SECONDS}s per target, fixed seed)" fuzz_smoke

checks() {
  if scripts/check-src.sh; then count 1 0 check-src; else count 0 1 check-src; return 1; fi
}
stage "source checks" checks

echo
echo "total time $(( $(date +%s) - T0 ))s"
[ ${#FAILED_NAMES[@]} -gt 0 ] && echo "failed in: ${FAILED_NAMES[*]}"
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
