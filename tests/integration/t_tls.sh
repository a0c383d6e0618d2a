#!/usr/bin/env bash
# TLS with real clients: TLS 1.3 only by default, ALPN, SNI choosing among
# several certificates, session resumption with tickets, and client
# certificates (mTLS) required on one listener.
. "$(dirname "$0")/lib.sh"
bw_init || exit 1
X="$D/x"; mkdir -p "$X"
# A second certificate for SNI and a client CA with one client certificate.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
  -subj /CN=example.test -addext subjectAltName=DNS:example.test \
  -keyout "$X/ex.key" -out "$X/ex.crt" 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
  -subj /CN=clients -keyout "$X/cca.key" -out "$X/cca.crt" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=alice \
  -keyout "$X/alice.key" -out "$X/alice.csr" 2>/dev/null
openssl x509 -req -in "$X/alice.csr" -CA "$X/cca.crt" -CAkey "$X/cca.key" -days 30 \
  -CAcreateserial -out "$X/alice.crt" 2>/dev/null
chmod 600 "$X"/*.key
# Keys stay root-owned: the supervisor reads them for the worker.

bw_config "" "  certificates:
    - {cert: $D/tls/server.crt, key: $D/tls/server.key}
    - {cert: $X/ex.crt, key: $X/ex.key}
  client_ca: $X/cca.crt" "  - {name: mtls, kind: admin, port: 0, tls: true, client_cert: require}"
bw_launch || exit 1
MTLS=$(port_of mtls)

sc() { timeout 10 openssl s_client -connect "127.0.0.1:$1" "${@:2}" </dev/null 2>&1; }
out=$(sc "$ADMIN" -servername localhost -CAfile "$CA")
check "TLS 1.3 negotiated" grep -q 'New, TLSv1.3' <<<"$out"
check "certificate chain verifies with the local CA" grep -q 'Verify return code: 0 (ok)' <<<"$out"
out=$(sc "$ADMIN" -tls1_2)
check "TLS 1.2 refused by default" grep -q 'alert protocol version' <<<"$out"
out=$(sc "$ADMIN" -alpn http/1.1 -servername localhost)
check "ALPN selects http/1.1" grep -q 'ALPN protocol: http/1.1' <<<"$out"
out=$(sc "$ADMIN" -alpn h3-bogus -servername localhost)
check "unknown ALPN refused (no_application_protocol)" grep -qi 'no application protocol\|alert' <<<"$out"
out=$(sc "$ADMIN" -servername example.test)
check "SNI example.test gets its own certificate" grep -q 'subject=CN = example.test' <<<"$out"
out=$(sc "$ADMIN" -servername localhost)
check "SNI localhost gets the default certificate" grep -q 'subject=O = bulwark local, CN = localhost' <<<"$out"

# Session resumption with a ticket.
rm -f "$X/sess"
# TLS 1.3 tickets arrive after the handshake: keep the client reading briefly.
sleep 0.5 | timeout 10 openssl s_client -connect "127.0.0.1:$ADMIN" -servername localhost \
  -sess_out "$X/sess" >/dev/null 2>&1
out=$(sleep 0.3 | timeout 10 openssl s_client -connect "127.0.0.1:$ADMIN" -servername localhost \
  -sess_in "$X/sess" 2>&1)
check "session ticket resumes" grep -q 'Reused, TLSv1.3' <<<"$out"

# Ticket keys rotate hourly (tls.ticket_rotation): a ticket from the previous
# key still resumes, one from two rotations ago does not. Time moves through
# the test clock API, not by waiting.
advance() {
  acurl -o /dev/null -X POST -H "Authorization: Bearer $TOKEN" \
    -d "{\"advance_s\":$1}" "https://localhost:$ADMIN/api/v1/test/clock"
}
advance 3700
out=$(sleep 0.3 | timeout 10 openssl s_client -connect "127.0.0.1:$ADMIN" -servername localhost \
  -sess_in "$X/sess" 2>&1)
check "ticket from the previous key still resumes after one rotation" grep -q 'Reused, TLSv1.3' <<<"$out"
advance 7300
out=$(sleep 0.3 | timeout 10 openssl s_client -connect "127.0.0.1:$ADMIN" -servername localhost \
  -sess_in "$X/sess" 2>&1)
check "ticket older than two rotations needs a full handshake" grep -q 'New, TLSv1.3' <<<"$out"

# mTLS: the listener that requires a client certificate.
st=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 --cacert "$CA" "https://localhost:$MTLS/healthz")
check "mTLS listener refuses a client without certificate" [ "$st" = 000 ]
st=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 --cacert "$CA" \
  --cert "$X/alice.crt" --key "$X/alice.key" "https://localhost:$MTLS/healthz")
check "mTLS listener accepts a certificate from the client CA" [ "$st" = 200 ]
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=mallory \
  -keyout "$X/m.key" -out "$X/m.crt" 2>/dev/null
st=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 --cacert "$CA" \
  --cert "$X/m.crt" --key "$X/m.key" "https://localhost:$MTLS/healthz")
check "mTLS listener refuses a self-signed client certificate" [ "$st" = 000 ]
m=$(acurl "https://localhost:$ADMIN/metrics")
check "failed handshakes are counted" grep -qE 'bulwark_tls_handshake_failures_total [1-9]' <<<"$m"
check "clean stop" bw_stop
finish
