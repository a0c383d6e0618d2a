// A certified OpenID relying-party library (openid-client 6, on
// oauth4webapi) against bulwark's OIDC provider: discovery, authorization
// code + PKCE (confidential and public client), ID token and userinfo,
// refresh with rotation and reuse detection, introspection (RFC 7662),
// revocation (RFC 7009), client credentials and RP-initiated logout.
//
// The user is authenticated at the authorization endpoint with a bulwark
// session (the bearer form the endpoint accepts besides the login page);
// everything after the redirect is the library's own code.
//
// Environment: ISSUER, SESSION, USER_ID, REDIRECT, CONF_ID, CONF_SECRET,
// PUB_ID, CC_ID, CC_SECRET; NODE_EXTRA_CA_CERTS trusts the test CA.
// Prints "ok: ..." / "FAIL: ..." lines; exit status 1 on any failure.
import * as client from 'openid-client';

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`missing ${k}`);
  return v;
};
let fails = 0;
const check = (desc, cond, detail = '') => {
  if (cond) console.log(`ok: ${desc}`);
  else {
    fails++;
    console.log(`FAIL: ${desc} ${detail}`);
  }
};
const rejects = async (desc, fn, want) => {
  try {
    await fn();
    check(desc, false, '(no error)');
  } catch (e) {
    const code = e.error || e.code || e.name;
    check(desc, !want || code === want || String(e.message).includes(want),
      `(${code}: ${e.message})`);
  }
};

const issuer = new URL(env('ISSUER'));
const tenantOf = (u) => u.pathname.split('/')[2];
const redirect = env('REDIRECT');
const session = env('SESSION');
const userId = env('USER_ID');

// The user's agent: follows the authorization request with the session
// and hands the redirect back, as a browser would.
async function authorize(config, params) {
  const url = client.buildAuthorizationUrl(config, params);
  const r = await fetch(url, {
    headers: { Authorization: `Bearer ${session}` },
    redirect: 'manual',
  });
  const loc = r.headers.get('location');
  if (r.status !== 302 || !loc) throw new Error(`authorize: ${r.status} ${await r.text()}`);
  return new URL(loc);
}

async function codeFlow(config, scope) {
  const verifier = client.randomPKCECodeVerifier();
  const challenge = await client.calculatePKCECodeChallenge(verifier);
  const state = client.randomState();
  const nonce = client.randomNonce();
  const cb = await authorize(config, {
    redirect_uri: redirect, scope, code_challenge: challenge,
    code_challenge_method: 'S256', state, nonce,
  });
  const tokens = await client.authorizationCodeGrant(config, cb, {
    pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce,
    idTokenExpected: scope.split(' ').includes('openid'),
  });
  return { tokens, cb, verifier, state, nonce };
}

// ------------------------------------------------------------- discovery
const conf = await client.discovery(issuer, env('CONF_ID'), env('CONF_SECRET'));
const md = conf.serverMetadata();
check('discovery: issuer matches', md.issuer === issuer.href);
check('discovery: S256 only', JSON.stringify(md.code_challenge_methods_supported) === '["S256"]');

// --------------------------------------------- code + PKCE (confidential)
const { tokens } = await codeFlow(conf, 'openid profile email');
const claims = tokens.claims();
check('code flow: access, ID and refresh tokens', !!tokens.access_token && !!tokens.id_token && !!tokens.refresh_token);
check('ID token validated by the library; sub is the user', claims.sub === userId, claims.sub);
check('ID token audience is the client', claims.aud === env('CONF_ID') || (Array.isArray(claims.aud) && claims.aud.includes(env('CONF_ID'))));
const ui = await client.fetchUserInfo(conf, tokens.access_token, claims.sub);
check('userinfo answers for the subject', ui.sub === userId);

// ------------------------------------------------------------ refresh
const r1 = await client.refreshTokenGrant(conf, tokens.refresh_token);
check('refresh: new access token', !!r1.access_token && r1.access_token !== tokens.access_token);
check('refresh: refresh token rotated', !!r1.refresh_token && r1.refresh_token !== tokens.refresh_token);
await rejects('refresh: reusing the spent token is refused', () => client.refreshTokenGrant(conf, tokens.refresh_token), 'invalid_grant');
await rejects('refresh: reuse revoked the whole family (rotated token dead too)', () => client.refreshTokenGrant(conf, r1.refresh_token), 'invalid_grant');

// --------------------------------------------- introspection, revocation
const t2 = (await codeFlow(conf, 'openid')).tokens;
let ir = await client.tokenIntrospection(conf, t2.access_token);
check('introspection: access token active', ir.active === true && ir.sub === userId);
check('introspection: client_id and scope', ir.client_id === env('CONF_ID') && String(ir.scope).includes('openid'));
ir = await client.tokenIntrospection(conf, 'not-a-token');
check('introspection: garbage is inactive', ir.active === false);
await client.tokenRevocation(conf, t2.access_token);
ir = await client.tokenIntrospection(conf, t2.access_token);
check('revocation: revoked access token is inactive', ir.active === false);
await client.tokenRevocation(conf, t2.refresh_token);
await rejects('revocation: revoked refresh token cannot refresh', () => client.refreshTokenGrant(conf, t2.refresh_token), 'invalid_grant');

