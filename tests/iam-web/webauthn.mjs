// Drives headless Chromium (Debian's chromium, through playwright-core)
// against bulwark's real login pages with a CDP virtual authenticator:
//   1. sign in with a password, add a security key on the account page
//      (navigator.credentials.create, attestation verified by bulwark);
//   2. sign out, sign in again: the password step now leads to the second
//      step, where the security key signs the assertion;
//   3. a clone of the key with a lower signature counter is refused;
//   4. axe-core finds no WCAG 2.1 A/AA violation on the sign-in page
//      (empty and with an error) and the second step.
// Usage: node webauthn.mjs BASE TENANT USER PASSWORD
// Prints one line per step; exits 1 on the first failure.
import { chromium } from 'playwright-core';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const axePath = require.resolve('axe-core/axe.min.js');

const [base, tenant, user, password] = process.argv.slice(2);
const exe = process.env.CHROMIUM_BIN || '/usr/lib/chromium/chromium';
let failed = false;
function check(what, cond, extra) {
  console.log(`${cond ? 'ok' : 'FAIL'}: ${what}${!cond && extra ? ' — ' + extra : ''}`);
  if (!cond) failed = true;
  return cond;
}

const browser = await chromium.launch({
  executablePath: exe,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  timeout: 20000,
});
try {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.setDefaultTimeout(10000);
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable', { enableUI: false });
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2', transport: 'usb', hasResidentKey: false,
      hasUserVerification: true, isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });

  async function passwordStep() {
    await page.goto(`${base}/auth/${tenant}/login`);
    await page.getByLabel('User name').fill(user);
    await page.getByLabel('Password').fill(password);
    await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Sign in' }).click()]);
  }

  // 1. Password sign-in, then register a security key.
  await passwordStep();
  check('password sign-in lands on the account page', page.url().endsWith(`/auth/${tenant}/account`),
    page.url() + ' ' + (await page.textContent('main')) + ' ' + JSON.stringify(await context.cookies()));
  const cookies = await context.cookies();
  const sess = cookies.find((c) => c.name === `__Host-bw-s-${tenant}`);
  check('session cookie is HttpOnly, Secure, SameSite=Lax', sess && sess.httpOnly && sess.secure && sess.sameSite === 'Lax',
    JSON.stringify(sess));
  await page.getByLabel('Name of the new key').fill('virtual key');
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Add a security key' }).click()]);
  const body1 = await page.textContent('main');
  check('security key registered through the page', body1.includes('Security key added.') && body1.includes('virtual key'), body1);
  // Chromium's virtual authenticator answers attestation "direct" with a
  // "packed" statement and a certificate: bulwark verified it ("basic").
  const att = await page.textContent('tbody');
  check(`packed attestation verified (${att.trim()})`, /basic|self/.test(att), att);
  const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
  check('the authenticator holds one credential', credentials.length === 1);

  // 2. Sign out; password again; the security key is the second step.
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Sign out' }).click()]);
  await passwordStep();
  check('password step leads to the second step', page.url().includes(`/auth/${tenant}/mfa`), page.url());
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Use your security key' }).click()]);
  check('signed in with the security key', page.url().endsWith(`/auth/${tenant}/account`), page.url());
  const body2 = await page.textContent('main');
  check('account page shows the user', body2.includes(`Signed in as ${user}`), body2);
  const after = (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials[0];
  check('the signature counter moved', after.signCount > credentials[0].signCount);

  // 3. A clone of the key with a counter behind the stored one.
  await cdp.send('WebAuthn.removeCredential', { authenticatorId, credentialId: after.credentialId });
  await cdp.send('WebAuthn.addCredential', {
    authenticatorId,
    credential: { ...after, signCount: 0 },
  });
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Sign out' }).click()]);
  await passwordStep();
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Use your security key' }).click()]);
  const body3 = await page.textContent('main');
  check('a cloned key with a lower counter is refused', page.url().includes('/mfa') && body3.includes('That did not work'),
    page.url() + ' ' + body3);

  // 4. Accessibility. axe is injected as an inline script, which the
  // pages' CSP rightly refuses: a second context bypasses CSP for it.
  const ax = await browser.newContext({ bypassCSP: true });
  const ap = await ax.newPage();
  ap.setDefaultTimeout(10000);
  async function axe(what) {
    await ap.addScriptTag({ path: axePath });
    const r = await ap.evaluate(() => window.axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
    }));
    const v = r.violations.map((x) => `${x.id} (${x.nodes.length})`);
    check(`axe: no WCAG A/AA violations on ${what}`, v.length === 0, v.join(', '));
  }
  await ap.goto(`${base}/auth/${tenant}/login`);
  await axe('the sign-in page');
  await ap.getByLabel('User name').fill(user);
  await ap.getByLabel('Password').fill('not the password at all');
  await Promise.all([ap.waitForNavigation(), ap.getByRole('button', { name: 'Sign in' }).click()]);
  check('wrong password: error tied to the fields',
    (await ap.getAttribute('#password', 'aria-describedby')) === 'err' &&
    (await ap.getAttribute('#err', 'role')) === 'alert');
  await axe('the sign-in page with an error');
  await ap.getByLabel('User name').fill(user);
  await ap.getByLabel('Password').fill(password);
  await Promise.all([ap.waitForNavigation(), ap.getByRole('button', { name: 'Sign in' }).click()]);
  await axe('the second step');
  await ax.close();
} catch (e) {
  check('browser run', false, e && e.stack ? e.stack : String(e));
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
