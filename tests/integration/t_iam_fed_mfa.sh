#!/usr/bin/env bash
# Federated sign-ins obey the same "MFA required" policies as local ones:
# tenant "acme" delegates to bulwark's own OIDC provider of tenant
# "upstream" (which reports no second factor); the provisioned user signs
# in until a role they hold (security-admin, through tenant-admin) is
# marked "MFA required" in acme — then the federated sign-in is refused
# (403 access_denied, event reason mfa_required) — and again once the
# mark is removed. Same for a group the user is a member of. Once zoe
# signs in upstream with a TOTP code (oathtool), bulwark's ID token says
# "amr": ["mfa"] and the federated sign-in passes the policy.
. "$(dirname "$0")/lib.sh"
bw_init || exit 1
cp "$D/tls/ca.crt" "$D/upstream-ca.pem" && chmod 644 "$D/upstream-ca.pem"
[ "$(id -u)" = 0 ] && chown --reference="$D" "$D/upstream-ca.pem"
bw_config "iam:
  federation:
    ca_file: \"$D/upstream-ca.pem\""
bw_launch || exit 1
O="https://localhost:$ADMIN"
U="$O/api/v1"
A=(-H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json")
jget() { "$PY" -c 'import json,sys
d=json.load(sys.stdin)
for k in sys.argv[1].split("."):
    d=d.get(k,"") if isinstance(d,dict) else ""
print(d)' "$1"; }
location() { tr -d '\r' | awk 'tolower($1) == "location:" { print $2 }'; }
JAR=$(mktemp /tmp/bwfedmfa.XXXXXX)
trap 'rm -f "$JAR"; bw_cleanup' EXIT

acurl "${A[@]}" -o /dev/null -d '{"name":"upstream"}' "$U/iam/tenants"
acurl "${A[@]}" -o /dev/null -d '{"name":"acme"}' "$U/iam/tenants"
PW="federated passphrase $RANDOM$RANDOM"
acurl "${A[@]}" -o /dev/null -d "{\"name\":\"zoe\",\"password\":\"$PW\"}" "$U/iam/tenants/upstream/users"
SZ=$(acurl -H "Content-Type: application/json" -d "{\"username\":\"zoe\",\"password\":\"$PW\"}" \
  "$U/iam/tenants/upstream/login" | jget session_token)
check "zoe signs in upstream (password only)" [ -n "$SZ" ]
CB="$O/federation/acme/corp/callback"
r=$(acurl "${A[@]}" -d "{\"name\":\"acme-rp\",\"redirect_uris\":\"$CB\",\"grant_types\":\"authorization_code\",\"scopes\":\"openid profile email\"}" \
  "$U/iam/tenants/upstream/oidc/clients")
CID=$(jget client_id <<<"$r"); CSEC=$(jget client_secret <<<"$r")
check "provider registered in acme" [ "$(status_of "${A[@]}" -d "{\"name\":\"corp\",\"issuer\":\"$O/oidc/upstream\",\"client_id\":\"$CID\",\"client_secret\":\"$CSEC\"}" \
  "$U/iam/tenants/acme/federation/providers")" = 201 ]
# A browser's federated sign-in; prints the callback's JSON answer.
fed_login() {
  rm -f "$JAR"
  local a c
  a=$(acurl -s -D - -o /dev/null -c "$JAR" "$O/federation/acme/corp/login" | location)
  c=$(acurl -s -D - -o /dev/null -H "Authorization: Bearer $SZ" "$a" | location)
  acurl -b "$JAR" "$c"
}
r=$(fed_login)
ZID=$(jget user_id <<<"$r")
check "the first federated sign-in provisions zoe" [ -n "$(jget session_token <<<"$r")" ] && [ -n "$ZID" ]
check "zoe is made tenant-admin of acme" \
  [ "$(status_of "${A[@]}" -X PUT "$U/authz/tenants/acme/roles/tenant-admin/members/user:$ZID")" = 200 ]
check "security-admin marked MFA required" \
  [ "$(status_of "${A[@]}" -X PUT "$U/iam/tenants/acme/mfa/roles/security-admin")" = 200 ]
r=$(fed_login)
check "then the federated sign-in without a second factor is refused" \
  bash -c "grep -q access_denied <<<'$r' && ! grep -q session_token <<<'$r'"
check "the refusal is a SIEM event with reason mfa_required" wait_until 100 bash -c \
  "curl -sS --cacert '$CA' -H 'Authorization: Bearer $TOKEN' -G --data-urlencode 'q=event.action:login-federated event.outcome:failure' '$U/siem/events' | grep -q mfa_required"
check "the mark removed" [ "$(status_of "${A[@]}" -X DELETE "$U/iam/tenants/acme/mfa/roles/security-admin")" = 200 ]
check "zoe signs in again" [ -n "$(fed_login | jget session_token)" ]
GID=$(acurl "${A[@]}" -d '{"name":"admins"}' "$U/iam/tenants/acme/groups" | jget id)
acurl "${A[@]}" -o /dev/null -X PUT "$U/iam/tenants/acme/groups/$GID/members/$ZID"
check "a group of zoe's marked MFA required" [ "$(status_of "${A[@]}" -X PUT "$U/iam/tenants/acme/groups/$GID/mfa")" = 200 ]
r=$(fed_login)
check "refuses her federated sign-in too" bash -c "grep -q access_denied <<<'$r' && ! grep -q session_token <<<'$r'"

# Upstream with a second factor: bulwark's own ID token says "amr":
# ["mfa"], which satisfies acme's policy.
now() { acurl "${A[@]}" -d '{"advance_s":0}' "$U/test/clock" | jget now_s; }
ZUP=$(acurl "${A[@]}" "$U/iam/tenants/upstream/users" |
  "$PY" -c 'import json,sys;print([u["id"] for u in json.load(sys.stdin)["users"] if u["name"]=="zoe"][0])')
SEC=$(acurl "${A[@]}" -d '{}' "$U/iam/tenants/upstream/users/$ZUP/totp" | jget secret)
acurl "${A[@]}" -o /dev/null -d "{\"code\":\"$(oathtool --totp -b -N "@$(now)" "$SEC")\"}" \
  "$U/iam/tenants/upstream/users/$ZUP/totp/verify"
acurl "${A[@]}" -o /dev/null -d '{"advance_s":30}' "$U/test/clock"
ch=$(acurl -H "Content-Type: application/json" -d "{\"username\":\"zoe\",\"password\":\"$PW\"}" \
  "$U/iam/tenants/upstream/login" | jget challenge)
SZ=$(acurl -H "Content-Type: application/json" -d "{\"challenge\":\"$ch\",\"code\":\"$(oathtool --totp -b -N "@$(now)" "$SEC")\"}" \
  "$U/iam/tenants/upstream/login/mfa" | jget session_token)
check "zoe signs in upstream with password and oathtool code" [ -n "$SZ" ]
r=$(fed_login)
check "the upstream's amr=mfa satisfies the policy" [ -n "$(jget session_token <<<"$r")" ]
check "clean stop" bw_stop
finish
