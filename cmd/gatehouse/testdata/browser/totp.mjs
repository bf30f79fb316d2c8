// Drives Debian's Chromium through TOTP enrolment and a two-factor login:
//
//   node totp.mjs <base-url> <username> <password> <screenshot.png>
//
// The gateway's policy requires 2FA. The script logs in, is sent to the
// enrolment page, reads the secret shown for manual entry, computes codes
// itself (RFC 6238, HMAC-SHA1, like a phone app), confirms, sees its
// recovery codes (copies and downloads them; they stay on screen until
// "I have saved these codes" is ticked), logs out, and logs in again
// with a fresh code.
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
  const context = await browser.newContext();
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: new URL(base).origin });
  const page = await context.newPage();
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
  const shown = (await page.locator('#codes code').allTextContents()).join('\n') + '\n';
  // The codes leave the screen only after "I have saved these codes".
  const codesURL = page.url();
  await page.click('#continue');
  await page.waitForTimeout(300);
  expect(page.url() === codesURL && await page.locator('#codes li').count() === 10,
    'Continue without ticking "I have saved these codes" stays on the codes', page.url());
  // Copy puts exactly the codes on the clipboard and says so.
  await page.click('#copy-codes');
  await page.waitForFunction(() => document.getElementById('copy-status').textContent !== '');
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  expect(copied === shown, 'Copy puts the codes on the clipboard', JSON.stringify(copied));
  expect(await page.locator('#copy-status').textContent() === 'Copied.', 'the copy is announced');
  // Download is a text file of the codes, made in the page (never a URL
  // the codes could be fetched from again).
  const href = await page.locator('#download-codes').getAttribute('href');
  const file = decodeURIComponent(href.replace(/^data:text\/plain;charset=utf-8,/, '')).replace(/\r\n/g, '\n');
  expect(href.startsWith('data:text/plain;charset=utf-8,') && file === shown, 'Download holds the codes', href);
  await page.check('#saved');
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
