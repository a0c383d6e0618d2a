#!/usr/bin/env bash
# Certificates of bulwark's own listeners (docs/certificates.md):
#  - the gateway listener's certificate comes from bulwark's private CA
#    (no ACME), is stapled with an OCSP response from bulwark's own
#    responder (`openssl s_client -status`), and verifies with openssl;
#  - a second listener gets its certificate from bulwark's ACME server
#    (the same daemon's tenant) through the ACME client, http-01 answered
#    by the pki listener; a forced renewal reuses the account;
#  - moving the settable clock to within the renewal window renews the
#    gateway certificate while curl keeps requesting (fresh connections
#    and one keep-alive connection): no request fails, the new serial is
#    served, and expiry events reach the SIEM at the thresholds;
#  - after a reload the new listeners serve the managed certificate.
. "$(dirname "$0")/lib.sh"
command -v faketime >/dev/null || { echo "t_pki_lcert: faketime is needed (apt-get install faketime)"; exit 1; }
bw_init || exit 1
X="$D/x"; mkdir -p "$X"
# The worker runs as an unprivileged user that cannot enter $D: the ACME
# client's trust anchor goes where it can read it.
P=$(mktemp -d /tmp/bwit-pub.XXXXXX); chmod 755 "$P"; cp "$CA" "$P/admin-ca.pem"; chmod 644 "$P/admin-ca.pem"
trap 'rm -rf "$P"; bw_cleanup' EXIT
write_config() { # write_config PKI_SECTION_YAML
  bw_config "" "" "  - {name: pki, kind: pki, port: ${PKIP:-0}, tls: false}
  - {name: acmegw, kind: gateway, port: 0, tls: true}"
  "$PY" - "$D/bulwark.yaml" "$1" <<'EOF'
import sys
p, extra = sys.argv[1], sys.argv[2]
s = open(p).read().replace("listeners:\n", extra + "listeners:\n", 1)
open(p, "w").write(s)
EOF
}
write_config ""
bw_launch || exit 1
PKIP=$(port_of pki)
U="https://localhost:$ADMIN/api/v1/pki"
A=(-H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json")
j() { "$PY" -c 'import json,sys;d=json.load(sys.stdin)
for k in sys.argv[1].split("."): d=d[int(k)] if isinstance(d,list) else d[k]
print(d)' "$1"; }
root=$(acurl "${A[@]}" -d '{"name":"root","subject":"CN=lcert test root","key_type":"ec-p256"}' "$U/cas")
RID=$(j id <<<"$root" 2>/dev/null)
inter=$(acurl "${A[@]}" -d "{\"name\":\"issuing\",\"subject\":\"CN=lcert test issuing\",\"key_type\":\"ec-p256\",\"parent_id\":\"$RID\"}" "$U/cas")
IID=$(j id <<<"$inter" 2>/dev/null)
check "a root and an issuing CA" [ -n "$RID" -a -n "$IID" ]
check "policy for ACME names" [ "$(status_of -X PUT "${A[@]}" \
  -d '{"dns":["acme.test","localhost"],"key_types":["ec-p256"],"profiles":["tls-server"],"max_validity_s":2592000}' "$U/policy")" = 200 ]
check "ACME on for the platform tenant" [ "$(status_of -X PUT "${A[@]}" \
  -d "{\"ca_id\":\"$IID\",\"eab_required\":false}" "$U/acme")" = 200 ]
curl -s "http://127.0.0.1:$PKIP/ca/$RID.crt" | openssl x509 -inform DER -out "$X/root.pem" 2>/dev/null
curl -s "http://127.0.0.1:$PKIP/ca/$IID.crt" | openssl x509 -inform DER -out "$X/issuing.pem" 2>/dev/null
check "root certificate fetched" grep -q 'BEGIN CERTIFICATE' "$X/root.pem"
bw_stop

# The listener certificates are configured now that the CA exists.
write_config "pki:
  public_url: \"http://127.0.0.1:$PKIP\"
  cert_check_interval: 200ms
  expiry_alerts: [30d, 14d, 7d]
  acme_validation_addr: 127.0.0.1
  acme_http01_port: $PKIP
  listener_certs:
    - {listener: gateway, source: ca, ca: \"$IID\", names: [localhost, 127.0.0.1], validity: 10d, renew_before: 3d}
    - {listener: acmegw, source: acme, directory: \"https://localhost:ADMINPORT/acme/platform/directory\", ca_file: \"$P/admin-ca.pem\", names: [acme.test], contact: \"mailto:ops@example.test\"}
"
check "config check accepts the listener certificates" "$BIN" config check "$D/bulwark.yaml"
sed 's/renew_before: 3d}/renew_before: 3d, colour: blue}/' "$D/bulwark.yaml" >"$X/bad.yaml"
check "config check refuses an unknown key in a listener certificate" \
  bash -c "! '$BIN' config check '$X/bad.yaml' 2>'$X/bad.err' && grep -q colour '$X/bad.err'"
# The ACME directory is on the admin listener: pin its port.
bw_launch || exit 1
AP=$ADMIN; bw_stop
sed -i "s|ADMINPORT|$AP|; s|{name: admin, kind: admin, port: 0|{name: admin, kind: admin, port: $AP|" "$D/bulwark.yaml"
bw_launch || exit 1
U="https://localhost:$ADMIN/api/v1/pki"
AGW=$(port_of acmegw)
lc() { acurl -H "Authorization: Bearer $TOKEN" "$U/listener-certs"; }
field() { # field LISTENER KEY
  lc | "$PY" -c 'import json,sys
for l in json.load(sys.stdin)["listeners"]:
  if l["listener"] == sys.argv[1]: print(l.get(sys.argv[2], ""))' "$1" "$2"; }
has_ca_cert() { field gateway source | grep -qx ca && [ -n "$(field gateway serial)" ] &&
  field gateway issuer | grep -q 'lcert test issuing'; }
check "gateway certificate issued by the private CA" wait_until 100 has_ca_cert
served_serial() { # the serial the listener on port $1 presents
  openssl s_client -connect "127.0.0.1:$1" -servername localhost </dev/null 2>/dev/null |
    openssl x509 -noout -serial 2>/dev/null | cut -d= -f2 | tr 'A-F' 'a-f' | sed 's/^0*//'; }
S1=$(field gateway serial)
check "the listener serves it" [ "$(served_serial "$GW")" = "$(sed 's/^0*//' <<<"$S1")" ]
openssl s_client -connect "127.0.0.1:$GW" -servername localhost -showcerts </dev/null 2>/dev/null |
  awk '/BEGIN CERT/,/END CERT/' >"$X/served.pem"
check "served chain verifies with openssl" \
  openssl verify -CAfile "$X/root.pem" -untrusted "$X/served.pem" -purpose sslserver "$X/served.pem"
stapled() { openssl s_client -connect "127.0.0.1:$1" -servername localhost -status </dev/null 2>/dev/null |
  grep -q 'OCSP Response Status: successful'; }
check "s_client -status sees a stapled OCSP response" wait_until 100 stapled "$GW"
[ -n "${PKI_DEBUG:-}" ] && { lc; openssl s_client -connect "127.0.0.1:$GW" -servername localhost -status </dev/null 2>&1 | head -30; }
openssl s_client -connect "127.0.0.1:$GW" -servername localhost -status </dev/null 2>/dev/null >"$X/status.txt"
check "the staple says good" grep -q 'Cert Status: good' "$X/status.txt"
check "curl verifies the listener with the root" \
  curl -sS --max-time 5 --cacert "$X/root.pem" -o /dev/null "https://localhost:$GW/"

# ACME client against this daemon's own ACME server
has_acme_cert() { [ -n "$(field acmegw serial)" ] && field acmegw issuer | grep -q 'lcert test issuing'; }
check "ACME client obtained the acmegw certificate" wait_until 300 has_acme_cert
[ -n "$(field acmegw serial)" ] || { echo "last error: $(field acmegw last_error)"; }
A1=$(field acmegw serial)
check "acmegw serves the ACME certificate" [ "$(served_serial "$AGW")" = "$(sed 's/^0*//' <<<"$A1")" ]
check "acmegw certificate names acme.test" bash -c "openssl s_client -connect 127.0.0.1:$AGW </dev/null 2>/dev/null |
  openssl x509 -noout -ext subjectAltName | grep -q 'DNS:acme.test'"
check "acmegw is stapled too" wait_until 100 stapled "$AGW"
check "forced renewal accepted" [ "$(status_of -X POST "${A[@]}" "$U/listener-certs/acmegw/renew")" = 202 ]
acme_renewed() { s=$(field acmegw serial); [ -n "$s" ] && [ "$s" != "$A1" ]; }
check "ACME renewal with the same account" wait_until 300 acme_renewed
check "unknown listener: 404" [ "$(status_of -X POST "${A[@]}" "$U/listener-certs/nope/renew")" = 404 ]

# Renewal under load, driven by the settable clock. The clients' clocks
# move with the daemon's (faketime): a certificate issued after the jump
# starts 8 days from now, and clients living in real time would rightly
# refuse it.
: >"$X/fails"
load() { # fresh connections until the stop file appears
  while [ ! -e "$X/stop" ]; do
    faketime -f +8d curl -sS --max-time 5 --cacert "$X/root.pem" -o /dev/null -w '%{http_code}\n' \
      "https://localhost:$GW/" >>"$X/codes" 2>>"$X/fails" || echo fail >>"$X/fails"
  done; }
load & L1=$!
# one keep-alive connection that lives across the swap
URLS=(); for _ in $(seq 1 60); do URLS+=("https://localhost:$GW/"); done
faketime -f +8d curl -sS --max-time 30 --rate 20/s --cacert "$X/root.pem" -o /dev/null -w '%{http_code} %{num_connects}\n' \
  "${URLS[@]}" >"$X/keepalive" 2>>"$X/fails" & L2=$!
sleep 0.5
check "clock moved 8 days on" [ "$(status_of "${A[@]}" -d '{"advance_s":691200}' "https://localhost:$ADMIN/api/v1/test/clock")" = 200 ]
renewed() { s=$(field gateway serial); [ -n "$s" ] && [ "$s" != "$S1" ]; }
check "gateway certificate renewed in the window" wait_until 100 renewed
S2=$(field gateway serial)
sleep 0.5; touch "$X/stop"; wait "$L1"; wait "$L2"
check "no failed request during the swap" [ ! -s "$X/fails" ]
check "every response was 200" bash -c "! grep -qv '^200' '$X/codes'"
check "requests ran during the swap" [ "$(wc -l <"$X/codes")" -gt 5 ]
check "keep-alive connection survived the swap (one connect)" \
  bash -c "[ \$(grep -c '^200 ' '$X/keepalive') -eq 60 ] && [ \$(awk '{s+=\$2} END {print s}' '$X/keepalive') -eq 1 ]"
check "new connections see the new serial" [ "$(served_serial "$GW")" = "$(sed 's/^0*//' <<<"$S2")" ]
check "the new certificate is stapled" wait_until 100 stapled "$GW"
ev_has() { acurl "${A[@]}" "https://localhost:$ADMIN/api/v1/siem/events?q=$1" | grep -q "$2"; }
check "expiry alert for the old certificate (7-day threshold)" \
  wait_until 100 ev_has certificate-expiring '"threshold_days":"7"'
check "renewal event" wait_until 50 ev_has listener-certificate-renewed "$S2"
# A reload builds new listeners: they serve the managed certificate at once.
st=$(status_of -X POST "${A[@]}" "https://localhost:$ADMIN/api/v1/system/reload")
check "reload accepted" [ "$st" = 200 -o "$st" = 202 ]
reloaded() { grep -q "configuration reloaded" "$D.log"; }
check "configuration reloaded" wait_until 100 reloaded
check "after the reload the managed certificate is still served" [ "$(served_serial "$GW")" = "$(sed 's/^0*//' <<<"$S2")" ]
check "and still stapled" wait_until 100 stapled "$GW"
check "renewal audited" bash -c "'$BIN' audit verify --dir '$D' >/dev/null 2>&1; grep -q 'pki.listener_cert.install' '$D/audit.log'"
A2=$(field acmegw serial)
check "clean stop" bw_stop

# A restart serves the kept certificates (keys sealed by the keystore)
# instead of ordering new ones; the gateway's, obtained while the clock
# was 8 days ahead, is not valid yet in real time and is replaced.
bw_launch || exit 1
restored() { [ "$(field acmegw serial)" = "$A2" ]; }
check "after a restart acmegw has its kept certificate" wait_until 100 restored
check "served without a new ACME order" [ "$(field acmegw renewals)" = 0 ]
check "and it is the one the listener presents" \
  [ "$(served_serial "$(port_of acmegw)")" = "$(sed 's/^0*//' <<<"$A2")" ]
gw_replaced() { s=$(field gateway serial); [ -n "$s" ] && [ "$s" != "$S2" ]; }
check "the not-yet-valid gateway certificate was replaced" wait_until 100 gw_replaced
kept_sealed() { "$PY" -c 'import sqlite3,sys
rows = sqlite3.connect(sys.argv[1]).execute("SELECT listener, sealed_key FROM pki_lcert_current").fetchall()
sys.exit(0 if len(rows) >= 2 and all(b"PRIVATE KEY" not in bytes(r[1]) for r in rows) else 1)' "$D/state.db"; }
check "the kept keys are sealed (no PEM key in the store)" kept_sealed
check "clean stop after the restart" bw_stop
finish
