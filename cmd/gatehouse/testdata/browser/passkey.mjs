// Drives Debian's Chromium through passkeys with its virtual
// authenticator (Chrome DevTools Protocol WebAuthn domain: a CTAP2
// platform authenticator that keeps discoverable credentials and
// verifies the user):
//
//   node passkey.mjs <base-url> <username> <password>
//
// base-url names localhost, not 127.0.0.1: WebAuthn refuses IP addresses
// as the relying party id. The policy requires 2FA, allows passkeys and
// passwordless passkey logins. The script logs in with the password, is
// sent to enrolment, creates a passkey, saves the recovery codes and
// reaches the CRM as password+webauthn; logs out and passes the 2FA step
// with the passkey; logs out and signs in with the passkey alone
// (webauthn); sees the passkey on the account page; and, with the
// authenticator's credentials wiped (another device), is refused. Run by
// TestBrowserPasskeys (cmd/gatehouse/passkey_test.go).
import { axe, expect, launchChromium, virtualAuthenticator } from './common.mjs';

const [base, username, password] = process.argv.slice(2);

async function login(page) {
  await page.goto(new URL('/', base).href);
  await page.fill('#username', username);
  await page.fill('#password', password);
  await Promise.all([page.waitForNavigation(), page.click('#login')]);
}

async function method(page) {
  return (await page.locator('[id="X-Gatehouse-Auth-Method"]').textContent()).trim();
}

async function logout(page) {
  await Promise.all([page.waitForNavigation(), page.click('#logout')]);
}

const browser = await launchChromium();
try {
  const page = await (await browser.newContext()).newPage();
  page.setDefaultTimeout(10000);
  const { cdp, authenticatorId } = await virtualAuthenticator(page);

  await login(page);
  expect(page.url().includes('/.gatehouse/2fa/enroll'), 'first factor leads to enrolment', page.url());
  expect(await page.locator('#enroll-passkey').isVisible(), 'the enrolment page offers a passkey');
  await axe(page, 'the enrolment page with a passkey');
  await page.fill('#passkey-name', 'Test laptop');
  await Promise.all([page.waitForNavigation(), page.click('#enroll-passkey')]);
  expect(await page.locator('#codes li').count() === 10, 'creating the passkey shows recovery codes', page.url());
  const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
  expect(credentials.length === 1 && credentials[0].isResidentCredential && credentials[0].rpId === new URL(base).hostname,
    'the authenticator holds one discoverable credential for this host', JSON.stringify(credentials.map((c) => c.rpId)));
  await page.check('#saved');
  await Promise.all([page.waitForNavigation(), page.click('#continue')]);
  expect(await method(page) === 'password+webauthn', 'the CRM sees password+webauthn', await method(page));

  await logout(page);
  await login(page);
  expect(page.url().includes('/.gatehouse/2fa'), 'the next login asks for the second factor', page.url());
  expect(await page.locator('#use-passkey').isVisible(), 'the 2FA page offers the passkey');
  await axe(page, 'the 2FA page with a passkey');
  await Promise.all([page.waitForNavigation(), page.click('#use-passkey')]);
  expect(await method(page) === 'password+webauthn', 'the passkey passes the 2FA step', await method(page));

  await page.goto(new URL('/.gatehouse/account', base).href);
  const row = (await page.locator('#passkeys tbody tr').first().textContent()).trim();
  expect(await page.locator('#passkeys tbody tr').count() === 1 && row.includes('Test laptop'), 'the account page lists the passkey', row);
  await axe(page, 'the account page with a passkey');
  await page.goto(new URL('/', base).href);

  await logout(page);
  await page.goto(new URL('/', base).href);
  await Promise.all([page.waitForNavigation(), page.click('#passkey-login')]);
  expect(page.url().includes('/.gatehouse/login/passkey'), 'the login page leads to the passkey page', page.url());
  await axe(page, 'the passkey login page');
  await Promise.all([page.waitForNavigation(), page.click('#use-passkey')]);
  expect(await method(page) === 'webauthn', 'the passkey alone signs in', await method(page));

  // Another device: no credential for this site. The browser finds none
  // and the page says so; nothing is posted.
  await logout(page);
  await cdp.send('WebAuthn.clearCredentials', { authenticatorId });
  await page.goto(new URL('/', base).href);
  await Promise.all([page.waitForNavigation(), page.click('#passkey-login')]);
  await page.click('#use-passkey');
  await page.waitForFunction(() => document.getElementById('passkey-status').textContent !== '', null, { timeout: 15000 });
  expect(page.url().includes('/.gatehouse/login/passkey'), 'without the passkey the browser stays on the passkey page', page.url());
  console.log('ok passkey registration, second factor and passwordless login');
} finally {
  await browser.close();
}
