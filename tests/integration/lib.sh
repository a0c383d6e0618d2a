# Shared helpers for integration tests: start a real bulwark on loopback with
# port 0 listeners in a fresh data directory, read the ports it reports, and
# stop it. Source this file; call bw_start, use $ADMIN $GW $TOKEN $D $CA, and
# bw_stop (or let the EXIT trap do it).
set -uo pipefail
BIN=${BULWARK_BIN:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build/bulwark}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY=/usr/bin/python3
FAILS=0

fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }
ok() { echo "ok: $*"; }
check() { # check DESCRIPTION COMMAND...
  local d=$1; shift
  if "$@"; then ok "$d"; else fail "$d"; fi
}

# bw_config [EXTRA_HTTP_YAML] [EXTRA_TLS_YAML] [EXTRA_LISTENER_YAML] — writes $D/bulwark.yaml
bw_config() {
  cat >"$D/bulwark.yaml" <<YAML
server:
  data_dir: "$D"
  workers: ${BW_WORKERS:-2}
  shutdown_timeout: ${BW_SHUTDOWN_TIMEOUT:-5s}
log:
  level: ${BW_LOG_LEVEL:-info}
http:
  header_timeout: ${BW_HEADER_TIMEOUT:-5s}
  body_timeout: ${BW_BODY_TIMEOUT:-5s}
  idle_timeout: ${BW_IDLE_TIMEOUT:-10s}
  max_body: ${BW_MAX_BODY:-64k}
${1:-}
tls:
  session_tickets: true
${2:-}
listeners:
  - {name: admin, kind: admin, port: 0, tls: true}
  - {name: gateway, kind: gateway, port: 0, tls: true}
  - {name: plain, kind: admin, port: 0, tls: false}
${3:-}
audit:
  sth_every_records: ${BW_STH_EVERY:-100}
testing:
  clock_control: true
YAML
}

# port_of NAME: the port listener NAME bound (empty, status 1, when it has none).
port_of() {
  "$PY" -c 'import json,sys
l = json.load(open(sys.argv[1])).get(sys.argv[2])
print(l["port"] if l else "")
sys.exit(0 if l else 1)' "$D/run/ports.json" "$1"
}

bw_init() {
  D=$(mktemp -d /tmp/bwit.XXXXXX)
  "$BIN" init --dir "$D" >"$D.init.log" 2>&1 || { cat "$D.init.log"; return 1; }
  TOKEN=$(cat "$D/bootstrap-token")
  CA="$D/tls/ca.crt"
}

bw_launch() {
  rm -f "$D/run/ports.json"
  "$BIN" serve -c "$D/bulwark.yaml" >>"$D.log" 2>&1 &
  SUP=$!
  for _ in $(seq 1 300); do
    [ -s "$D/run/ports.json" ] && break
    kill -0 "$SUP" 2>/dev/null || { echo "daemon exited:"; tail -20 "$D.log"; return 1; }
    sleep 0.05
  done
  [ -s "$D/run/ports.json" ] || { echo "no ports file"; tail -20 "$D.log"; return 1; }
  ADMIN=$(port_of admin)
  GW=$(port_of gateway)
  PLAIN=$(port_of plain || true)
  WORKER=$(pgrep -n -P "$SUP") # the keystore starts first, the worker last
}

bw_start() { # bw_start [bw_config args...]
  bw_init || return 1
  bw_config "$@"
  bw_launch
}

bw_stop() { # returns the supervisor's exit status
  [ -n "${SUP:-}" ] || return 0
  kill -TERM "$SUP" 2>/dev/null
  local rc=0
  wait "$SUP" || rc=$?
  SUP=
  return $rc
}

bw_cleanup() {
  if [ -n "${SUP:-}" ]; then kill -9 "$SUP" 2>/dev/null; pkill -9 -P "$SUP" 2>/dev/null; fi
  if [ "$FAILS" -gt 0 ] && [ -n "${D:-}" ]; then
    echo "--- daemon log ($D.log)"; tail -40 "$D.log" 2>/dev/null
  fi
  [ -n "${D:-}" ] && rm -rf "$D" "$D.log" "$D.init.log"
}
trap bw_cleanup EXIT

# wait_until TRIES COMMAND... — runs COMMAND every 0.1 s until it succeeds
# (status 0) or TRIES attempts have failed (status 1). For state that
# settles asynchronously (events reaching the SIEM, logs being written).
wait_until() {
  local n=$1; shift
  for _ in $(seq 1 "$n"); do
    "$@" && return 0
    sleep 0.1
  done
  return 1
}

# curl against the admin listener with the CA and token.
acurl() { curl -sS --max-time 10 --cacert "$CA" "$@"; }
status_of() { acurl -o /dev/null -w '%{http_code}' "$@"; }

finish() {
  if [ "$FAILS" -gt 0 ]; then echo "$FAILS check(s) failed"; exit 1; fi
  exit 0
}
