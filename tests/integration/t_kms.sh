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

# No planted secret in any file: raw, hex or base64.
HEX=$(printf '%s' "$SECRET" | od -An -tx1 | tr -d ' \n')
found=$(grep -rlaF -e "$SECRET" -e "$HEX" -e "$PT" "$D" "$D.log" 2>/dev/null)
check "planted secret found in no file under the data directory nor the log" [ -z "$found" ]
check "clean stop" bw_stop
finish
