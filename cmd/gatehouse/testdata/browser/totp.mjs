// Drives Debian's Chromium through TOTP enrolment and a two-factor login:
//
//   node totp.mjs <base-url> <username> <password> <screenshot.png>
//
// The gateway's policy requires 2FA. The script logs in, is sent to the
// enrolment page, reads the secret shown for manual entry, computes codes
// itself (RFC 6238, HMAC-SHA1, like a phone app), confirms, sees its
// recovery codes, logs out, and logs in again with a fresh code.
// Run by TestBrowserTOTP (cmd/gatehouse/browser_test.go).
import { base32Decode, currentStep, expect, launchChromium, totp } from './common.mjs';

const [base, username, password, screenshot] = process.argv.slice(2);

const browser = await launchChromium();

async function login(page) {
  await page.goto(new URL('/', base).href);
  await page.fill('#username', username);
  await page.fill('#password', password);
  await Promise.all([page.waitForNavigation(), page.click('#login')]);
}

try {
  const page = await (await browser.newContext()).newPage();
  page.setDefaultTimeout(10000);

  await login(page);
  expect(page.url().includes('/.gatehouse/2fa/enroll'), 'first factor leads to enrolment', page.url());
  const qr = await page.locator('#qr').evaluate((img) => img.naturalWidth);
  expect(qr > 0, 'the QR code image renders', String(qr));
  const secret = base32Decode((await page.locator('#secret').textContent()).trim());
  expect(secret.length === 20, 'a 160-bit secret is shown for manual entry', String(secret.length));

  const enrolStep = currentStep();
  await page.fill('#code', totp(secret, enrolStep));
  await Promise.all([page.waitForNavigation(), page.click('#confirm')]);
  const codes = await page.locator('#codes li').count();
  expect(codes === 10, 'ten recovery codes are shown once', String(codes));
  await Promise.all([page.waitForNavigation(), page.click('#continue')]);
  expect(await page.locator('[id="X-Gatehouse-Auth-Method"]').textContent() === 'password+totp',
    'the CRM sees password+totp');
  await page.screenshot({ path: screenshot, fullPage: true });

  await Promise.all([page.waitForNavigation(), page.click('#logout')]);
  expect(page.url().includes('reason=logged_out'), 'logged out');

  await login(page);
  expect(page.url().includes('/.gatehouse/2fa?'), 'the next login asks for a code', page.url());
  // The enrolment step is spent; wait for the next one like a user would.
  while (currentStep() === enrolStep) await new Promise((r) => setTimeout(r, 500));
  await page.fill('#code', totp(secret, currentStep()));
  await Promise.all([page.waitForNavigation(), page.click('#verify')]);
  expect(new URL(page.url()).pathname === '/', 'a fresh code completes the login', page.url());
  expect(await page.locator('#assertion').textContent() === 'verified', 'the CRM verifies the assertion');
  console.log('PASS');
} catch (err) {
  console.log(`FAIL ${err.message}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
