#!/usr/bin/env bash
# Security keys through a real browser: headless Chromium (Debian's
# chromium package, driven by playwright-core from npm) with a CDP virtual
# authenticator signs in on bulwark's login page with a password, adds a
# security key on the account page (registration ceremony, attestation
# verified by bulwark), signs out and signs in again with the key as the
# second step (assertion ceremony); then a clone of the key whose
# signature counter went back is refused, and the refusal is audited;
# axe-core checks the sign-in page and the second step for WCAG A/AA.
# The pages are served on http://localhost (a secure context for
# WebAuthn and for Secure cookies), so no certificate needs trusting.
. "$(dirname "$0")/lib.sh"
WEB="$HERE/../iam-web"
CHROMIUM_BIN=${CHROMIUM_BIN:-/usr/lib/chromium/chromium}
if [ ! -x "$CHROMIUM_BIN" ]; then
  echo "FAIL: $CHROMIUM_BIN missing (Debian package chromium; make deps)"
  exit 1
fi
if [ ! -d "$WEB/node_modules/playwright-core" ] || [ ! -d "$WEB/node_modules/axe-core" ]; then
  (cd "$WEB" && npm ci --no-audit --no-fund --cache "${NPM_CACHE:-/tmp/bulwark-npm-cache}" >/dev/null 2>&1) ||
    { echo "FAIL: npm ci in tests/iam-web"; exit 1; }
fi

bw_start || exit 1
. "$WEB/admin.sh"
S=$(admin_session)
check "admin session" [ -n "$S" ]
A=(-H "Authorization: Bearer $S")
acurl "${J[@]}" "${A[@]}" -d '{"name":"keys"}' "$U/iam/tenants" >/dev/null
WPW="a browser passphrase 2718 $RANDOM"
r=$(acurl "${J[@]}" "${A[@]}" -d "{\"name\":\"walt\",\"password\":\"$WPW\"}" "$U/iam/tenants/keys/users")
check "user walt created" grep -q '"id"' <<<"$r"

CHROMIUM_BIN="$CHROMIUM_BIN" timeout 60 node "$WEB/webauthn.mjs" "http://localhost:$PLAIN" keys walt "$WPW" >"$D.node" 2>&1
rc=$?
cat "$D.node"
check "browser ceremonies pass (node exit $rc)" [ "$rc" = 0 ]
check "key registration audited" grep -q '"action":"iam.webauthn.register".*"outcome":"success"' "$D/audit.log"
check "security-key sign-in audited" grep -q '"action":"iam.web.login_mfa".*"outcome":"success"' "$D/audit.log"
check "the cloned key's refusal is audited (reason counter)" grep -q '"action":"iam.web.login_mfa".*"reason":"counter"' "$D/audit.log"
rm -f "$D.node"
check "clean stop" bw_stop
finish
