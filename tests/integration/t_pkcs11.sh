#!/usr/bin/env bash
# libbulwark-pkcs11.so with real clients against a running daemon:
# pkcs11-tool (opensc) lists the tenants' slots, logs in with an API key,
# generates EC P-256, RSA-2048 and AES-256 keys that stay in the key
# process, signs (ECDSA, RSA PKCS#1 v1.5 and PSS), and the signatures
# verify with plain openssl; OpenSSL through libengine-pkcs11-openssl
# signs a CSR with a key that stays in bulwark and `openssl req -verify`
# accepts it; AES-GCM and the rest through p11check; a wrong PIN is refused and audited;
# tenant A's PIN opens neither tenant B's slot nor shows B's objects.
. "$(dirname "$0")/lib.sh"
for t in pkcs11-tool openssl; do
  command -v "$t" >/dev/null || { echo "FAIL: $t missing (apt-get install opensc openssl)"; exit 1; }
done
ENGINE=$(openssl version -e | sed -n 's/^ENGINESDIR: "\(.*\)"/\1/p')/pkcs11.so
[ -f "$ENGINE" ] || { echo "FAIL: $ENGINE missing (apt-get install libengine-pkcs11-openssl)"; exit 1; }
MOD=$(dirname "$BIN")/libbulwark-pkcs11.so
[ -f "$MOD" ] || { echo "FAIL: $MOD not built (ninja bulwark-pkcs11)"; exit 1; }

bw_start || exit 1
export BULWARK_PKCS11_SOCKET="$D/run/pkcs11.sock"
check "the worker serves the PKCS#11 socket, mode 0660" \
  wait_until 50 bash -c "[ \"\$(stat -c %a '$BULWARK_PKCS11_SOCKET' 2>/dev/null)\" = 660 ]"
