#!/usr/bin/env bash
# Federation: tenant "acme" delegates login to an upstream OpenID provider,
# which is bulwark's own OIDC provider of tenant "upstream" on the same
# daemon (a real network round trip through net_fetch: discovery, token
# endpoint with PKCE and client authentication, JWKS). Checks the browser
# binding of the state (cookie), nonce and single use, provisioning on the
# first login and the link on the next, the session working in acme only,
# upstream refusals, deletion of the user and of the provider, and that
# login events reach the log without secrets.
. "$(dirname "$0")/lib.sh"
bw_init || exit 1
# The upstream's CA, where the unprivileged worker can read it.
cp "$D/tls/ca.crt" "$D/upstream-ca.pem" && chmod 644 "$D/upstream-ca.pem"
[ "$(id -u)" = 0 ] && chown --reference="$D" "$D/upstream-ca.pem"
bw_config "iam:
  federation:
    ca_file: \"$D/upstream-ca.pem\""
bw_launch || exit 1
O="https://localhost:$ADMIN"
U="$O/api/v1/iam"
A=(-H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json")
json() { "$PY" -c 'import json,sys;d=json.load(sys.stdin);print(d.get(sys.argv[1],""))' "$1"; }
hdr() { tr -d '\r' | awk -v h="$1" 'tolower($1) == tolower(h)":" { sub(/^[^:]*: /, ""); print }'; }
JAR=$(mktemp /tmp/bwfed.XXXXXX)
trap 'rm -f "$JAR"; bw_cleanup' EXIT

acurl "${A[@]}" -d '{"name":"upstream"}' "$U/tenants" >/dev/null
acurl "${A[@]}" -d '{"name":"acme"}' "$U/tenants" >/dev/null
PW="correct horse battery staple $RANDOM"
r=$(acurl "${A[@]}" -d "{\"name\":\"alice\",\"email\":\"alice@example.org\",\"display_name\":\"Alice Upstream\",\"password\":\"$PW\"}" "$U/tenants/upstream/users")
check "upstream user created" grep -q '"id"' <<<"$r"
SA=$(acurl -H "Content-Type: application/json" -d "{\"username\":\"alice\",\"password\":\"$PW\"}" "$U/tenants/upstream/login" | json session_token)
check "alice signs in at the upstream" [ -n "$SA" ]
CB="$O/federation/acme/corp/callback"
r=$(acurl "${A[@]}" -d "{\"name\":\"acme-rp\",\"redirect_uris\":\"$CB\",\"grant_types\":\"authorization_code\",\"scopes\":\"openid profile email\"}" "$U/tenants/upstream/oidc/clients")
CID=$(json client_id <<<"$r"); CSEC=$(json client_secret <<<"$r")
check "relying-party client registered at the upstream" [ -n "$CID" ] && [ -n "$CSEC" ]
r=$(acurl "${A[@]}" -d "{\"name\":\"corp\",\"issuer\":\"$O/oidc/upstream\",\"client_id\":\"$CID\",\"client_secret\":\"$CSEC\"}" "$U/tenants/acme/federation/providers")
check "provider registered in acme" grep -q '"has_client_secret":true' <<<"$r"
check "the secret is never shown" bash -c "! grep -q '$CSEC' <<<'$r'"
r=$(acurl "${A[@]}" -d '{"name":"bad","issuer":"ftp://x","client_id":"c"}' "$U/tenants/acme/federation/providers")
check "a non-https issuer is refused" grep -q 'bad_request' <<<"$r"

# One federated login as a browser would do it (the upstream user is
# already signed in there): sets AUTHZ_URL, LOC_CB and r (the answer).
fed_login() {
  rm -f "$JAR"
  local h
  h=$(acurl -s -D - -o /dev/null -c "$JAR" "$O/federation/acme/corp/login")
  AUTHZ_URL=$(hdr location <<<"$h")
  h=$(acurl -s -D - -o /dev/null -H "Authorization: Bearer $SA" "$AUTHZ_URL")
  LOC_CB=$(hdr location <<<"$h")
  r=$(acurl -b "$JAR" "$LOC_CB")
}
fed_login
check "login redirects to the upstream's authorization endpoint" grep -q "^$O/oidc/upstream/authorize?" <<<"$AUTHZ_URL"
check "authorization request carries PKCE S256, state and nonce" \
  bash -c "grep -q 'code_challenge_method=S256' <<<'$AUTHZ_URL' && grep -q '&state=' <<<'$AUTHZ_URL' && grep -q '&nonce=' <<<'$AUTHZ_URL'"
check "state cookie is HttpOnly, Secure, __Host-" grep -q '__Host-bw-fed-acme' "$JAR"
check "the upstream sends the browser back with a code" grep -q "^$CB?code=" <<<"$LOC_CB"
S1=$(json session_token <<<"$r"); ID1=$(json user_id <<<"$r")
check "first login provisions a user in acme" grep -q '"provisioned":true' <<<"$r"
check "the provisioned user is named by the upstream claim" grep -q '"user_name":"alice"' <<<"$r"
check "the federated session works in acme" \
  [ "$(status_of -H "Authorization: Bearer $S1" "$U/self/sessions")" = 200 ]
u=$(acurl "${A[@]}" "$U/tenants/acme/users/$ID1")
check "the provisioned user records its upstream" grep -q '"federation":{"provider":"corp"' <<<"$u"
check "e-mail not taken from an unverified claim" grep -q '"email":""' <<<"$u"
check "replaying the callback is refused (state used once)" \
  [ "$(status_of -b "$JAR" "$LOC_CB")" = 400 ]

fed_login
check "second login follows the link (same user, not provisioned)" \
  bash -c "grep -q '\"provisioned\":false' <<<'$r' && grep -q '\"user_id\":\"$ID1\"' <<<'$r'"

# The callback needs the browser that started the login.
rm -f "$JAR"
h=$(acurl -s -D - -o /dev/null -c "$JAR" "$O/federation/acme/corp/login")
loc=$(hdr location <<<"$h")
h=$(acurl -s -D - -o /dev/null -H "Authorization: Bearer $SA" "$loc")
cb=$(hdr location <<<"$h")
check "a callback without the state cookie is refused" [ "$(status_of "$cb")" = 400 ]
check "a forged code is refused by the upstream (401)" \
  [ "$(status_of -b "$JAR" "${cb%%\?*}?code=forged&state=$(sed 's/.*state=//' <<<"$cb")")" = 401 ]

# Upstream refuses a wrong client secret: no session.
acurl "${A[@]}" -X PATCH -d '{"client_secret":"bcs_wrong"}' "$U/tenants/acme/federation/providers/corp" >/dev/null
fed_login
check "a wrong client secret yields no session" bash -c "! grep -q session_token <<<'$r'"
acurl "${A[@]}" -X PATCH -d "{\"client_secret\":\"$CSEC\"}" "$U/tenants/acme/federation/providers/corp" >/dev/null

# Tenant isolation: acme's federated user has nothing upstream.
check "the acme session cannot read the upstream tenant" \
  [ "$(status_of -H "Authorization: Bearer $S1" "$U/tenants/upstream/users")" = 403 ]

# Deleting the user removes the link: the next login provisions anew.
acurl "${A[@]}" -X DELETE "$U/tenants/acme/users/$ID1" >/dev/null
check "deleting the user ends its federated session" \
  [ "$(status_of -H "Authorization: Bearer $S1" "$U/self/sessions")" = 401 ]
fed_login
ID2=$(json user_id <<<"$r")
check "after deletion a login provisions a new user" \
  bash -c "grep -q '\"provisioned\":true' <<<'$r' && [ -n '$ID2' ] && [ '$ID2' != '$ID1' ]"

# Provisioning off and no verified e-mail: not linked, refused.
acurl "${A[@]}" -X DELETE "$U/tenants/acme/users/$ID2" >/dev/null
acurl "${A[@]}" -X PATCH -d '{"provision":false,"link_email":true}' "$U/tenants/acme/federation/providers/corp" >/dev/null
fed_login
check "no provisioning and no verified e-mail: refused (403)" grep -q 'access_denied' <<<"$r"
acurl "${A[@]}" -X PATCH -d '{"disabled":true}' "$U/tenants/acme/federation/providers/corp" >/dev/null
check "a disabled provider is not found" [ "$(status_of "$O/federation/acme/corp/login")" = 404 ]
r=$(acurl "${A[@]}" -X DELETE "$U/tenants/acme/federation/providers/corp")
check "provider deleted" grep -q '"deleted":"corp"' <<<"$r"
check "provider changes are audited" grep -q '"action":"iam.federation.create"' "$D/audit.log"
check "no secret in the audit log" bash -c "! grep -q '$CSEC' '$D/audit.log'"
check "no secret in the daemon log" bash -c "! grep -q '$CSEC' '$D.log' && ! grep -q '$SA' '$D.log'"
check "clean stop" bw_stop
finish
