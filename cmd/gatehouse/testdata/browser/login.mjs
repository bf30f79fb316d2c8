// Drives Debian's Chromium through Gatehouse's password login and logout,
// as a user would: usage
//
//   node login.mjs <base-url> <username> <password> <screenshot.png> [cookie-name]
//
// Run by TestBrowserLoginLogout (cmd/gatehouse/browser_test.go), which
// starts the real binary. Every step prints one "ok ..." line; the first
// failed expectation prints "FAIL ..." and exits 1.
import { expect, launchChromium } from './common.mjs';

const [base, username, password, screenshot, cookieName = 'gatehouse'] = process.argv.slice(2);
if (!base || !username || !password || !screenshot) {
  console.error('usage: node login.mjs <base-url> <username> <password> <screenshot.png> [cookie-name]');
  process.exit(2);
}

// Without the background-networking flags Chromium keeps dialling Google
// hosts, which this machine's closed network refuses.
const browser = await launchChromium();

async function text(page, selector) {
  return (await page.locator(selector).textContent({ timeout: 5000 }))?.trim();
}

async function submitLogin(page, user, pw) {
  await page.fill('#username', user);
  await page.fill('#password', pw);
  await Promise.all([page.waitForNavigation(), page.click('#login')]);
}

try {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.setDefaultTimeout(10000);

  await page.goto(new URL('/', base).href);
  expect(page.url().includes('/.gatehouse/login?rd='), 'unauthenticated / redirects to the login page', page.url());

  await submitLogin(page, username, password + '-wrong');
  expect(await text(page, '#error') === 'Invalid username or password.', 'wrong password shows the generic error',
    await page.locator('#error').count() ? await text(page, '#error') : page.url());

  await submitLogin(page, username, password);
  expect(new URL(page.url()).pathname === '/', 'login lands on the CRM', page.url());
  expect(await text(page, '[id="X-Gatehouse-User"]') === username, 'upstream received X-Gatehouse-User',
    await text(page, '[id="X-Gatehouse-User"]'));
  expect(await text(page, '#assertion') === 'verified', 'upstream verified the signed assertion',
    await text(page, '#assertion'));

  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === cookieName);
  expect(session !== undefined, `session cookie ${cookieName} is set`, JSON.stringify(cookies.map((c) => c.name)));
  expect(session.httpOnly, 'session cookie is HttpOnly');
  expect(session.sameSite === 'Lax', 'session cookie is SameSite=Lax', session.sameSite);
  const visible = await page.evaluate(() => document.cookie);
  expect(!visible.includes(`${cookieName}=`), 'page script cannot read the session cookie', visible);
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(`ok screenshot ${screenshot}`);

  await Promise.all([page.waitForNavigation(), page.click('#logout')]);
  expect(page.url().includes('/.gatehouse/login?reason=logged_out'), 'logout lands on the login page', page.url());
  expect(await text(page, '#notice') === 'You have been logged out.', 'logged-out notice is shown');
  const after = (await context.cookies()).find((c) => c.name === cookieName);
  expect(after === undefined, 'session cookie is gone after logout');

  await page.goto(new URL('/', base).href);
  expect(page.url().includes('/.gatehouse/login?rd='), 'after logout / asks for a login again', page.url());

  // The server must have ended the session, not just the browser's cookie.
  await context.addCookies([session]);
  await page.goto(new URL('/', base).href);
  expect(page.url().includes('/.gatehouse/login?rd='), 'the logged-out session cookie, replayed, is refused', page.url());
} catch (err) {
  console.log(`FAIL ${err.message}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
