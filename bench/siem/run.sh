#!/usr/bin/env bash
# The SIEM benchmark, side by side in one run (called by bench/run.sh):
#  1. syslog over TCP, rsyslog from Debian (imtcp -> one file, no rules)
#     against bulwark (receive, frame, parse, match 100+ Sigma rules,
#     correlate, alert, store in SQLite) as the whole daemon and as the
#     SIEM service alone, 1 and 4 connections, through
#     bench/siem/syslog_bench.sh; the median of ROUNDS runs;
#  2. in-process detection throughput against the number of rules (10,
#     100, 1000) with siem_bench (one thread: parse + normalise + match).
# Prints Markdown tables (ratios against rsyslog) and the raw lines.
#
#   bench/siem/run.sh [BUILD_DIR] [-- siem_bench args, e.g. -n 2000000]
# Environment: BW_BENCH_QUICK=1 (3 s runs, one round), SIEM_BENCH_SECS,
# SIEM_BENCH_ROUNDS (default 3).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
[ $# -gt 0 ] && shift
[ "${1:-}" = "--" ] && shift
if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
ninja -C "$build" siem_bench siem_testd bulwark >/dev/null
secs=${SIEM_BENCH_SECS:-5}
rounds=${SIEM_BENCH_ROUNDS:-3}
if [ "${BW_BENCH_QUICK:-0}" = 1 ]; then secs=3; rounds=1; fi
raw=$(mktemp /tmp/bw-siem-bench-out.XXXXXX)
trap 'rm -f "$raw"' EXIT

bash "$root/bench/siem/syslog_bench.sh" "$build" "$secs" "$rounds" | tee "$raw" >&2
cd "$root"
"$build/siem_bench" -r "$root/tests/siem/rules" "$@" | tee -a "$raw" >&2

/usr/bin/python3 - "$raw" "$(nproc)" "$secs" "$rounds" <<'EOF'
import re, statistics, sys
raw, cpus, secs, rounds = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
runs = {}
nrules = "?"
bench = []
for line in open(raw):
    m = re.match(r"# (\d+) Sigma rules", line)
    if m:
        nrules = m.group(1)
    m = re.match(r"(rsyslog|bulwark|daemon)\s+conns=(\d+)(?: durability=(\w+))?.*?"
                 r"events_per_s=(\d+) cpu_us_per_event=([\d.]+)", line)
    if m:
        key = (m.group(1), m.group(3) or "", int(m.group(2)))
        runs.setdefault(key, []).append((float(m.group(4)), float(m.group(5))))
    m = re.match(r"(parse \+ normalise|\+ match (\d+) rules)\s+(\d+) events/s", line)
    if m:
        bench.append((m.group(1), int(m.group(3))))
def med(key, i):
    v = [r[i] for r in runs.get(key, [])]
    return statistics.median(v) if v else None
print()
print("Syslog over TCP (RFC 5424, 206-byte sshd lines from sysloggen), "
      "%s s per run, median of %s, %s CPUs; bulwark matches %s Sigma rules."
      % (secs, rounds, cpus, nrules))
print()
print("| receiver | 1 connection | vs rsyslog | 4 connections | vs rsyslog | CPU per event |")
print("|---|---:|---:|---:|---:|---:|")
rows = [("rsyslog, imtcp → file", ("rsyslog", "")),
        ("bulwark daemon (`bulwark serve`), durability normal", ("daemon", "normal")),
        ("bulwark SIEM service alone, durability normal", ("bulwark", "normal")),
        ("bulwark SIEM service alone, durability full", ("bulwark", "full"))]
for label, (who, dur) in rows:
    cells = []
    for c in (1, 4):
        r, base = med((who, dur, c), 0), med(("rsyslog", "", c), 0)
        cells.append("%s /s" % format(int(r), ",") if r else "–")
        cells.append("%.2f×" % (r / base) if r and base else "–")
    cpu = med((who, dur, 1), 1)
    print("| %s | %s | %s | %s | %s | %s |" % (label, *cells,
          "%.1f µs" % cpu if cpu else "–"))
print()
print("In-process detection, one thread (parse + normalise + match):")
print()
print("| rules | events/s | vs the smallest rule set |")
print("|---|---:|---:|")
matched = [b for b in bench if not b[0].startswith("parse")]
base = matched[0][1] if matched else None
for name, eps in bench:
    if name.startswith("parse"):
        print("| none (parse + normalise only) | %s | – |" % format(eps, ","))
        continue
    print("| %s | %s | %s |" % (name.split()[2], format(eps, ","),
          "%.2f×" % (eps / base) if base else "–"))
EOF
