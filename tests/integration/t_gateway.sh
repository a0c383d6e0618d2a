#!/usr/bin/env bash
# The gateway in a running daemon: proxying to a real upstream (Python's
# http.server on loopback), X-Forwarded-For from an untrusted client
# replaced, 502 when the upstream is down, rate limiting with Retry-After
# driven by the test clock, attack tools refused, a bad gateway config
# refused by `config check` and by reload.
. "$(dirname "$0")/lib.sh"
UP=$(mktemp -d /tmp/bwup.XXXXXX)
cat >"$UP/up.py" <<'PY'
import sys, upstream
upstream.serve(lambda h: (200, {"path": h.path, "xff": h.headers.get("X-Forwarded-For"),
                                "rid": h.headers.get("X-Request-Id")}), sys.argv[1])
PY
PYTHONPATH="$HERE" "$PY" "$UP/up.py" "$UP/port" & UPID=$!
trap 'kill $UPID 2>/dev/null; rm -rf "$UP"; bw_cleanup' EXIT
for _ in $(seq 1 100); do [ -s "$UP/port" ] && break; sleep 0.05; done
UPORT=$(cat "$UP/port")

bw_init || exit 1
bw_config
cat >>"$D/bulwark.yaml" <<YAML
gateway:
  upstreams:
    - {name: app, servers: ["127.0.0.1:$UPORT"], connect_timeout: 2s, read_timeout: 5s}
    - {name: dead, servers: ["127.0.0.1:1"], connect_timeout: 1s, retries: 0}
  routes:
    - {name: app, path: /app, upstream: app, bot: block,
       rate_limits: [{key: ip, rate: 2/s, burst: 3}]}
    - {name: dead, path: /dead, upstream: dead}
    - {name: demo, path: /, builtin: demo}
YAML
check "config with a gateway section checks OK" "$BIN" config check "$D/bulwark.yaml"
bw_launch || exit 1
G="https://localhost:$GW"

r=$(acurl -H "X-Forwarded-For: 6.6.6.6" "$G/app/hello?x=1")
check "proxied to the upstream" grep -q '"path": "/app/hello?x=1"' <<<"$r"
check "untrusted X-Forwarded-For replaced by the client address" grep -q '"xff": "127.0.0.1"' <<<"$r"
check "request id passed upstream" grep -qE '"rid": "[0-9a-f]{20}"' <<<"$r"
# The burst of 3 is spent (1 above + 2 here); the next one is limited.
acurl -o /dev/null "$G/app/a"; acurl -o /dev/null "$G/app/b"
h=$(acurl -D - -o /dev/null "$G/app/c")
check "rate limit answers 429" grep -q '^HTTP/[0-9.]* 429' <<<"$h"
check "429 carries Retry-After" grep -qi '^retry-after: [0-9]' <<<"$h"
acurl -o /dev/null -X POST -H "Authorization: Bearer $TOKEN" -d '{"advance_s":10}' \
  "https://localhost:$ADMIN/api/v1/test/clock"
check "tokens refill as the (test) clock advances" [ "$(status_of "$G/app/d")" = 200 ]
check "attack tool user agent refused" [ "$(status_of -A 'sqlmap/1.7#stable' "$G/app/e")" = 403 ]
check "upstream down gives 502" [ "$(status_of "$G/dead/x")" = 502 ]
check "unrouted path served by the demo route" grep -q 'bulwark demo app' <<<"$(acurl "$G/")"

# A route naming a missing upstream: config check and reload refuse it.
sed -i 's/upstream: dead}/upstream: nosuch}/' "$D/bulwark.yaml"
out=$("$BIN" config check "$D/bulwark.yaml" 2>&1)
check "config check names the bad upstream" grep -q 'nosuch' <<<"$out"
kill -HUP "$SUP"
check "reload with a bad gateway section refused" wait_until 50 grep -q 'reload refused' "$D.log"
check "old gateway keeps serving" grep -q '"path": "/app/f"' <<<"$(acurl "$G/app/f")"
check "clean stop" bw_stop
finish