// ------------------------------------------------- PKCE failure modes
{
  const verifier = client.randomPKCECodeVerifier();
  const challenge = await client.calculatePKCECodeChallenge(verifier);
  const state = client.randomState();
  const cb = await authorize(conf, { redirect_uri: redirect, scope: 'openid', code_challenge: challenge, code_challenge_method: 'S256', state, nonce: 'n1' });
  await rejects('PKCE: a wrong verifier is refused', () => client.authorizationCodeGrant(conf, cb, { pkceCodeVerifier: client.randomPKCECodeVerifier(), expectedState: state, expectedNonce: 'n1' }), 'invalid_grant');
  await rejects('PKCE: the code burnt by the failed attempt stays dead', () => client.authorizationCodeGrant(conf, cb, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: 'n1' }), 'invalid_grant');
}
{
  const verifier = client.randomPKCECodeVerifier();
  const challenge = await client.calculatePKCECodeChallenge(verifier);
  const state = client.randomState();
  const cb = await authorize(conf, { redirect_uri: redirect, scope: 'openid', code_challenge: challenge, code_challenge_method: 'S256', state });
  const ok = await client.authorizationCodeGrant(conf, cb, { pkceCodeVerifier: verifier, expectedState: state });
  check('code redeemed once', !!ok.access_token);
  await rejects('a code is single-use', () => client.authorizationCodeGrant(conf, cb, { pkceCodeVerifier: verifier, expectedState: state }), 'invalid_grant');
}

// ------------------------------------------------------ public client
const pub = await client.discovery(issuer, env('PUB_ID'), undefined, client.None());
const p = (await codeFlow(pub, 'openid profile')).tokens;
check('public client: code + PKCE gives tokens', !!p.access_token && p.claims().sub === userId);
{
  const url = client.buildAuthorizationUrl(pub, { redirect_uri: redirect, scope: 'openid', state: 's' });
  const r = await fetch(url, { headers: { Authorization: `Bearer ${session}` }, redirect: 'manual' });
  const loc = r.headers.get('location') || '';
  check('public client without PKCE is refused', r.status !== 302 || loc.includes('error='), `${r.status} ${loc}`);
}

// ------------------------------------------------- client credentials
const cc = await client.discovery(issuer, env('CC_ID'), env('CC_SECRET'), client.ClientSecretBasic(env('CC_SECRET')));
const ct = await client.clientCredentialsGrant(cc, { scope: 'api.read' });
check('client credentials: access token with the scope', !!ct.access_token && ct.scope === 'api.read' && !ct.refresh_token);
ir = await client.tokenIntrospection(conf, ct.access_token);
check('client-credentials token introspects active', ir.active === true);
const wrong = await client.discovery(issuer, env('CC_ID'), 'bcs_wrong-secret');
try {
  await client.clientCredentialsGrant(wrong, { scope: 'api.read' });
  check('client credentials: wrong secret refused', false, '(no error)');
} catch (e) {
  // RFC 6749 5.2: 401 with a WWW-Authenticate challenge (the library
  // reports the challenge) or invalid_client in the body.
  const challenge = e.code === 'OAUTH_WWW_AUTHENTICATE_CHALLENGE' && e.response?.status === 401;
  check('client credentials: wrong secret refused (401 invalid_client)', challenge || e.error === 'invalid_client', `(${e.code}: ${e.message})`);
}

// ---------------------------------------------- RP-initiated logout
{
  const bad = client.buildEndSessionUrl(conf, { id_token_hint: tokens.id_token, post_logout_redirect_uri: 'https://evil.example/' });
  const rb = await fetch(bad, { redirect: 'manual' });
  check('logout: an unregistered post_logout_redirect_uri is refused without a redirect', rb.status === 400 && !rb.headers.get('location'));
  const forged = tokens.id_token.slice(0, -4) + (tokens.id_token.endsWith('AAAA') ? 'BBBB' : 'AAAA');
  const rf = await fetch(client.buildEndSessionUrl(conf, { id_token_hint: forged }), { headers: { Cookie: `__Host-bw-s-${tenantOf(issuer)}=${session}` } });
  check('logout: a forged id_token_hint is refused', rf.status === 400);
  const sessionsUrl = new URL('/api/v1/iam/self/sessions', issuer);
  const alive = await fetch(sessionsUrl, { headers: { Authorization: `Bearer ${session}` } });
  check('the session survived the refused logouts', alive.status === 200, String(alive.status));
  const end = client.buildEndSessionUrl(conf, { id_token_hint: tokens.id_token, post_logout_redirect_uri: redirect, state: 'bye' });
  const r = await fetch(end, { headers: { Cookie: `__Host-bw-s-${tenantOf(issuer)}=${session}` }, redirect: 'manual' });
  check('logout: back to the registered URI with the state', r.status === 302 && r.headers.get('location') === `${redirect}?state=bye`, `${r.status} ${r.headers.get('location')}`);
  check('logout: the session cookie is cleared', (r.headers.get('set-cookie') || '').includes('Max-Age=0'));
  const dead = await fetch(sessionsUrl, { headers: { Authorization: `Bearer ${session}` } });
  check('logout: the browser session ended', dead.status === 401);
}

if (fails) {
  console.log(`${fails} check(s) failed`);
  process.exit(1);
}
