// Drives Debian's Chromium through two-factor authentication by email:
//
//   node emailcode.mjs <base-url> <username> <password> <mailbox-url>
//
// The policy requires 2FA and allows email codes. The script logs in, is
// sent to the enrolment page, picks "Use codes by email", reads the code
// the gateway emailed (the Go test's SMTP server hands it over at
// <mailbox-url>/code?n=N), confirms, ticks "I have saved these codes",
// reaches the application, logs out, and logs in again with a code it
// asks to be emailed. Run by TestBrowserEmailCode
// (cmd/gatehouse/emailcode_test.go).
import { axe, expect, launchChromium } from './common.mjs';

const [base, username, password, mailbox] = process.argv.slice(2);

async function emailed(n) {
  const res = await fetch(`${mailbox}/code?n=${n}`);
  expect(res.ok, `email ${n} arrived`, String(res.status));
  return (await res.text()).trim();
}

async function login(page) {
  await page.goto(new URL('/', base).href);
  await page.fill('#username', username);
  await page.fill('#password', password);
  await Promise.all([page.waitForNavigation(), page.click('#login')]);
}

async function method(page) {
  return (await page.locator('[id="X-Gatehouse-Auth-Method"]').textContent()).trim();
}

const browser = await launchChromium();
try {
  const page = await (await browser.newContext()).newPage();
  page.setDefaultTimeout(10000);

  await login(page);
  expect(page.url().includes('/.gatehouse/2fa/enroll'), 'first factor leads to enrolment', page.url());
  expect(await page.locator('#qr').count() === 1 && await page.locator('#enroll-email').count() === 1,
    'the enrolment page offers an app and email codes');
  await axe(page, 'the enrolment page with email codes');
  await Promise.all([page.waitForNavigation(), page.click('#enroll-email')]);
  const sent = (await page.locator('#notice').textContent()).trim();
  expect(sent.includes('a•••@corp.example'), 'the page names the (masked) address the code went to', sent);
  await axe(page, 'the code confirmation page');
  await page.fill('#code', await emailed(1));
  await Promise.all([page.waitForNavigation(), page.click('#confirm-code')]);
  expect(await page.locator('#codes li').count() === 10, 'recovery codes are shown');
  await page.check('#saved');
  await Promise.all([page.waitForNavigation(), page.click('#continue')]);
  expect(await method(page) === 'password+email_otp', 'the CRM sees password+email_otp', await method(page));

  await Promise.all([page.waitForNavigation(), page.click('#logout')]);
  await login(page);
  expect(page.url().includes('/.gatehouse/2fa'), 'the next login asks for the second factor', page.url());
  await Promise.all([page.waitForNavigation(), page.click('#send-email')]);
  const notice = (await page.locator('#notice').textContent()).trim();
  expect(notice.startsWith('We sent a code to a•••@corp.example'), 'asking sends a code', notice);
  await axe(page, 'the code page after sending an email code');
  await page.fill('#code', await emailed(2));
  await Promise.all([page.waitForNavigation(), page.click('#verify')]);
  expect(await method(page) === 'password+email_otp', 'the emailed code logs in', await method(page));
  console.log('ok email code enrolment and login');
} finally {
  await browser.close();
}
