#!/usr/bin/env bash
# Slow-client attacks against the gateway with slowhttptest (Debian's
# package): slowloris (headers dribbled) and slow POST (R.U.D.Y., a body
# dribbled), each bounded with -l, while a probe client keeps making fresh
# TLS requests through the same gateway to a real upstream. The probe must
# never fail and its p99 latency must stay under 200 ms (or, on a busy
# machine, within 3x its p99 measured before the attacks); afterwards the
# daemon has cut the slow connections (header/body timeouts counted).
. "$(dirname "$0")/lib.sh"
command -v slowhttptest >/dev/null || { fail "slowhttptest is not installed (apt-get install slowhttptest)"; finish; }
UP=$(mktemp -d /tmp/bwslow.XXXXXX)
cat >"$UP/up.py" <<'PY'
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def _any(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        self.send_response(200)
        self.send_header("Content-Length", "3")
        self.end_headers()
        self.wfile.write(b"ok\n")
    do_GET = do_POST = _any
    def log_message(self, *a):
        pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
s.handle_error = lambda *a: None  # clients cut by the gateway are expected
open(sys.argv[1], "w").write(str(s.server_address[1]))
s.serve_forever()
PY
cat >"$UP/probe.py" <<'PY'
# probe.py PORT CA SECONDS: a fresh TLS connection and one GET every 50 ms;
# prints "n failures p50_ms p99_ms".
import socket, ssl, sys, time
port, ca, secs = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
ctx = ssl.create_default_context(cafile=ca)
lat, fails, end = [], 0, time.monotonic() + secs
while time.monotonic() < end:
    t0 = time.monotonic()
    try:
        s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=2),
                            server_hostname="localhost")
        s.sendall(b"GET /app/probe HTTP/1.1\r\nHost: localhost\r\nUser-Agent: probe\r\n"
                  b"Connection: close\r\n\r\n")
        buf = b""
        while True:
            d = s.recv(4096)
            if not d:
                break
            buf += d
        s.close()
        if not buf.startswith(b"HTTP/1.1 200"):
            fails += 1
    except OSError:
        fails += 1
    lat.append((time.monotonic() - t0) * 1000)
    time.sleep(0.05)
lat.sort()
p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
print(len(lat), fails, round(p(0.5), 1), round(p(0.99), 1))
PY
"$PY" "$UP/up.py" "$UP/port" & UPID=$!
trap 'kill $UPID 2>/dev/null; rm -rf "$UP"; bw_cleanup' EXIT
wait_until 100 test -s "$UP/port" || fail "upstream did not start"
UPORT=$(cat "$UP/port")

BW_HEADER_TIMEOUT=2s BW_BODY_TIMEOUT=3s bw_start "
gateway:
  upstreams:
    - {name: app, servers: [\"127.0.0.1:$UPORT\"]}
  routes:
    - {name: app, path: /app, upstream: app}" || exit 1
G="https://localhost:$GW/app/x"

attack() { # attack NAME slowhttptest-args...
  local name=$1; shift
  "$PY" "$UP/probe.py" "$GW" "$CA" 6 >"$UP/probe.$name" &
  local probe=$!
  slowhttptest "$@" -c 400 -r 200 -i 1 -l 7 -p 3 -u "$G" >"$UP/slow.$name" 2>&1 &
  local slow=$!
  wait "$probe"
  wait "$slow"
  read -r n failures p50 p99 <"$UP/probe.$name"
  echo "$name: probe n=$n failures=$failures p50=${p50}ms p99=${p99}ms"
  check "$name: the probe never failed ($n requests)" [ "${failures:-1}" = 0 ] && [ "${n:-0}" -gt 20 ]
  # Low means under 200 ms, or — on a machine busy with other work, where
  # even the quiet probe is slow — within 3x the probe's p99 without attack.
  check "$name: probe p99 ${p99} ms < 200 ms or < 3 x ${BASE_P99} ms" "$PY" -c "import sys
p99, base = float('${p99:-999}'), float('${BASE_P99:-999}')
sys.exit(0 if p99 < 200 or p99 < 3 * base else 1)"
  check "$name: slowhttptest ran its connections" grep -q 'connected' "$UP/slow.$name"
}
"$PY" "$UP/probe.py" "$GW" "$CA" 3 >"$UP/probe.base"
read -r _ _ BASE_P50 BASE_P99 <"$UP/probe.base"
echo "without attack: probe p50=${BASE_P50}ms p99=${BASE_P99}ms"
attack slowloris -H -x 24
attack slowpost -B -s 8192 -x 10

m=$(acurl "https://localhost:$ADMIN/metrics")
check "header timeouts were counted" grep -qE 'reason="header_timeout"\} [1-9]' <<<"$m"
check "body timeouts were counted" grep -qE 'reason="body_timeout"\} [1-9]' <<<"$m"
check "the gateway still answers" [ "$(status_of "$G")" = 200 ]
check "clean stop" bw_stop
finish
