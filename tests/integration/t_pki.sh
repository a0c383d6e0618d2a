#!/usr/bin/env bash
# The certificate authority in a running daemon, keys in the keystore: a
# root and an intermediate CA through the REST API, a TLS server
# certificate issued for a key generated in the keystore... and one from a
# CSR made with openssl, the chain verified by `openssl verify`, the CA
# certificate, the CRL and OCSP served on the pki listener and checked
# with `openssl ocsp` before and after revocation.
. "$(dirname "$0")/lib.sh"
bw_init || exit 1
bw_config
sed -i "s|^listeners:|pki:\n  public_url: \"http://127.0.0.1:PKIPORT\"\nlisteners:\n  - {name: pki, kind: pki, port: 0, tls: false}|" "$D/bulwark.yaml"
bw_launch || exit 1
P=$(port_of pki)
# The public URL goes into AIA/CDP: restart once with the real port.
sed -i "s|PKIPORT|$P|" "$D/bulwark.yaml"
sed -i "s|{name: pki, kind: pki, port: 0|{name: pki, kind: pki, port: $P|" "$D/bulwark.yaml"
bw_stop; bw_launch || exit 1
U="https://localhost:$ADMIN/api/v1/pki"
A=(-H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json")
j() { "$PY" -c 'import json,sys;d=json.load(sys.stdin)
for k in sys.argv[1].split("."): d=d[k]
print(d)' "$1"; }
X="$D/x"; mkdir -p "$X"

root=$(acurl "${A[@]}" -d '{"name":"root","subject":"CN=bulwark test root","key_type":"ec-p256"}' "$U/cas")
RID=$(j id <<<"$root" 2>/dev/null)
check "root CA created in the keystore" [ -n "$RID" ]
inter=$(acurl "${A[@]}" -d "{\"name\":\"issuing\",\"subject\":\"CN=bulwark test issuing\",\"key_type\":\"ec-p256\",\"parent_id\":\"$RID\"}" "$U/cas")
IID=$(j id <<<"$inter" 2>/dev/null)
check "intermediate CA created" [ -n "$IID" ]
st=$(status_of -X PUT "${A[@]}" -d '{"dns":[".example.test"],"key_types":["ec-p256"],"profiles":["tls-server"],"max_validity_s":2592000}' "$U/policy")
check "tenant policy set" [ "$st" = 200 ]
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=www.example.test \
  -addext subjectAltName=DNS:www.example.test -keyout "$X/www.key" -out "$X/www.csr" 2>/dev/null
CSR=$("$PY" -c 'import json,sys;print(json.dumps(open(sys.argv[1]).read()))' "$X/www.csr")
r=$(acurl "${A[@]}" -d "{\"profile\":\"tls-server\",\"csr\":$CSR}" "$U/cas/$IID/issue")
SERIAL=$(j serial <<<"$r" 2>/dev/null)
check "certificate issued from a CSR" [ -n "$SERIAL" ]
j certificate <<<"$r" >"$X/www.crt" 2>/dev/null
j chain <<<"$r" >"$X/chain.pem" 2>/dev/null
curl -s "http://127.0.0.1:$P/ca/$RID.crt" -o "$X/root.der"
openssl x509 -inform DER -in "$X/root.der" -out "$X/root.pem" 2>/dev/null
check "root certificate served on the pki listener" grep -q 'BEGIN CERTIFICATE' "$X/root.pem"
check "chain verifies with openssl" \
  openssl verify -CAfile "$X/root.pem" -untrusted "$X/chain.pem" -purpose sslserver "$X/www.crt"
check "a name outside the policy is refused" \
  [ "$(status_of "${A[@]}" -d '{"profile":"tls-server","key_type":"ec-p256","dns":["evil.org"]}' "$U/cas/$IID/issue")" = 403 ]
curl -s "http://127.0.0.1:$P/ca/$IID.crt" | openssl x509 -inform DER -out "$X/issuer.pem" 2>/dev/null
ocsp() { openssl ocsp -issuer "$X/issuer.pem" -cert "$X/www.crt" -url "http://127.0.0.1:$P/ocsp/$IID" \
  -CAfile "$X/root.pem" -verify_other "$X/chain.pem" 2>&1; }
o=$(ocsp)
check "OCSP says good" grep -q "www.crt: good" <<<"$o"
check "revocation audited" \
  [ "$(status_of "${A[@]}" -d '{"reason":"keyCompromise"}' "$U/certificates/$SERIAL/revoke")" = 200 ]
o=$(ocsp)
check "OCSP says revoked after revocation" grep -q "www.crt: revoked" <<<"$o"
curl -s "http://127.0.0.1:$P/crl/$IID.crl" -o "$X/crl.der"
check "CRL lists the serial" bash -c "openssl crl -inform DER -in '$X/crl.der' -noout -text | grep -qi '${SERIAL}'"
check "ACME enabled for the tenant with the issuing CA" \
  [ "$(status_of -X PUT "${A[@]}" -d "{\"ca_id\":\"$IID\",\"eab_required\":false}" "$U/acme")" = 200 ]
d=$(acurl "https://localhost:$ADMIN/acme/platform/directory")
check "ACME directory served on the admin listener" grep -q '"newNonce"' <<<"$d"
h=$(acurl -I "https://localhost:$ADMIN/acme/platform/new-nonce" 2>/dev/null || acurl -D - -o /dev/null "$("$PY" -c 'import json,sys;print(json.load(sys.stdin)["newNonce"])' <<<"$d")")
check "ACME hands out nonces" grep -qi '^replay-nonce: ' <<<"$h"
# The command line: issue with a generated key, list, revoke.
"$BIN" pki --dir "$D" --url "https://localhost:$ADMIN" issue "$IID" --dns cli.example.test \
  --out "$X/cli" >"$X/cli.out" 2>&1
check "bulwark pki issue wrote certificate, chain and key" \
  bash -c "[ -s '$X/cli.crt' ] && [ -s '$X/cli.chain.pem' ] && [ \$(stat -c %a '$X/cli.key') = 600 ]"
check "the CLI's certificate verifies" \
  openssl verify -CAfile "$X/root.pem" -untrusted "$X/cli.chain.pem" -purpose sslserver "$X/cli.crt"
CS=$(awk '{print $2}' "$X/cli.out" | tr -d :)
check "bulwark pki list finds it" bash -c "'$BIN' pki --dir '$D' --url https://localhost:$ADMIN list --search cli | grep -q '$CS'"
check "bulwark pki revoke" "$BIN" pki --dir "$D" --url "https://localhost:$ADMIN" revoke "$CS" --reason superseded
check "OCSP says revoked for the CLI's certificate" bash -c "openssl ocsp -issuer '$X/issuer.pem' -cert '$X/cli.crt' \
  -url http://127.0.0.1:$P/ocsp/$IID -CAfile '$X/root.pem' -verify_other '$X/chain.pem' 2>&1 | grep -q 'cli.crt: revoked'"
check "a CLI call without a token is refused" bash -c "! BULWARK_TOKEN=wrong '$BIN' pki --dir /nonexistent \
  --url https://localhost:$ADMIN --cacert '$CA' ca list 2>/dev/null"
check "CA keys are not in the state database" bash -c "! grep -qa 'PRIVATE KEY' '$D/state.db'"
check "clean stop" bw_stop
finish
