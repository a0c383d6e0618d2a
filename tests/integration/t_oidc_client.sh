#!/usr/bin/env bash
# A certified relying-party library against bulwark's OIDC provider:
# openid-client (npm, run with node) does discovery, authorization code +
# PKCE for a confidential and a public client, ID token validation,
# userinfo, refresh with rotation and reuse detection, introspection,
# revocation and client credentials (tests/iam-core/oidc_client.mjs).
# The npm packages come from tests/iam-core/package-lock.json with
# `npm ci` into a cache directory keyed by the lock file (CI starts from
# a fresh clone; later runs reuse it).
. "$(dirname "$0")/lib.sh"
NODE_SRC="$HERE/../iam-core"
command -v node >/dev/null || { echo "FAIL: node is not installed (apt-get install nodejs npm)"; exit 1; }
CACHE="${BW_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bulwark-node}/iam-core-$(sha256sum "$NODE_SRC/package-lock.json" | cut -c1-16)"
if [ ! -d "$CACHE/node_modules/openid-client" ]; then
  mkdir -p "$CACHE"
  cp "$NODE_SRC/package.json" "$NODE_SRC/package-lock.json" "$CACHE/"
  (cd "$CACHE" && npm ci --no-audit --no-fund --loglevel=error) || { echo "FAIL: npm ci"; exit 1; }
fi
cp "$NODE_SRC/oidc_client.mjs" "$CACHE/"

bw_start || exit 1
O="https://localhost:$ADMIN"
U="$O/api/v1/iam"
A=(-H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json")
json() { "$PY" -c 'import json,sys;d=json.load(sys.stdin);print(d.get(sys.argv[1],""))' "$1"; }

acurl "${A[@]}" -d '{"name":"shop"}' "$U/tenants" >/dev/null
PW="correct horse battery staple $RANDOM"
r=$(acurl "${A[@]}" -d "{\"name\":\"dana\",\"email\":\"dana@example.org\",\"display_name\":\"Dana\",\"password\":\"$PW\"}" "$U/tenants/shop/users")
UID_=$(json id <<<"$r")
SESSION=$(acurl -H "Content-Type: application/json" -d "{\"username\":\"dana\",\"password\":\"$PW\"}" "$U/tenants/shop/login" | json session_token)
check "user signs in" [ -n "$SESSION" ]
REDIRECT="http://127.0.0.1:9/cb"
r=$(acurl "${A[@]}" -d "{\"name\":\"web\",\"redirect_uris\":\"$REDIRECT\",\"grant_types\":\"authorization_code refresh_token\",\"scopes\":\"openid profile email\"}" "$U/tenants/shop/oidc/clients")
CONF_ID=$(json client_id <<<"$r"); CONF_SECRET=$(json client_secret <<<"$r")
r=$(acurl "${A[@]}" -d "{\"name\":\"spa\",\"redirect_uris\":\"$REDIRECT\",\"grant_types\":\"authorization_code refresh_token\",\"scopes\":\"openid profile\",\"public\":true}" "$U/tenants/shop/oidc/clients")
PUB_ID=$(json client_id <<<"$r")
r=$(acurl "${A[@]}" -d '{"name":"batch","redirect_uris":"https://batch.example/cb","grant_types":"client_credentials","scopes":"api.read api.write"}' "$U/tenants/shop/oidc/clients")
CC_ID=$(json client_id <<<"$r"); CC_SECRET=$(json client_secret <<<"$r")
check "clients registered (confidential, public, machine)" \
  bash -c "[ -n '$CONF_SECRET' ] && [ -n '$PUB_ID' ] && [ -n '$CC_SECRET' ]"
r=$(acurl "${A[@]}" "$U/tenants/shop/oidc/clients")
check "client listing never shows secrets" bash -c "grep -q '$PUB_ID' <<<'$r' && ! grep -q '$CONF_SECRET' <<<'$r'"

out=$(cd "$CACHE" && NODE_EXTRA_CA_CERTS="$CA" ISSUER="$O/oidc/shop" SESSION="$SESSION" \
  USER_ID="$UID_" REDIRECT="$REDIRECT" CONF_ID="$CONF_ID" CONF_SECRET="$CONF_SECRET" \
  PUB_ID="$PUB_ID" CC_ID="$CC_ID" CC_SECRET="$CC_SECRET" timeout 120 node oidc_client.mjs 2>&1)
rc=$?
echo "$out" | sed 's/^/  node: /'
check "openid-client run completed" [ "$rc" = 0 ]
check "openid-client checks passed" bash -c "! grep -q '^FAIL' <<<'$out' && grep -q '^ok: client credentials' <<<'$out'"
check "no client secret in the daemon log" bash -c "! grep -q '$CONF_SECRET' '$D.log' && ! grep -q '$CC_SECRET' '$D.log'"
check "clean stop" bw_stop
finish
