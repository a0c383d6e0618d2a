#!/usr/bin/env bash
# The gateway reaches an mTLS upstream with a bulwark component identity
# (docs/gateway.md, "Upstream mTLS"): the pki issues a short-lived SPIFFE
# certificate from the private CA and the upstream TLS client presents it.
#  - a real TLS server (Python's ssl, client certificates required, trusting
#    only bulwark's root) sees the SPIFFE URI of the gateway's identity;
#  - an upstream without the identity is refused by that server (502);
#  - a reload naming an unknown identity is refused, the old one serves.
. "$(dirname "$0")/lib.sh"
bw_init || exit 1
X="$D/x"; mkdir -p "$X"
# The unprivileged worker reads the upstream's trust anchor: a public dir.
P=$(mktemp -d /tmp/bwit-pub.XXXXXX); chmod 755 "$P"
UPID=
trap 'kill $UPID 2>/dev/null; rm -rf "$P"; bw_cleanup' EXIT

bw_config "" "" "  - {name: pki, kind: pki, port: 0, tls: false}"
bw_launch || exit 1
U="https://localhost:$ADMIN/api/v1/pki"
A=(-H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json")
RID=$(acurl "${A[@]}" -d '{"name":"root","subject":"CN=identity test root","key_type":"ec-p256"}' \
  "$U/cas" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["id"])' 2>/dev/null)
check "a root CA" [ -n "$RID" ]
curl -s "http://127.0.0.1:$(port_of pki)/ca/$RID.crt" | openssl x509 -inform DER -out "$X/root.pem" 2>/dev/null
check "root certificate fetched" grep -q 'BEGIN CERTIFICATE' "$X/root.pem"
bw_stop

# The upstream: its own self-signed certificate, client certificates
# required and verified against bulwark's root; it answers with the URI
# SANs of the client's certificate.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost -keyout "$X/up.key" -out "$P/up.pem" 2>/dev/null
chmod 644 "$P/up.pem"
cat >"$X/up.py" <<'PY'
import ssl, sys, upstream
def answer(h):
    cert = h.connection.getpeercert() or {}
    uris = [v for k, v in cert.get("subjectAltName", ()) if k == "URI"]
    return 200, {"path": h.path, "client_uris": uris}
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[2], sys.argv[3])
ctx.verify_mode = ssl.CERT_REQUIRED
ctx.load_verify_locations(sys.argv[4])
upstream.serve(answer, sys.argv[1], ssl_context=ctx)
PY
PYTHONPATH="$HERE" "$PY" "$X/up.py" "$X/port" "$P/up.pem" "$X/up.key" "$X/root.pem" 2>"$X/up.err" & UPID=$!
for _ in $(seq 1 100); do [ -s "$X/port" ] && break; sleep 0.05; done
UPORT=$(cat "$X/port")
check "mTLS upstream started" [ -n "$UPORT" ]

write_config() { # write_config IDENTITY_NAME
  bw_config "" "" "  - {name: pki, kind: pki, port: 0, tls: false}"
  cat >>"$D/bulwark.yaml" <<YAML
pki:
  cert_check_interval: 200ms
  identities:
    - {name: gateway, ca: "$RID", uri: "spiffe://bulwark.test/gateway", validity: 1h}
gateway:
  upstreams:
    - {name: app, servers: ["127.0.0.1:$UPORT"], read_timeout: 5s,
       tls: {identity: $1, ca_file: "$P/up.pem", server_name: localhost}}
    - {name: anon, servers: ["127.0.0.1:$UPORT"], read_timeout: 5s, retries: 0,
       tls: {ca_file: "$P/up.pem", server_name: localhost}}
  routes:
    - {name: app, path: /app, upstream: app}
    - {name: anon, path: /anon, upstream: anon}
YAML
}
write_config gateway
check "config check accepts an upstream identity" "$BIN" config check "$D/bulwark.yaml"
chmod 600 "$X/up.key"
sed "s|tls: {identity: gateway,|tls: {identity: gateway, client_cert: \"$P/up.pem\", client_key: \"$X/up.key\",|" \
  "$D/bulwark.yaml" >"$X/both.yaml"
check "config check refuses identity together with client_cert" \
  bash -c "! '$BIN' config check '$X/both.yaml' 2>'$X/both.err' && grep -q 'exclude' '$X/both.err'"
bw_launch || exit 1
G="https://localhost:$GW"
U="https://localhost:$ADMIN/api/v1/pki"
has_identity() { acurl -H "Authorization: Bearer $TOKEN" "$U/listener-certs" | "$PY" -c 'import json,sys
d = json.load(sys.stdin)
sys.exit(0 if any(i["name"] == "gateway" and i["serial"] for i in d["identities"]) else 1)' 2>/dev/null; }
check "the pki issued the gateway identity" wait_until 100 has_identity
acurl "$G/app/hello" >"$X/app.json" 2>&1
check "the upstream saw the gateway's SPIFFE identity" \
  grep -q '"client_uris": \["spiffe://bulwark.test/gateway"\]' "$X/app.json"
check "an upstream without the identity is refused by the mTLS server (502)" \
  [ "$(status_of "$G/anon/hello")" = 502 ]

# A reload naming an identity the pki does not have is refused.
write_config nosuch
kill -HUP "$SUP"
check "reload with an unknown identity refused" wait_until 50 grep -q 'reload refused' "$D.log"
check "the log names it" grep -q 'nosuch' "$D.log"
check "the old gateway keeps presenting the identity" \
  grep -q 'spiffe://bulwark.test/gateway' <<<"$(acurl "$G/app/again")"
check "clean stop" bw_stop
finish
