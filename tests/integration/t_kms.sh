#!/usr/bin/env bash
# The keystore process and Encryption-as-a-Service through the running
# daemon: status unsealed (auto, development), key create, encrypt/decrypt
# with AAD, tampering refused, sign/verify, every operation audited without
# its data, the key process killed and restarted with the worker
# reconnecting, and planted secrets found in no file of the data directory.
. "$(dirname "$0")/lib.sh"
bw_start || exit 1
U="https://localhost:$ADMIN/api/v1/kms"
A=(-H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json")
json() { "$PY" -c 'import json,sys;d=json.load(sys.stdin);print(d.get(sys.argv[1],""))' "$1"; }

check "keystore process runs as root, apart from the worker" \
  [ "$(pgrep -P "$SUP" | wc -l)" = 2 ]
s=$(acurl "${A[@]}" "$U/sys/status")
check "keystore is unsealed (auto, development)" grep -q '"sealed":false' <<<"$s"
r=$(acurl "${A[@]}" -d '{"name":"orders","type":"aes256-gcm"}' "$U/tenants/platform/keys")
check "AES key created" grep -q '"orders"' <<<"$r"
SECRET="planted-secret-$RANDOM$RANDOM"
PT=$(printf '%s' "$SECRET" | base64)
r=$(acurl "${A[@]}" -d "{\"plaintext\":\"$PT\",\"aad\":\"$(printf order-42 | base64)\"}" "$U/tenants/platform/keys/orders/encrypt")
CT=$(json ciphertext <<<"$r")
check "encrypt gives a self-describing ciphertext" grep -q '^bwk1:' <<<"$CT"
r=$(acurl "${A[@]}" -d "{\"ciphertext\":\"$CT\",\"aad\":\"$(printf order-42 | base64)\"}" "$U/tenants/platform/keys/orders/decrypt")
check "decrypt returns the plaintext" [ "$(json plaintext <<<"$r" | base64 -d)" = "$SECRET" ]
st=$(status_of "${A[@]}" -d "{\"ciphertext\":\"$CT\",\"aad\":\"$(printf order-43 | base64)\"}" "$U/tenants/platform/keys/orders/decrypt")
check "wrong associated data is refused" [ "$st" = 400 ]
BAD="${CT%?}A"; [ "$BAD" = "$CT" ] && BAD="${CT%?}B"
st=$(status_of "${A[@]}" -d "{\"ciphertext\":\"$BAD\",\"aad\":\"$(printf order-42 | base64)\"}" "$U/tenants/platform/keys/orders/decrypt")
check "a tampered ciphertext is refused" [ "$st" = 400 ]

acurl "${A[@]}" -o /dev/null -d '{"name":"signer","type":"ecdsa-p256"}' "$U/tenants/platform/keys"
MSG=$(printf 'release 1.0' | base64)
sig=$(acurl "${A[@]}" -d "{\"message\":\"$MSG\"}" "$U/tenants/platform/keys/signer/sign" | json signature)
v=$(acurl "${A[@]}" -d "{\"message\":\"$MSG\",\"signature\":\"$sig\"}" "$U/tenants/platform/keys/signer/verify")
check "ECDSA sign then verify" grep -q '"valid":true' <<<"$v"
check "operations are audited" grep -q '"action":"kms.encrypt"' "$D/audit.log"
check "the audit log holds no plaintext or ciphertext" \
  bash -c "! grep -qF '$SECRET' '$D/audit.log' && ! grep -qF '$PT' '$D/audit.log' && ! grep -qF '${CT#bwk1:}' '$D/audit.log'"

check "the platform's own keys are not reachable over the API" \
  [ "$(status_of "${A[@]}" -d "{\"plaintext\":\"$PT\"}" "$U/tenants/platform/keys/_iam-seal/encrypt")" = 403 ]
check "nobody can create a key with a reserved name" \
  [ "$(status_of "${A[@]}" -d '{"name":"_mine","type":"aes256-gcm"}' "$U/tenants/platform/keys")" = 400 ]

# Kill the key process: the supervisor restarts it and the worker reconnects.
KS=$(for p in $(pgrep -P "$SUP"); do [ "$p" != "$WORKER" ] && echo "$p"; done | head -1)
WORKER=$(for p in $(pgrep -P "$SUP"); do grep -q '^Uid:[[:space:]]*0' "/proc/$p/status" || echo "$p"; done | head -1)
KS=$(for p in $(pgrep -P "$SUP"); do [ "$p" != "$WORKER" ] && echo "$p"; done | head -1)
kill -9 "$KS"
check "keystore restarted and the worker reconnected" \
  wait_until 50 grep -q 'keystore reconnected' "$D.log"
r=$(acurl "${A[@]}" -d "{\"ciphertext\":\"$CT\",\"aad\":\"$(printf order-42 | base64)\"}" "$U/tenants/platform/keys/orders/decrypt")
check "old ciphertext decrypts after the restart" [ "$(json plaintext <<<"$r" | base64 -d)" = "$SECRET" ]

# No planted secret in any file: raw, hex (both cases), base64 or base32.
HEX=$(printf '%s' "$SECRET" | od -An -tx1 | tr -d ' \n')
B32=$(printf '%s' "$SECRET" | base32 -w0 | tr -d '=')
found=$(grep -rlaF -e "$SECRET" -e "$HEX" -e "${HEX^^}" -e "${PT%%=*}" -e "$B32" "$D" "$D.log" 2>/dev/null)
check "planted secret found in no file under the data directory nor the log" [ -z "$found" ]

# A secret identity keeps (a TOTP seed) is sealed by the keystore before it
# reaches the database: the seed, in every encoding, is in no file (the
# SQLite database, its -wal and -shm, the logs).
I="https://localhost:$ADMIN/api/v1/iam/tenants/platform"
uid=$(acurl "${A[@]}" -d '{"name":"seedholder"}' "$I/users" | json id)
SEED=$(acurl "${A[@]}" -X POST "$I/users/$uid/totp" | json secret)
check "a TOTP seed was planted" [ -n "$SEED" ]
RAWHEX=$("$PY" -c 'import base64,sys;s=sys.argv[1];print(base64.b32decode(s+"="*(-len(s)%8)).hex())' "$SEED")
RAWB64=$("$PY" -c 'import base64,sys;print(base64.b64encode(bytes.fromhex(sys.argv[1])).decode().rstrip("="))' "$RAWHEX")
check "the seed is stored sealed (a bwk1 value) in the database" \
  wait_until 50 bash -c "grep -qa 'bwk1:' '$D/state.db' '$D/state.db-wal' 2>/dev/null"
found=$("$PY" - "$D" "$SEED" "$RAWHEX" "$RAWB64" "$D.log" <<'PYEOF'
import os, sys
root, b32, hx, b64, log = sys.argv[1:6]
raw = bytes.fromhex(hx)
needles = [b32.encode(), b32.lower().encode(), raw, hx.encode(), hx.upper().encode(), b64.encode()]
paths = [log] + [os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs]
for p in paths:
    try:
        data = open(p, "rb").read()
    except OSError:
        continue
    if any(n in data for n in needles):
        print(p)
PYEOF
)
check "the TOTP seed is in no file (raw, hex, base64, base32)" [ -z "$found" ]
# Tenant isolation over REST with real tenant credentials: each tenant has
# a user with an API key holding key-admin and key-user in its own tenant.
jget() { "$PY" -c 'import json,sys;d=json.load(sys.stdin);print(d.get(sys.argv[1]) or "")' "$1"; }
IAM="https://localhost:$ADMIN/api/v1/iam/tenants"
tenant_key() {
  local t=$1 uid
  acurl "${A[@]}" -o /dev/null -d "{\"name\":\"$t\"}" "$IAM"
  uid=$(acurl "${A[@]}" -d '{"name":"keyuser"}' "$IAM/$t/users" | jget id)
  for role in key-user key-admin; do
    acurl "${A[@]}" -o /dev/null -X PUT "https://localhost:$ADMIN/api/v1/authz/tenants/$t/roles/$role/members/user:$uid"
  done
  acurl "${A[@]}" -d '{"name":"k"}' "$IAM/$t/users/$uid/apikeys" | jget token
}
KA=$(tenant_key ta); KB=$(tenant_key tb)
HA=(-H "Authorization: Bearer $KA" -H "Content-Type: application/json")
HB=(-H "Authorization: Bearer $KB" -H "Content-Type: application/json")
check "tenant B creates a key in its partition" \
  [ "$(status_of "${HB[@]}" -d '{"name":"b-key","type":"aes256-gcm"}' "$U/tenants/tb/keys")" = 201 ]
CTB=$(acurl "${HB[@]}" -d "{\"plaintext\":\"$(printf b-data | base64)\"}" "$U/tenants/tb/keys/b-key/encrypt" | json ciphertext)
check "tenant B encrypts with it" grep -q '^bwk1:' <<<"$CTB"
check "tenant A's token cannot use tenant B's key (403)" \
  [ "$(status_of "${HA[@]}" -d "{\"plaintext\":\"$(printf x | base64)\"}" "$U/tenants/tb/keys/b-key/encrypt")" = 403 ]
check "nor decrypt tenant B's ciphertext (403)" \
  [ "$(status_of "${HA[@]}" -d "{\"ciphertext\":\"$CTB\"}" "$U/tenants/tb/decrypt")" = 403 ]
check "nor list tenant B's keys (403)" [ "$(status_of "${HA[@]}" "$U/tenants/tb/keys")" = 403 ]
check "B's ciphertext does not open in A's partition either" \
  bash -c "s=\$(curl -sS -o /dev/null -w '%{http_code}' --cacert '$CA' -H 'Authorization: Bearer $KA' -H 'Content-Type: application/json' -d '{\"ciphertext\":\"$CTB\"}' '$U/tenants/ta/decrypt'); [ \"\$s\" = 404 ] || [ \"\$s\" = 400 ]"
check "the cross-tenant attempt is audited as denied" \
  wait_until 50 bash -c "grep '\"action\":\"kms.encrypt\"' '$D/audit.log' | grep '\"target\":\"kms:tb/b-key\"' | grep -q '\"outcome\":\"denied\"'"
check "clean stop" bw_stop
finish