W="$D/p11"; mkdir -p "$W"
B=(-H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json")
U="https://localhost:$ADMIN/api/v1"
jget() { "$PY" -c 'import json,sys;d=json.load(sys.stdin);print(d.get(sys.argv[1]) or d.get("api_key") or "")' "$1"; }

# Two tenants, each with a user holding an API key and the key roles.
principal() { # principal TENANT -> prints the API key
  local t=$1 uid key
  acurl "${B[@]}" -o /dev/null -d "{\"name\":\"$t\"}" "$U/iam/tenants"
  uid=$(acurl "${B[@]}" -d '{"name":"p11user"}' "$U/iam/tenants/$t/users" | jget id)
  key=$(acurl "${B[@]}" -d '{"name":"hsm"}' "$U/iam/tenants/$t/users/$uid/apikeys" | jget token)
  for role in key-user key-admin; do
    acurl "${B[@]}" -o /dev/null -X PUT "$U/authz/tenants/$t/roles/$role/members/user:$uid"
  done
  echo "$key"
}
KA=$(principal ta)
KB=$(principal tb)
check "tenant API keys created" bash -c "[[ '$KA' == bwk_* && '$KB' == bwk_* ]]"

P=(pkcs11-tool --module "$MOD")
slots=$("${P[@]}" -L 2>&1)
check "pkcs11-tool lists a slot per tenant" \
  bash -c "grep -q 'token label *: ta' <<<'$slots' && grep -q 'token label *: tb' <<<'$slots' && grep -q 'token label *: platform' <<<'$slots'"
A=("${P[@]}" --token-label ta --login --pin "$KA")

"${A[@]}" --keypairgen --key-type EC:prime256v1 --label ec1 >"$W/gen.log" 2>&1
check "EC P-256 key pair generated" grep -qi 'EC_POINT\|Public Key Object; EC' "$W/gen.log"
"${A[@]}" --keypairgen --key-type rsa:2048 --label rsa1 >>"$W/gen.log" 2>&1
check "RSA-2048 key pair generated" grep -q 'RSA 2048 bits' "$W/gen.log"
"${A[@]}" --keygen --key-type AES:32 --label aes1 >>"$W/gen.log" 2>&1
check "AES-256 key generated" grep -qi 'Secret Key Object; AES' "$W/gen.log"
objs=$("${A[@]}" -O 2>&1)
check "objects listed with their labels" \
  bash -c "grep -q 'label: *ec1' <<<'$objs' && grep -q 'label: *rsa1' <<<'$objs' && grep -q 'label: *aes1' <<<'$objs'"
check "private keys are sensitive and never extractable" \
  bash -c "grep -A5 'Private Key Object; EC' <<<'$objs' | grep -q 'Access: *sensitive, always sensitive, never extractable'"
# pkcs11-tool picks the key to sign with by CKA_ID (the keystore's key id).
id_of() { "${A[@]}" -O 2>/dev/null | awk -v l="$1" '/^(Private|Secret) Key Object/{p=1} p && $1=="label:"{lab=$2} p && $1=="ID:"{ if (lab==l) {print $2; exit} p=0 }'; }
EC1=$(id_of ec1); RSA1=$(id_of rsa1)
check "key ids are the keystore's 16-byte ids" bash -c "[[ '$EC1' =~ ^[0-9a-f]{32}$ && '$RSA1' =~ ^[0-9a-f]{32}$ ]]"

printf 'release 1.0 of something important\n' >"$W/msg"
for k in ec1 rsa1; do
  "${A[@]}" --read-object --type pubkey --label $k -o "$W/$k.der" >/dev/null 2>&1
  openssl pkey -pubin -inform DER -in "$W/$k.der" -out "$W/$k.pem" 2>/dev/null
done
check "public keys exported" bash -c "grep -q 'BEGIN PUBLIC KEY' '$W/ec1.pem' && grep -q 'BEGIN PUBLIC KEY' '$W/rsa1.pem'"

"${A[@]}" --sign --mechanism ECDSA-SHA256 --id "$EC1" --signature-format openssl \
  -i "$W/msg" -o "$W/ec.sig" >/dev/null 2>&1
check "ECDSA-SHA256 signature verifies with openssl" \
  openssl dgst -sha256 -verify "$W/ec1.pem" -signature "$W/ec.sig" "$W/msg"
openssl dgst -sha256 -binary "$W/msg" >"$W/msg.sha256"
"${A[@]}" --sign --mechanism ECDSA --id "$EC1" --signature-format openssl \
  -i "$W/msg.sha256" -o "$W/ec2.sig" >/dev/null 2>&1
check "raw CKM_ECDSA over a digest verifies with openssl" \
  openssl dgst -sha256 -verify "$W/ec1.pem" -signature "$W/ec2.sig" "$W/msg"
"${A[@]}" --sign --mechanism SHA256-RSA-PKCS --id "$RSA1" -i "$W/msg" -o "$W/rsa.sig" >/dev/null 2>&1
check "RSA PKCS#1 v1.5 signature verifies with openssl" \
  openssl dgst -sha256 -verify "$W/rsa1.pem" -signature "$W/rsa.sig" "$W/msg"
"${A[@]}" --sign --mechanism SHA256-RSA-PKCS-PSS --id "$RSA1" -i "$W/msg" -o "$W/pss.sig" >/dev/null 2>&1
check "RSA-PSS signature verifies with openssl" \
  openssl dgst -sha256 -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32 \
  -verify "$W/rsa1.pem" -signature "$W/pss.sig" "$W/msg"
# pkcs11-tool --verify exits 0 either way; it prints the verdict.
out=$("${A[@]}" --verify --mechanism SHA256-RSA-PKCS --id "$RSA1" -i "$W/msg" --signature-file "$W/rsa.sig" 2>&1)
check "the module verifies its own signature" grep -q '^Signature is valid' <<<"$out"
printf 'tampered\n' >"$W/msg2"
out=$("${A[@]}" --verify --mechanism SHA256-RSA-PKCS --id "$RSA1" -i "$W/msg2" --signature-file "$W/rsa.sig" 2>&1)
check "a signature over other data does not verify" grep -q '^Invalid signature' <<<"$out"

# OpenSSL through libengine-pkcs11-openssl: the CSR's key never leaves bulwark.
umask 077
cat >"$W/openssl.cnf" <<EOF
openssl_conf = init
[init]
engines = engines
[engines]
pkcs11 = p11
[p11]
engine_id = pkcs11
dynamic_path = $ENGINE
MODULE_PATH = $MOD
# libp11 takes at most 32 bytes of PIN from a URI or a prompt; an API key
# is longer, so it comes through the engine's PIN control.
PIN = $KA
init = 0
[req]
distinguished_name = dn
[dn]
EOF
for k in ec1 rsa1; do
  OPENSSL_CONF="$W/openssl.cnf" openssl req -new -engine pkcs11 -keyform engine \
    -key "pkcs11:token=ta;object=$k;type=private" -subj "/CN=$k.example" \
    -out "$W/$k.csr" >"$W/req-$k.log" 2>&1
  [ -s "$W/$k.csr" ] || cat "$W/req-$k.log"
  check "openssl req signs a CSR with bulwark's $k" openssl req -verify -noout -in "$W/$k.csr"
  check "the CSR carries bulwark's $k public key" \
    cmp -s <(openssl req -in "$W/$k.csr" -pubkey -noout) "$W/$k.pem"
done

# A wrong PIN: refused, audited, no PIN in the audit log.
out=$("${P[@]}" --token-label ta --login --pin "bwk_wrong_pin_0000" -O 2>&1)
check "a wrong PIN is refused" grep -q 'CKR_PIN_INCORRECT' <<<"$out"
check "the failed login is audited" \
  wait_until 50 bash -c "grep '\"action\":\"kms.p11.login\"' '$D/audit.log' | grep -q '\"outcome\":\"failure\"'"

# Tenant isolation with real tenant credentials.
out=$("${P[@]}" --token-label tb --login --pin "$KA" -O 2>&1)
check "tenant A's PIN does not open tenant B's slot" grep -q 'CKR_PIN_INCORRECT' <<<"$out"
check "the cross-tenant login is audited as denied" \
  wait_until 50 bash -c "grep '\"action\":\"kms.p11.login\"' '$D/audit.log' | grep -q '\"outcome\":\"denied\"'"
"${P[@]}" --token-label tb --login --pin "$KB" --keygen --key-type AES:32 --label b-secret >/dev/null 2>&1
objs_b=$("${P[@]}" --token-label tb --login --pin "$KB" -O 2>&1)
objs_a=$("${A[@]}" -O 2>&1)
check "tenant B sees its key" grep -q 'b-secret' <<<"$objs_b"
check "tenant A does not see tenant B's key, B not A's" \
  bash -c "! grep -q 'b-secret' <<<'$objs_a' && ! grep -q 'ec1' <<<'$objs_b'"
# Roles held by the API key itself (apikey:ID) count, as over REST: a user
# with no role of its own, whose key holds key-admin and key-user.
acurl "${B[@]}" -o /dev/null -d '{"name":"tc"}' "$U/iam/tenants"
uid=$(acurl "${B[@]}" -d '{"name":"norole"}' "$U/iam/tenants/tc/users" | jget id)
kjson=$(acurl "${B[@]}" -d '{"name":"hsm"}' "$U/iam/tenants/tc/users/$uid/apikeys")
KC=$(jget token <<<"$kjson")
KCID=$("$PY" -c 'import json,sys;print(json.load(sys.stdin)["key"]["id"])' <<<"$kjson")
out=$("${P[@]}" --token-label tc --login --pin "$KC" --keygen --key-type AES:32 --label c-key 2>&1)
check "a key without roles logs in but may not generate" bash -c "! grep -q 'Secret Key Object' <<<'$out'"
for role in key-user key-admin; do
  acurl "${B[@]}" -o /dev/null -X PUT "$U/authz/tenants/tc/roles/$role/members/apikey:$KCID"
done
out=$("${P[@]}" --token-label tc --login --pin "$KC" --keygen --key-type AES:32 --label c-key 2>&1)
check "roles granted to the API key itself let it generate keys" grep -q 'Secret Key Object; AES' <<<"$out"
# An API key's scopes narrow its roles here as on the admin API: a key of
# tenant A's user (key-user, key-admin) scoped to kms.key.read lists keys
# but may not generate one.
uid_a=$(acurl "${B[@]}" "$U/iam/tenants/ta/users" | "$PY" -c 'import json,sys
d = json.load(sys.stdin); d = d.get("users", d) if isinstance(d, dict) else d
print([u["id"] for u in d if u["name"] == "p11user"][0])')
KS=$(acurl "${B[@]}" -d '{"name":"reader","scopes":"kms.key.read"}' "$U/iam/tenants/ta/users/$uid_a/apikeys" | jget token)
out=$("${P[@]}" --token-label ta --login --pin "$KS" -O 2>&1)
check "a key scoped to kms.key.read lists the tenant's keys" grep -q 'label: *ec1' <<<"$out"
out=$("${P[@]}" --token-label ta --login --pin "$KS" --keygen --key-type AES:32 --label scoped 2>&1)
check "but may not generate one (outside its scopes)" bash -c "! grep -q 'Secret Key Object' <<<'$out'"
check "the platform's own keys are invisible" \
  bash -c "! ${P[*]} --token-label platform --login --pin '$TOKEN' -O 2>&1 | grep -q '_iam-seal\|_audit-sth'"

# AES-GCM, EdDSA, P-384, PSS over a digest, multi-part, the batch call,
# random, and the API's refusals: p11check, a client of our own that
# verifies signatures with OpenSSL from the public attributes (pkcs11-tool
# 0.23 has no GCM parameters).
CHK=$(dirname "$BIN")/p11check
# Tenant B's token: libp11 0.4.12 (the OpenSSL engine above) stops
# enumerating a token's keys at the first Ed25519 key, which it does not
# know, so the Ed25519 key p11check makes lives apart from ec1 and rsa1.
check "p11check: AES-GCM, EdDSA, P-384, PSS, batch, refusals" "$CHK" "$MOD" tb "$KB"

# Hostile clients on the socket itself: garbage, a lying length, bad
# fields, requests before login, five wrong PINs — each connection is
# refused or closed, and the server keeps serving.
check "the socket server refuses malformed and hostile input" "$PY" - "$BULWARK_PKCS11_SOCKET" <<'PYEOF'
import socket, struct, sys
path = sys.argv[1]
def conn():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.settimeout(15); s.connect(path); return s
def msg(op, fields):
    body = b"".join(struct.pack(">HI", t, len(v)) + v for t, v in fields)
    m = b"BP" + bytes([1, op]) + struct.pack(">IHH", 0, len(fields), 0) + body
    return struct.pack(">I", len(m)) + m
def reply(s):
    h = b""
    while len(h) < 4:
        c = s.recv(4 - len(h))
        if not c: return None
        h += c
    n = struct.unpack(">I", h)[0]; b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c: return None
        b += c
    return struct.unpack(">I", b[4:8])[0]      # the CK_RV
def closed(s):
    try: return s.recv(1) == b""
    except (ConnectionResetError, socket.timeout): return False
ok = True
s = conn(); s.sendall(b"\x00\x00\x00\x10" + b"GARBAGEGARBAGE!!"); ok &= closed(s)           # bad magic
s = conn(); s.sendall(struct.pack(">I", 1 << 30)); ok &= closed(s)                     # lying length
s = conn(); s.sendall(msg(2, [(2, b"a"), (2, b"b")])); ok &= closed(s)                # repeated field
s = conn(); s.sendall(msg(2, [(99, b"x")])); ok &= closed(s)                          # unknown tag
s = conn(); s.sendall(msg(7, [(3, b"ec1"), (9, struct.pack(">I", 1)), (11, b"x" * 32)]))
ok &= reply(s) == 0x101                                                              # CKR_USER_NOT_LOGGED_IN
for i in range(5):
    s.sendall(msg(2, [(1, b"ta"), (2, b"bwk_wrong_%d" % i)]))
    rv = reply(s)
    ok &= rv in (0xa0, None)                                                         # CKR_PIN_INCORRECT
ok &= closed(s)                                                                      # closed after 5
s = conn(); s.sendall(msg(1, [])); ok &= reply(s) == 0                                # still serving
print("hostile clients handled" if ok else "hostile client test failed")
sys.exit(0 if ok else 1)
PYEOF

check "key operations are audited" \
  wait_until 50 bash -c "grep -q '\"action\":\"kms.p11.sign\"' '$D/audit.log' && grep -q '\"action\":\"kms.p11.create\"' '$D/audit.log'"
check "a signature's record names the key and its version, never the data" \
  bash -c "grep '\"action\":\"kms.p11.sign\"' '$D/audit.log' | grep '\"target\":\"kms:ta/ec1\"' | grep -q '\"key_version\":1'"
check "no PIN in the audit log or the daemon log" \
  bash -c "! grep -qF '$KA' '$D/audit.log' '$D.log' && ! grep -qF '${KA:4:16}_' '$D/audit.log'"
check "clean stop" bw_stop
check "the socket is gone after the stop" [ ! -e "$BULWARK_PKCS11_SOCKET" ]

# kms.pkcs11.audit: per_second — one session signing many times is audited
# as counted records whose counts add up to every signature made.
bw_config 'kms:
  pkcs11:
    audit: per_second'
bw_launch || exit 1
check "the socket is back after the restart" wait_until 50 test -S "$BULWARK_PKCS11_SOCKET"
before=$(grep -c '"action":"kms.p11.sign"' "$D/audit.log")
out=$("$(dirname "$BIN")/p11bench" "$MOD" ta "$KA" ec1 ecdsa 0.5 1)
ops=$(sed -n 's/.* ops=\([0-9]*\).*/\1/p' <<<"$out")
check "p11bench signed through the module" [ "${ops:-0}" -gt 10 ]
sums() { grep '"action":"kms.p11.sign"' "$D/audit.log" | tail -n +$((before + 1)) |
  "$PY" -c 'import sys,json
n=r=0
for l in sys.stdin:
    d=json.loads(l).get("details",{}); n+=d.get("items",1); r+=1
print(n, r)'; }
check "every signature is counted in the audit log (p11bench signs once more before timing)" \
  wait_until 50 bash -c "[ \"\$($(declare -f sums); before=$before; D='$D'; PY='$PY'; sums | cut -d' ' -f1)\" = $((ops + 1)) ]"
check "in far fewer records than signatures" \
  bash -c "r=\$($(declare -f sums); before=$before; D='$D'; PY='$PY'; sums | cut -d' ' -f2); [ \"\$r\" -ge 1 ] && [ \"\$r\" -lt $((ops / 10)) ]"
check "clean stop (audit per_second)" bw_stop
finish
