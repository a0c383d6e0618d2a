#!/usr/bin/env bash
# Syslog over TCP, side by side in one run: rsyslog from Debian (its own
# instance: imtcp -> one file, no rules) against bulwark — the whole
# daemon (`bulwark serve` with a syslog_tcp listener: supervisor,
# keystore, worker, event bus and audit log running beside) and the SIEM
# service alone (siem_testd) — each receiving, parsing, matching 100+
# Sigma rules, correlating and storing durably in SQLite, fed by
# sysloggen (the project's anchor load generator) with 1 and 4
# connections.
#
# A run's rate is messages / time until every message sent is in the
# output (rsyslog: lines in its file; bulwark: events committed), so a
# receiver cannot look fast by queueing: both must have taken and
# written everything.
#
#   bench/siem/syslog_bench.sh [BUILD_DIR] [SECONDS] [ROUNDS]
# Each configuration runs ROUNDS times (default 1), interleaved, so a
# burst of other load on the machine hits both receivers alike.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
secs=${2:-5}
rounds=${3:-1}
if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
ninja -C "$build" siem_testd bulwark >/dev/null
T=$(mktemp -d /tmp/bw-siem-bench-XXXXXX)
chmod 755 "$T" # the daemon's worker reads the rules as the bulwark user
PIDS=""
cleanup() {
  for p in $PIDS; do kill "$p" 2>/dev/null || true; done
  for p in $PIDS; do wait "$p" 2>/dev/null || true; done
  rm -rf "$T"
}
trap cleanup EXIT INT TERM
gcc -O2 -o "$T/sysloggen" "$root/bench/siem/sysloggen.c" -lpthread
freeport() { /usr/bin/python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
now() { date +%s.%N; }
# CPU time (user + system, in clock ticks) a process used so far: a rate
# depends on what else the machine runs, CPU per event much less.
hz=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# CPU of a process and its children (the daemon: supervisor, keystore, worker)
tree_ticks() {
  local t=0 p
  for p in "$1" $(pgrep -P "$1"); do t=$((t + $(cpu_ticks "$p" 2>/dev/null || echo 0))); done
  echo "$t"
}
# Per-thread scheduler times of a process: "TID NAME RUN_NS WAIT_NS" (time
# running, and time runnable but waiting for a CPU): whether a receiver
# is short of CPU or waiting on itself (hand-off, commits).
thread_times() {
  local f
  for f in /proc/"$1"/task/*; do
    printf '%s %s %s\n' "${f##*/}" "$(tr ' ' '_' <"$f/comm")" "$(cut -d' ' -f1,2 "$f/schedstat")"
  done 2>/dev/null | sort
}
# thread_report BEFORE AFTER SECONDS: threads that ran over 1 % of a CPU
thread_report() {
  join <(echo "$1") <(echo "$2") | awk -v d="$3" \
    '{r=($6-$3)/1e7/d; w=($7-$4)/1e7/d; if (r>1) printf " %s run=%.0f%% wait=%.0f%%", $2, r, w}'
}
# dport DIR NAME: a listener's port from the daemon's run/ports.json
dport() { /usr/bin/python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))[sys.argv[2]]["port"])' "$1/run/ports.json" "$2"; }
# dstored DIR ADMIN_PORT TOKEN: syslog events the daemon's SIEM has
# stored (its own events from the bus, such as these requests' API
# authentications, are stored too and do not count; bus events refused
# while the queue was full are in bus_events but never stored)
dstored() {
  curl -s --max-time 5 --cacert "$1/tls/ca.crt" -H "Authorization: Bearer $3" \
    "https://localhost:$2/api/v1/siem/stats" |
    /usr/bin/python3 -c 'import json,sys;d=json.load(sys.stdin);print(d["stored"]-(d["bus_events"]-d["refused_bus"]))' \
    2>/dev/null || echo 0
}

# 120 generated detection rules beside the project's own: equality,
# contains, startswith, cidr and keyword rules on sshd fields, most of
# which never match this traffic (as in a real rule set).
mkdir -p "$T/rules"
cp "$root"/tests/siem/rules/*.yml "$T/rules/"
/usr/bin/python3 - "$T/rules" <<'EOF'
import sys
d = sys.argv[1]
for i in range(120):
    k = i % 5
    if k == 0:
        det = "    user.name: benchuser%d\n    event.outcome: failure\n" % i
    elif k == 1:
        det = "    message|contains: 'marker-%d-x'\n" % i
    elif k == 2:
        det = "    source.ip|cidr: '10.%d.0.0/16'\n" % i
    elif k == 3:
        det = "    process.command_line|startswith: '/opt/bench%d/'\n" % i
    else:
        det = "    host.name: 'bench-host-%d'\n    event.action: ssh_login\n" % i
    with open("%s/bench_%03d.yml" % (d, i), "w") as f:
        f.write("title: bench rule %d\nid: 00000000-0000-4000-8000-%012d\n"
                "logsource:\n    product: linux\n    service: sshd\n"
                "detection:\n  sel:\n%s  condition: sel\nlevel: medium\n" % (i, i, det))
EOF
nrules=$(cat "$T"/rules/*.yml | grep -c '^title:')
echo "# $nrules Sigma rules for bulwark; ${secs}s per run; $(nproc) CPUs"

run_rsyslog() { # conns
  local port dir pid sent t0 t1 lines
  port=$(freeport); dir="$T/rs$1"; mkdir -p "$dir"
  cat >"$dir/rsyslog.conf" <<EOF
global(workDirectory="$dir")
module(load="imtcp")
input(type="imtcp" address="127.0.0.1" port="$port")
action(type="omfile" file="$dir/out.log")
EOF
  rsyslogd -n -f "$dir/rsyslog.conf" -i "$dir/pid" >"$dir/stderr" 2>&1 &
  pid=$!; PIDS="$PIDS $pid"
  for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
  t0=$(now)
  sent=$("$T/sysloggen" 127.0.0.1 "$port" "$1" "$secs" | sed -n 's/.*msgs=\([0-9]*\).*/\1/p')
  # the probe connection above sent nothing: lines are exactly the messages
  for _ in $(seq 600); do
    lines=$(wc -l <"$dir/out.log" 2>/dev/null || echo 0)
    [ "$lines" -ge "$sent" ] && break
    sleep 0.05
  done
  t1=$(now)
  cpu=$(cpu_ticks "$pid")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  printf "rsyslog  conns=%d sent=%d written=%d events_per_s=%.0f cpu_us_per_event=%.2f\n" \
    "$1" "$sent" "$lines" "$(awk "BEGIN{print $sent / ($t1 - $t0)}")" \
    "$(awk "BEGIN{print $cpu * 1e6 / $hz / $sent}")"
  rm -rf "$dir"
}

