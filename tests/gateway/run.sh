#!/usr/bin/env bash
# tests/gateway/run.sh [BUILD_DIR] — the gateway with real clients: gwbench
# (the gateway alone on one loop) in front of two Python test upstreams,
# driven by curl. Checks forwarding headers, round robin, keep-alive, 502
# when an upstream dies, 504 on a slow one, rate limiting with Retry-After,
# bot blocking and the built-in demo.
#
# Everything listens on 127.0.0.1 on ports picked at run time; every
# process is stopped by the PID we started. Exit status 0 = all passed.
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
BUILD="${1:-$ROOT/build}"
ninja -C "$BUILD" gwbench >/dev/null || exit 1
WORK="$(mktemp -d /tmp/bw-gwtest.XXXXXX)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null; done
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM
pick_port() {
  python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
wait_port() {
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "nothing listens on $1" >&2; return 1
}
fails=0
check() {  # $1=description, then a command that must succeed
  local what="$1"; shift
  if "$@"; then echo "ok   $what"; else echo "FAIL $what"; fails=$((fails + 1)); fi
}

UA=$(pick_port); UB=$(pick_port); GW=$(pick_port)
/usr/bin/python3 "$HERE/upstream.py" "$UA" A >/dev/null & PIDS+=("$!"); UA_PID=$!
/usr/bin/python3 "$HERE/upstream.py" "$UB" B >/dev/null & PIDS+=("$!")
wait_port "$UA"; wait_port "$UB"
cat >"$WORK/gw.yaml" <<EOF
gateway:
  upstreams:
    - { name: pair, servers: ["127.0.0.1:$UA", "127.0.0.1:$UB"], read_timeout: 500ms,
        max_fails: 1, open_for: 30s }
    - { name: b, servers: ["127.0.0.1:$UB"], read_timeout: 500ms }
  routes:
    - { name: app, path: /app, upstream: pair }
    - { name: slow, path: /slow, upstream: b }
    - name: limited
      path: /status
      upstream: b
      rate_limits: [ { rate: 3/m } ]
    - { name: demo, path: /, builtin: demo, bot: block }
EOF
"$BUILD/gwbench" "$WORK/gw.yaml" "$GW" >/dev/null & PIDS+=("$!")
wait_port "$GW"
G="http://127.0.0.1:$GW"

body=$(curl -s -H 'X-Forwarded-For: 6.6.6.6' "$G/app/x")
check "proxied with X-Forwarded-For replaced" \
  bash -c "grep -q '\"X-Forwarded-For\": \"127.0.0.1\"' <<<'$body' && ! grep -q 6.6.6.6 <<<'$body'"
ups=$(for i in 1 2 3 4; do curl -s "$G/app/rr" | grep -o '"upstream": "[AB]"'; done | sort | uniq -c | wc -l)
check "round robin reaches both upstreams" test "$ups" = 2
n=$(curl -s -w '%{num_connects}\n' -o /dev/null -o /dev/null -o /dev/null \
  "$G/app/1" "$G/app/2" "$G/app/3" | awk '{ s += $1 } END { print s }')
check "client keep-alive: three requests, one connection" test "$n" = 1
check "504 from a slow upstream" test "$(curl -s -o /dev/null -w '%{http_code}' "$G/slow/2000")" = 504
codes=$(for i in 1 2 3 4; do curl -s -o /dev/null -w '%{http_code} ' "$G/status/200"; done)
check "rate limit: 3 per minute, then 429" test "$codes" = "200 200 200 429 "
check "429 carries Retry-After" bash -c "curl -s -D - -o /dev/null '$G/status/200' | grep -qi '^Retry-After: [0-9]'"
check "attack tool user agent blocked" test "$(curl -s -o /dev/null -w '%{http_code}' -A 'sqlmap/1.7' "$G/")" = 403
check "demo app served" bash -c "curl -s '$G/' | grep -q 'bulwark demo app'"
kill "$UA_PID"; wait "$UA_PID" 2>/dev/null
# A is gone: with max_fails 1 and retries, GETs still succeed on B
codes=$(for i in 1 2 3 4; do curl -s -o /dev/null -w '%{http_code} ' "$G/app/after"; done)
check "dead upstream is retried and then skipped" test "$codes" = "200 200 200 200 "
kill "${PIDS[1]}"; wait "${PIDS[1]}" 2>/dev/null
code=$(curl -s -o "$WORK/out" -w '%{http_code}' "$G/slow/1")
check "502 when the only upstream is down" \
  bash -c "test '$code' = 502 && grep -q upstream_connect_failed '$WORK/out'"

if [ "$fails" -ne 0 ]; then echo "tests/gateway: $fails failed"; exit 1; fi
echo "tests/gateway: all passed"
