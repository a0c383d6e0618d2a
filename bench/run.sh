#!/usr/bin/env bash
# `make bench`: every benchmark of the project, one area after another.
#
#   bench/run.sh [BULWARK_BINARY] [--only AREA[,AREA...]] [--quick]
#                [--rounds N] [--out FILE]
#
# Areas (default: all, in this order):
#   http           bulwark vs nginx, static response throughput/latency (wrk)
#   memory         bulwark vs nginx, idle RSS and memory per idle connection
#   tls-handshake  bulwark vs nginx, TLS 1.3 full handshakes per second
#   audit          durable audit appends/s, verify time   (bench/audit/run.sh)
#   json store waf gateway kms siem iam authz pki
#                  each area's own bench/<area>/run.sh, called with the
#                  build directory; skipped with a note when it is missing
#
# --quick shortens everything (1 round, 3 s runs, 2,000 idle connections,
# 100,000 audit records): a smoke test, not numbers to publish.
# The foundation areas print Markdown tables (docs/benchmarks.md explains
# them); everything is also collected in --out (default
# /tmp/bulwark-bench.md). Servers run on loopback only, on ports picked at
# run time, and are stopped by PID when the run ends or is interrupted.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"

BW="$ROOT/build/bulwark"
ALL="http,memory,tls-handshake,audit,json,store,waf,gateway,kms,siem,iam,authz,pki"
ONLY="$ALL"; QUICK=0; ROUNDS=""; OUT="/tmp/bulwark-bench.md"
while [ $# -gt 0 ]; do
  case "$1" in
    --only) ONLY="$2"; shift 2;;
    --quick) QUICK=1; shift;;
    --rounds) ROUNDS="$2"; shift 2;;
    --out) OUT="$2"; shift 2;;
    -h|--help) sed -n '2,22p' "$0"; exit 0;;
    -*) echo "bench/run.sh: unknown option $1" >&2; exit 2;;
    *) BW="$1"; shift;;
  esac
done
for a in ${ONLY//,/ }; do
  case ",$ALL," in *",$a,"*) ;; *) echo "bench/run.sh: unknown area '$a' (areas: $ALL)" >&2; exit 2;; esac
done
want() { case ",$ONLY," in *",$1,"*) return 0;; *) return 1;; esac; }
[ -x "$BW" ] || { echo "bench/run.sh: no bulwark binary at $BW (run make build)" >&2; exit 1; }
BUILD="$(cd "$(dirname "$BW")" && pwd)"
export BW_BENCH_QUICK=$QUICK

: >"$OUT"
status=0
note() { printf '%s\n' "$*" | tee -a "$OUT"; }

# ------------------------------------------------------------ foundation
fa=""
for a in http memory tls-handshake; do want "$a" && fa="$fa,$a"; done
if [ -n "$fa" ]; then
  args=(--bulwark "$BW" --only "${fa#,}" --out "$OUT.foundation")
  [ "$QUICK" = 1 ] && args+=(--quick)
  [ -n "$ROUNDS" ] && args+=(--rounds "$ROUNDS")
  if "$HERE/foundation/run.sh" "${args[@]}"; then :; else status=1; note "foundation benchmarks FAILED"; fi
  [ -f "$OUT.foundation" ] && cat "$OUT.foundation" >>"$OUT" && rm -f "$OUT.foundation"
fi

# ------------------------------------------------------------ other areas
run_area() {  # AREA [ARGS...]: bench/AREA/run.sh BUILD ARGS, output kept in $OUT
  local a="$1" s="$HERE/$1/run.sh" rc=0; shift
  if [ ! -x "$s" ] && [ ! -f "$s" ]; then
    note ""; note "## $a: skipped (bench/$a/run.sh does not exist yet)"
    return 0
  fi
  note ""; note "## $a (bench/$a/run.sh)"; note ""; note '```'
  bash "$s" "$BUILD" "$@" 2>&1 | tee -a "$OUT" || rc=$?
  note '```'
  if [ "$rc" != 0 ]; then note "bench/$a/run.sh FAILED (exit $rc)"; status=1; fi
}

if want audit; then
  # bench/audit/run.sh BUILD_DIR DATA_DIR SECONDS RECORDS; the data dir must
  # be on a real disk (fsync on tmpfs measures nothing).
  if [ "$QUICK" = 1 ]; then run_area audit /var/tmp/bw-audit-bench 2 100000
  else run_area audit; fi
fi
for a in json store waf gateway kms siem iam authz pki; do want "$a" && run_area "$a"; done

note ""
note "bench/run.sh: results collected in $OUT"
exit $status