run_bulwark() { # conns durability threads
  local dir pid sent t0 t1 stored
  dir="$T/bw$1$2"; mkdir -p "$dir"
  SIEM_TESTD_YAML="  durability: $2
" "$build/siem_testd" serve "$dir" "$dir/ports" "$T/rules" "$3" 2>"$dir/log" &
  pid=$!; PIDS="$PIDS $pid"
  for _ in $(seq 100); do [ -s "$dir/ports" ] && break; sleep 0.1; done
  eval "$(cat "$dir/ports")"
  th0=$(thread_times "$pid")
  t0=$(now)
  sent=$("$T/sysloggen" 127.0.0.1 "$tcp" "$1" "$secs" | sed -n 's/.*msgs=\([0-9]*\).*/\1/p')
  for _ in $(seq 1200); do
    stored=$("$build/siem_testd" stats "$dir")
    [ "$stored" -ge "$sent" ] && break
    sleep 0.05
  done
  t1=$(now)
  th=$(thread_report "$th0" "$(thread_times "$pid")" "$(awk "BEGIN{print $t1 - $t0}")")
  cpu=$(cpu_ticks "$pid")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  printf "bulwark  conns=%d durability=%s sent=%d stored=%d events_per_s=%.0f cpu_us_per_event=%.2f  (%s)\n" \
    "$1" "$2" "$sent" "$stored" "$(awk "BEGIN{print $sent / ($t1 - $t0)}")" \
    "$(awk "BEGIN{print $cpu * 1e6 / $hz / $sent}")" \
    "$(sed -n 's/siem_testd: //p' "$dir/log" | cut -c1-120)"
  echo "  threads (running / runnable but waiting for a CPU, % of one CPU):$th load=$(cut -d' ' -f1 /proc/loadavg)"
  rm -rf "$dir"
}

run_daemon() { # conns durability
  local dir pid sent t0 t1 stored c0 cpu tcp admin tok
  dir="$T/dm$1$2"; mkdir -p "$dir"
  "$build/bulwark" init --dir "$dir" >"$dir/init.log" 2>&1 || { cat "$dir/init.log"; return 1; }
  tok=$(cat "$dir/bootstrap-token")
  printf '%s\n' "server:" "  data_dir: \"$dir\"" "  workers: 2" "log:" "  level: warn" \
    "listeners:" "  - {name: admin, kind: admin, address: 127.0.0.1, port: 0, tls: true}" \
    "  - {name: systcp, kind: syslog_tcp, address: 127.0.0.1, port: 0}" \
    "siem:" "  rules: [\"$T/rules\"]" "  durability: $2" >"$dir/bulwark.yaml"
  "$build/bulwark" serve -c "$dir/bulwark.yaml" >"$dir/log" 2>&1 &
  pid=$!; PIDS="$PIDS $pid"
  for _ in $(seq 200); do [ -s "$dir/run/ports.json" ] && break; sleep 0.05; done
  tcp=$(dport "$dir" systcp); admin=$(dport "$dir" admin)
  c0=$(tree_ticks "$pid")
  t0=$(now)
  sent=$("$T/sysloggen" 127.0.0.1 "$tcp" "$1" "$secs" | sed -n 's/.*msgs=\([0-9]*\).*/\1/p')
  for _ in $(seq 600); do
    stored=$(dstored "$dir" "$admin" "$tok")
    [ "$stored" -ge "$sent" ] && break
    sleep 0.1
  done
  t1=$(now)
  cpu=$(( $(tree_ticks "$pid") - c0 ))
  kill "$pid"; wait "$pid" 2>/dev/null || true
  printf "daemon   conns=%d durability=%s sent=%d stored=%d events_per_s=%.0f cpu_us_per_event=%.2f\n" \
    "$1" "$2" "$sent" "$stored" "$(awk "BEGIN{print $sent / ($t1 - $t0)}")" \
    "$(awk "BEGIN{print $cpu * 1e6 / $hz / $sent}")"
  rm -rf "$dir"
}

for _ in $(seq "$rounds"); do
  run_rsyslog 1
  run_daemon 1 normal
  run_bulwark 1 normal 2
  run_bulwark 1 full 2
  run_rsyslog 4
  run_daemon 4 normal
  run_bulwark 4 normal 2
  run_bulwark 4 full 2
done
