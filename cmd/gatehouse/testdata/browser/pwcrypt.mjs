// Drives Debian's Chromium through a login with password encryption on
// (policy methods.password_encryption): usage
//
//   node pwcrypt.mjs <base-url> <username> <password> <post-body-file>
//
// Run by TestBrowserPasswordEncryption (cmd/gatehouse/pwcrypt_test.go),
// which starts the real binary, then replays the login POST this script
// captured (written to <post-body-file>) and checks it is refused. Every
// step prints one "ok ..." line; the first failed expectation prints
// "FAIL ..." and exits 1.
import { writeFileSync } from 'node:fs';
import { expect, launchChromium } from './common.mjs';

const [base, username, password, bodyFile] = process.argv.slice(2);
if (!base || !username || !password || !bodyFile) {
  console.error('usage: node pwcrypt.mjs <base-url> <username> <password> <post-body-file>');
  process.exit(2);
}

const browser = await launchChromium();

const loginURL = new URL('/.gatehouse/login', base).href;

try {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.setDefaultTimeout(10000);
  // Anything the CSP or the integrity check blocks, or any script error,
  // shows up here (a favicon's 401 does not count).
  const problems = [];
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Refused|integrity/i.test(m.text())) {
      problems.push(m.text());
    }
  });
  page.on('pageerror', (e) => problems.push(e.message));
  let posted = null;
  page.on('request', (req) => {
    if (req.method() === 'POST' && req.url() === loginURL) {
      posted = req.postData();
    }
  });

  await page.goto(new URL('/', base).href);
  expect(page.url().includes('/.gatehouse/login?rd='), 'unauthenticated / redirects to the login page', page.url());
  const field = page.locator('#password');
  await page.waitForFunction(() => !document.getElementById('login').disabled);
  expect(true, 'the script loaded under the CSP and enabled the form');
  expect(await field.getAttribute('name') === null, 'the password input has no name, so it is never submitted');
  expect(await field.getAttribute('type') === 'text', 'the password input is not a password field browsers offer to save',
    await field.getAttribute('type'));
  expect(await field.getAttribute('autocomplete') === 'off', 'the password input has autocomplete off');
  const masked = await field.evaluate((el) => getComputedStyle(el).webkitTextSecurity);
  expect(masked === 'disc', 'the password input is shown masked', masked);

  await page.fill('#username', username);
  await field.fill(password);
  await Promise.all([page.waitForNavigation(), page.click('#login')]);
  expect(new URL(page.url()).pathname === '/', 'the encrypted login lands on the CRM', page.url());
  const user = (await page.locator('[id="X-Gatehouse-User"]').textContent({ timeout: 5000 }))?.trim();
  expect(user === username, 'upstream received X-Gatehouse-User', user);

  expect(posted !== null, 'the login POST was captured');
  const fields = new URLSearchParams(posted);
  expect(!posted.includes(password) && !posted.includes(encodeURIComponent(password)),
    'the POST body holds no plaintext password');
  expect(!fields.has('password') && !/(^|&)password=/.test(posted), 'the POST body has no password= field', posted);
  expect(/^[A-Za-z0-9_-]{400,}$/.test(fields.get('password_enc') || ''), 'the POST body carries password_enc (base64url)');
  expect((fields.get('challenge') || '') !== '', 'the POST body carries the challenge');
  expect(problems.length === 0, 'no CSP violation or script error', problems.join(' | '));
  writeFileSync(bodyFile, posted);
  console.log(`ok POST body written to ${bodyFile}`);

  // Without JavaScript nothing can be sent, and the page says why.
  const noJS = await browser.newContext({ javaScriptEnabled: false });
  const plain = await noJS.newPage();
  await plain.goto(loginURL);
  const note = (await plain.locator('#noscript').textContent({ timeout: 5000 }))?.trim() || '';
  expect(note.includes('needs JavaScript'), 'without JavaScript the page says the login needs it', note);
  expect(await plain.locator('#login').isDisabled(), 'without JavaScript the login button stays disabled');
  expect(await plain.locator('#password').isDisabled(), 'without JavaScript the password field stays disabled');
} catch (err) {
  console.log(`FAIL ${err.message}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
