#!/usr/bin/env bash
# Step-up of an admin API session with a security key, through a real
# browser: headless Chromium (Debian's chromium, driven by playwright-core
# from tests/iam-web) with a CDP virtual authenticator signs in on the
# login page, adds a security key on the account page, then — with the
# settable clock moved past the step-up window — asks the admin API for a
# WebAuthn challenge (POST /api/v1/iam/self/step-up/webauthn), answers it
# with navigator.credentials.get and posts the assertion to
# /api/v1/iam/self/step-up: the session is fresh again; the same
# assertion a second time is refused and audited. Served on
# http://localhost (a secure context for WebAuthn).
. "$(dirname "$0")/lib.sh"
WEB="$HERE/../iam-web"
CHROMIUM_BIN=${CHROMIUM_BIN:-/usr/lib/chromium/chromium}
if [ ! -x "$CHROMIUM_BIN" ]; then
  echo "FAIL: $CHROMIUM_BIN missing (Debian package chromium; make deps)"
  exit 1
fi
if [ ! -d "$WEB/node_modules/playwright-core" ]; then
  (cd "$WEB" && npm ci --no-audit --no-fund --cache "${NPM_CACHE:-/tmp/bulwark-npm-cache}" >/dev/null 2>&1) ||
    { echo "FAIL: npm ci in tests/iam-web"; exit 1; }
fi

bw_start || exit 1
U="https://localhost:$ADMIN/api/v1"
T=(-H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json")
PW="a security key passphrase $RANDOM$RANDOM"
acurl "${T[@]}" -o /dev/null -d '{"name":"keys"}' "$U/iam/tenants"
r=$(acurl "${T[@]}" -d "{\"name\":\"kate\",\"password\":\"$PW\"}" "$U/iam/tenants/keys/users")
check "user kate created" grep -q '"id"' <<<"$r"

cat >"$D/stepup.cjs" <<'JS'
// Usage: node stepup.cjs BASE TENANT USER PASSWORD BOOTSTRAP_TOKEN
const { chromium } = require('playwright-core');
const [base, tenant, user, password, boot] = process.argv.slice(2);
let failed = false;
function check(what, cond, extra) {
  console.log(`${cond ? 'ok' : 'FAIL'}: ${what}${!cond && extra ? ' — ' + extra : ''}`);
  if (!cond) failed = true;
}
async function api(method, path, token, body) {
  const r = await fetch(base + path, {
    method, headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: r.status, json: await r.json().catch(() => ({})) };
}
(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_BIN, headless: true, timeout: 20000,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  try {
    const context = await browser.newContext();
    const page = await context.newPage();
    page.setDefaultTimeout(10000);
    const cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable', { enableUI: false });
    await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'usb', hasResidentKey: false,
        hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
    });
    await page.goto(`${base}/auth/${tenant}/login`);
    await page.getByLabel('User name').fill(user);
    await page.getByLabel('Password').fill(password);
    await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Sign in' }).click()]);
    await page.getByLabel('Name of the new key').fill('step-up key');
    await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Add a security key' }).click()]);
    check('security key added on the account page', (await page.textContent('main')).includes('Security key added.'));
    const sess = (await context.cookies()).find((c) => c.name === `__Host-bw-s-${tenant}`);
    const tok = sess ? sess.value : '';
    check('the browser session is a bearer token for the API', tok.startsWith('bws_'));
    check('the test clock moves past the window',
      (await api('POST', '/api/v1/test/clock', boot, { advance_s: 400 })).status === 200);
    let st = await api('GET', '/api/v1/iam/self/step-up', tok);
    check('the session needs a step-up', st.json.step_up === 'required', JSON.stringify(st));
    st = await api('POST', '/api/v1/iam/self/step-up', tok, { code: '123456' });
    check('a code is no use for a security-key user (use_security_key)',
      st.status === 400 && st.json.error && st.json.error.code === 'use_security_key', JSON.stringify(st));
    // In the page: challenge from the API, the key's answer, back to the API.
    const out = await page.evaluate(async (token) => {
      const b64u = (buf) => btoa(String.fromCharCode(...new Uint8Array(buf)))
        .replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
      const unb64u = (s) => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));
      const hdr = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' };
      const o = await (await fetch('/api/v1/iam/self/step-up/webauthn', { method: 'POST', headers: hdr })).json();
      const pk = { challenge: unb64u(o.challenge), rpId: o.rpId, timeout: o.timeout,
        userVerification: o.userVerification,
        allowCredentials: o.allowCredentials.map((c) => ({ type: c.type, id: unb64u(c.id) })) };
      const cred = await navigator.credentials.get({ publicKey: pk });
      const body = JSON.stringify({ webauthn: {
        credential_id: b64u(cred.rawId),
        client_data: b64u(cred.response.clientDataJSON),
        authenticator_data: b64u(cred.response.authenticatorData),
        signature: b64u(cred.response.signature) } });
      const r1 = await fetch('/api/v1/iam/self/step-up', { method: 'POST', headers: hdr, body });
      const r2 = await fetch('/api/v1/iam/self/step-up', { method: 'POST', headers: hdr, body });
      return { s1: r1.status, j1: await r1.json(), s2: r2.status, j2: await r2.json() };
    }, tok);
    check('the security key steps the API session up', out.s1 === 200 && out.j1.step_up === 'fresh', JSON.stringify(out));
    check('the same assertion again is refused (401 bad_assertion)',
      out.s2 === 401 && out.j2.error && out.j2.error.code === 'bad_assertion', JSON.stringify(out));
    st = await api('GET', '/api/v1/iam/self/step-up', tok);
    check('the session is fresh', st.json.step_up === 'fresh', JSON.stringify(st));
  } catch (e) {
    check('browser run', false, String(e && e.stack || e));
  } finally {
    await browser.close();
  }
  process.exit(failed ? 1 : 0);
})();
JS
CHROMIUM_BIN="$CHROMIUM_BIN" NODE_PATH="$WEB/node_modules" timeout 60 \
  node "$D/stepup.cjs" "http://localhost:$PLAIN" keys kate "$PW" "$TOKEN" >"$D.node" 2>&1
rc=$?
cat "$D.node"
check "browser step-up passes (node exit $rc)" [ "$rc" = 0 ]
check "the security-key step-up is audited" \
  grep -q '"action":"iam.session.step_up".*"security_key".*"outcome":"success"' "$D/audit.log"
check "the replay is audited" \
  grep -q '"action":"iam.session.step_up".*bad_assertion.*"outcome":"denied"' "$D/audit.log"
rm -f "$D.node"
check "clean stop" bw_stop
finish
