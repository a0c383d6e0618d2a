#!/usr/bin/env bash
# Parked TLS connections: an idle keep-alive TLS 1.3 connection frees its
# OpenSSL state and goes on under bulwark's own record layer. Real clients
# keep using such connections: openssl s_client asks for KeyUpdates
# between requests, Python's ssl module sends many requests and a body of
# many records on connections the metrics show parked, and closing them
# brings the gauge back to zero. A client-certificate connection is not
# parked (its identity lives in the SSL object).
. "$(dirname "$0")/lib.sh"
bw_init || exit 1
X="$D/x"; mkdir -p "$X"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
  -subj /CN=clients -keyout "$X/cca.key" -out "$X/cca.crt" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=alice \
  -keyout "$X/alice.key" -out "$X/alice.csr" 2>/dev/null
openssl x509 -req -in "$X/alice.csr" -CA "$X/cca.crt" -CAkey "$X/cca.key" -days 30 \
  -CAcreateserial -out "$X/alice.crt" 2>/dev/null
chmod 600 "$X"/*.key
bw_config "" "  client_ca: $X/cca.crt" "  - {name: mtls, kind: admin, port: 0, tls: true, client_cert: require}"
bw_launch || exit 1
MTLS=$(port_of mtls)

parked() {
  acurl "https://localhost:$ADMIN/metrics" | awk '/^bulwark_tls_connections_parked /{print $2}'
}
parked_is() { test "$(parked)" = "$1"; }

# KeyUpdate asked by the client (K: update_requested, k: not requested)
# on a parked connection; every answer must still arrive.
out=$( (printf 'GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n'; sleep 0.5; printf 'K\n'; sleep 0.3
        printf 'GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n'; sleep 0.5; printf 'k\n'; sleep 0.3
        printf 'GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'; sleep 1) |
      timeout 10 openssl s_client -connect "127.0.0.1:$ADMIN" -servername localhost -CAfile "$CA" 2>&1)
check "three answers around two KeyUpdates on a parked connection" \
  test "$(grep -c '^HTTP/1.1 200' <<<"$out")" = 3
check "the client sent its KeyUpdates" test "$(grep -o 'KEYUPDATE' <<<"$out" | wc -l)" = 2

# Forty connections held idle, the gauge read over another one, then each
# parked connection used again.
"$PY" - "$ADMIN" "$CA" "$TOKEN" >"$X/py2.out" 2>&1 <<'EOF'
import socket, ssl, sys, re
port, ca, token = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=ca)
ctx.minimum_version = ssl.TLSVersion.TLSv1_3

def request(s, raw):
    s.sendall(raw)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            raise SystemExit("connection closed before the answer")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v.strip())
    while len(body) < length:
        body += s.recv(65536)
    return int(head.split(b" ")[1]), body

def connect():
    return ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost")

get = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"
conns = [connect() for _ in range(40)]
for s in conns:
    assert request(s, get)[0] == 200
probe = connect()
code, body = request(probe, b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
m = re.search(rb"^bulwark_tls_connections_parked (\d+)", body, re.M)
print("parked_while_idle", int(m.group(1)) if m else -1)
# every parked connection answers again, several times
ok = 0
for s in conns:
    for _ in range(3):
        ok += request(s, get)[0] == 200
print("answers_after_parking", ok)
# a 40 KB body (three TLS records) on a parked connection, then the same
# connection still answers
body = b'{"name":"' + b"a" * 40000 + b'"}'
code, _ = request(conns[0], b"POST /api/v1/kms/keys HTTP/1.1\r\nHost: localhost\r\n"
                  b"Authorization: Bearer " + token.encode() + b"\r\nContent-Type: application/json\r\n"
                  b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
print("big_body_status", code)
print("after_big_body", request(conns[0], get)[0])
for s in conns:
    s.close()
probe.close()
EOF
check "the idle connections were parked" \
  awk '/^parked_while_idle/{exit !($2 >= 40)}' "$X/py2.out"
check "parked connections answer 120 more requests" grep -q '^answers_after_parking 120$' "$X/py2.out"
check "a 40 KB body on a parked connection is read and refused as a value" \
  grep -Eq '^big_body_status 4[0-9][0-9]$' "$X/py2.out"
check "the connection answers after the big body" grep -q '^after_big_body 200$' "$X/py2.out"
check "closed parked connections leave the gauge" wait_until 50 parked_is 0

# mTLS: the client certificate identifies the connection, so it keeps its SSL.
"$PY" - "$MTLS" "$CA" "$X/alice.crt" "$X/alice.key" >"$X/py3.out" 2>&1 <<'EOF' &
import socket, ssl, sys, time
port, ca, crt, key = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(cafile=ca)
ctx.load_cert_chain(crt, key)
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost")
s.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
print("status", s.recv(4096).split(b" ")[1].decode(), flush=True)
time.sleep(3)
s.close()
EOF
PYPID=$!
wait_until 10 grep -q '^status' "$X/py3.out"
check "mTLS client answered" grep -q '^status 200' "$X/py3.out"
check "an idle mTLS connection is not parked" parked_is 0
wait "$PYPID"

# tls.park_idle: false keeps every connection's SSL object.
bw_stop
bw_config "" "  park_idle: false"
bw_launch || exit 1
"$PY" - "$ADMIN" "$CA" >"$X/py4.out" 2>&1 <<'EOF'
import socket, ssl, sys, re
port, ca = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=ca)
def connect():
    return ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost")
def request(s, path):
    s.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: localhost\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        data += s.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    n = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
    while len(body) < n:
        body += s.recv(65536)
    return int(head.split(b" ")[1]), body
conns = [connect() for _ in range(5)]
ok = sum(request(s, b"/healthz")[0] == 200 for s in conns)
_, body = request(connect(), b"/metrics")
m = re.search(rb"^bulwark_tls_connections_parked (\d+)", body, re.M)
print("parked", int(m.group(1)) if m else -1)
print("answers", ok + sum(request(s, b"/healthz")[0] == 200 for s in conns))
EOF
check "tls.park_idle: false parks nothing" grep -q '^parked 0$' "$X/py4.out"
check "unparked idle connections answer again" grep -q '^answers 10$' "$X/py4.out"
finish
