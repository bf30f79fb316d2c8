// Drives Debian's Chromium through the branded gateway pages, as a user on
// a phone and on a desktop would, in light and dark mode: usage
//
//   node branding.mjs <base-url> <username> <password> <out-dir> plain|encrypted
//
// Run by TestBrowserBranding and TestBrowserBrandingEncrypted
// (cmd/gatehouse/branding_test.go), which start the real binary with a
// branding: section (product "Acme CRM", a PNG logo, primary colour
// #0b6e4f, privacy and help links). It checks computed styles (the
// colour on the submit button, a dark page under prefers-color-scheme:
// dark and a light one otherwise, no horizontal scroll at 360 px), the
// logo and product name, Show password (with and without password
// encryption), the caps-lock hint, the remembered username, and runs
// axe-core (WCAG 2.1 A/AA, contrast included) on every page it visits in
// both schemes, the Spanish, Hindi and English login pages (Accept-Language,
// then the language switcher) included. Every step prints one "ok ..." line; the first failed
// expectation prints "FAIL ..." and exits 1.
import { join } from 'node:path';
import { axe, base32Decode, expect, launchChromium, totp } from './common.mjs';

const [base, username, password, outDir, mode] = process.argv.slice(2);
if (!outDir || !['plain', 'encrypted'].includes(mode)) {
  console.error('usage: node branding.mjs <base-url> <username> <password> <out-dir> plain|encrypted');
  process.exit(2);
}
const url = (path) => new URL(path, base).href;
const loginURL = url('/.gatehouse/login');
const PRIMARY = 'rgb(11, 110, 79)'; // #0b6e4f, the test's branding.primary_color
const PRODUCT = 'Acme CRM';

async function text(page, selector) {
  return (await page.locator(selector).first().textContent({ timeout: 5000 }))?.trim() ?? '';
}

async function submit(page, selector) {
  await Promise.all([page.waitForNavigation(), page.click(selector)]);
}

// luminance of a computed "rgb(r, g, b)" colour, WCAG's formula.
function luminance(css) {
  const [r, g, b] = css.match(/\d+(\.\d+)?/g).slice(0, 3).map(Number).map((v) => {
    const s = v / 255;
    return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

const style = (page, selector, prop) => page.locator(selector).first().evaluate((el, p) => getComputedStyle(el)[p], prop);

// checkPage: the brand is shown, the page fits the window without
// horizontal scroll, and axe finds nothing in light and then dark mode
// (the scheme is restored to light afterwards); the page's background is
// light, then dark.
async function checkPage(page, what) {
  const title = await page.title();
  expect(title.endsWith(PRODUCT) || title.endsWith(`${PRODUCT} admin`), `${what}: the title names the product`, title);
  expect(await text(page, '#product-name') === PRODUCT, `${what}: the header names the product`);
  const logo = await page.locator('#brand-logo').evaluate(async (img) => { await img.decode().catch(() => {}); return img.naturalWidth; });
  expect(logo > 0, `${what}: the logo loads`, String(logo));
  const vw = page.viewportSize().width;
  const sw = await page.evaluate(() => document.scrollingElement.scrollWidth);
  expect(sw <= vw, `${what}: fits ${vw} px without horizontal scroll`, `scrollWidth ${sw}`);
  for (const scheme of ['light', 'dark']) {
    await page.emulateMedia({ colorScheme: scheme });
    const bg = luminance(await style(page, 'body', 'backgroundColor'));
    expect(scheme === 'light' ? bg > 0.8 : bg < 0.02, `${what}: the page is ${scheme} under prefers-color-scheme: ${scheme}`, String(bg));
    await axe(page, `${what} (${scheme})`);
  }
  await page.emulateMedia({ colorScheme: 'light' });
}

const browser = await launchChromium();
try {
  const phone = await browser.newContext({ viewport: { width: 360, height: 640 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
  const page = await phone.newPage();
  page.setDefaultTimeout(10000);
  // Anything the CSP or an integrity check blocks, and any script error.
  const problems = [];
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Refused|integrity/i.test(m.text())) problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(e.message));
  let posted = null;
  page.on('request', (req) => {
    if (req.method() === 'POST' && req.url() === loginURL) posted = req.postData();
  });

  await page.goto(url('/'));
  expect(page.url().startsWith(loginURL), 'unauthenticated / redirects to the login page', page.url());
  if (mode === 'encrypted') {
    await page.waitForFunction(() => !document.getElementById('login').disabled);
  }
  expect((await page.title()) === `Log in · ${PRODUCT}`, 'the login page title names the product', await page.title());
  expect(await style(page, '#login', 'backgroundColor') === PRIMARY, 'the submit button has the primary colour',
    await style(page, '#login', 'backgroundColor'));
  expect(await style(page, '#login', 'color') === 'rgb(255, 255, 255)', 'its label is white');
  expect(await page.locator('#link-privacy').getAttribute('href') === 'https://acme.example/privacy', 'the footer links the privacy notice');
  expect(await text(page, '#link-help') === 'Help centre', 'the help link has its label');
  await checkPage(page, `the login page (${mode})`);
  await page.emulateMedia({ colorScheme: 'dark' });
  expect(await style(page, '#login', 'backgroundColor') === PRIMARY, 'in dark mode the submit button keeps the primary colour');
  expect(luminance(await style(page, 'main', 'backgroundColor')) < 0.02, 'in dark mode the card is dark');
  expect(luminance(await style(page, 'h1', 'color')) > 0.7, 'in dark mode the text is light');
  await page.screenshot({ path: join(outDir, `branding-login-dark-${mode}.png`), fullPage: true });
  await page.emulateMedia({ colorScheme: 'light' });
  await page.screenshot({ path: join(outDir, `branding-login-light-${mode}.png`), fullPage: true });

  // Show password: a real button, pressed state announced, keyboard
  // operable, and the field is never given a name.
  const field = page.locator('#password');
  const toggle = page.locator('#show-password');
  expect(await toggle.isVisible(), 'the Show password button is shown (the script runs under the CSP)');
  expect(await toggle.getAttribute('aria-pressed') === 'false', 'it starts unpressed');
  const visible = () => field.evaluate((el) => el.type === 'text' && getComputedStyle(el).webkitTextSecurity !== 'disc');
  const typeOrMask = () => field.evaluate((el) => `${el.type}/${getComputedStyle(el).webkitTextSecurity}`);
  await field.fill(password);
  expect(!(await visible()), 'the password is hidden at first', await typeOrMask());
  if (mode === 'plain') {
    expect(await field.getAttribute('type') === 'password', 'the plain form\'s field is a password input');
  }
  await toggle.click();
  expect(await visible(), 'Show password shows it', await typeOrMask());
  expect(await toggle.getAttribute('aria-pressed') === 'true', 'the button says it is pressed');
  expect(await field.getAttribute('type') === 'text', 'the input type is text while shown');
  await toggle.click();
  expect(!(await visible()), 'pressing again hides it', await typeOrMask());
  expect(await field.getAttribute('type') === (mode === 'plain' ? 'password' : 'text'),
    mode === 'plain' ? 'the input type is password again' : 'the input stays the masked text input browsers do not save');
  await toggle.focus();
  await page.keyboard.press('Space');
  expect(await visible(), 'Space on the focused button shows it');
  await page.keyboard.press('Enter');
  expect(!(await visible()), 'Enter hides it again');
  expect(await field.getAttribute('name') === (mode === 'plain' ? 'password' : null),
    mode === 'plain' ? 'the field keeps its name' : 'with encryption the field never gets a name');

  // Caps Lock: a key event whose modifier state has it.
  const caps = page.locator('#capslock');
  expect(await caps.getAttribute('aria-live') === 'polite', 'the caps-lock hint is a live region');
  await field.evaluate((el) => el.dispatchEvent(new KeyboardEvent('keydown', { key: 'A', modifierCapsLock: true, bubbles: true })));
  expect(await caps.isVisible() && await text(page, '#capslock') === 'Caps Lock is on.', 'the hint appears with Caps Lock on',
    await text(page, '#capslock'));
  await axe(page, 'the login page with the caps-lock hint');
  await field.evaluate((el) => el.dispatchEvent(new KeyboardEvent('keyup', { key: 'a', bubbles: true })));
  expect(!(await caps.isVisible()), 'and goes with Caps Lock off');

  // Tab order: username, password, show, remember, log in.
  await page.focus('#username');
  const order = [];
  for (let i = 0; i < 4; i++) {
    await page.keyboard.press('Tab');
    order.push(await page.evaluate(() => document.activeElement.id));
  }
  expect(order.join(' ') === 'password show-password remember-username login', 'the tab order follows the form', order.join(' '));

  if (mode === 'encrypted') {
    // Shown, then sent: the POST still carries no password field.
    await page.fill('#username', username);
    await toggle.click();
    await Promise.all([page.waitForNavigation(), page.click('#login')]);
    expect(new URL(page.url()).pathname === '/', 'the encrypted login with the password shown lands on the CRM', page.url());
    const fields = new URLSearchParams(posted || '');
    expect(posted !== null && !fields.has('password') && !posted.includes(encodeURIComponent(password)) && fields.get('password_enc'),
      'the POST has password_enc and no password field or plaintext', posted);
  } else {
    await plainFlow(page, browser);
  }
  await languageFlow(browser, problems);
  expect(problems.length === 0, 'no CSP violation or script error', problems.join(' | '));
} catch (err) {
  console.log(`FAIL ${err.message}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}

// languageFlow: a browser asking for Spanish gets the Spanish login page
// (<html lang="es">); the switcher's Hindi button, a plain form post,
// returns to the same page in Hindi, and English again from there; axe
// passes on each, in both schemes.
async function languageFlow(browser, problems) {
  const ctx = await browser.newContext({ viewport: { width: 360, height: 640 }, isMobile: true, hasTouch: true, locale: 'es-ES' });
  const page = await ctx.newPage();
  page.setDefaultTimeout(10000);
  page.on('pageerror', (e) => problems.push(e.message));
  const lang = () => page.evaluate(() => document.documentElement.lang);
  const login = url('/.gatehouse/login?reason=logged_out');
  await page.goto(login);
  expect(await lang() === 'es' && await text(page, 'label[for=username]') === 'Nombre de usuario', 'Accept-Language es gives the Spanish login page', await lang());
  await checkPage(page, 'the Spanish login page');
  for (const [code, label] of [['hi', 'उपयोगकर्ता नाम'], ['en', 'Username']]) {
    await Promise.all([page.waitForNavigation(), page.click(`nav.languages button[value=${code}]`)]);
    expect(page.url() === login, `the switcher returns to the same page (${code})`, page.url());
    expect(await lang() === code && await text(page, 'label[for=username]') === label, `the switcher gives the ${code} page`, await lang());
    await checkPage(page, `the ${code} login page`);
  }
  await ctx.close();
}

// plainFlow goes on from the login page without password encryption:
// errors, remembering the username, the CRM, the account page, 2FA
// enrolment and login, and the not-found page.
async function plainFlow(page, browser) {
  // A wrong password: the error is announced and passes axe in both schemes.
  await page.fill('#username', username);
  await page.fill('#password', password + '-wrong');
  await submit(page, '#login');
  expect(await page.locator('#error[role=alert]').count() === 1, 'a failed login is announced (role=alert)');
  await checkPage(page, 'the login page with an error');

  // Remember my username, then log in.
  await page.fill('#username', username);
  await page.fill('#password', password);
  await page.check('#remember-username');
  await submit(page, '#login');
  expect(new URL(page.url()).pathname === '/', 'login lands on the CRM', page.url());
  const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + document.cookie);
  expect(stored.includes(username), 'the username is remembered in this browser', stored);
  expect(!stored.includes(password), 'the password is stored nowhere a script can read');

  // The demo CRM wears the brand and explains the headers.
  expect(await text(page, '[id="X-Gatehouse-User"]') === username, 'the CRM received X-Gatehouse-User');
  expect((await text(page, '#headers')).includes('The username of the person or program making the request.'), 'the CRM explains the headers');
  await checkPage(page, 'the demo CRM');
  await page.screenshot({ path: join(outDir, 'branding-crm.png'), fullPage: true });

  // The account page and 2FA enrolment.
  await page.goto(url('/.gatehouse/account'));
  await checkPage(page, 'the account page');
  await page.goto(url('/.gatehouse/2fa/enroll'));
  await checkPage(page, 'the enrolment page');
  const secret = base32Decode(await text(page, '#secret'));
  await page.fill('#code', '000000');
  await submit(page, '#confirm');
  expect(await page.locator('#error').count() === 1, 'a wrong enrolment code is shown as an error');
  await checkPage(page, 'the enrolment page with an error');
  await page.fill('#code', totp(secret));
  await submit(page, '#confirm');
  await checkPage(page, 'the recovery codes page');
  await page.check('#saved');
  await submit(page, '#continue');
  await page.goto(url('/.gatehouse/account'));
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.screenshot({ path: join(outDir, 'branding-account-dark.png'), fullPage: true });
  await page.emulateMedia({ colorScheme: 'light' });
  await page.goto(url('/.gatehouse/no-such-page'));
  await checkPage(page, 'the not-found message page');

  // Log out (from the confirmation page a GET shows): the username is
  // filled in again, the password is not.
  await page.goto(url('/.gatehouse/logout'));
  await checkPage(page, 'the log-out page');
  await submit(page, '#logout');
  expect(page.url().includes('reason=logged_out'), 'logout lands on the login page', page.url());
  await checkPage(page, 'the logged-out login page');
  expect(await page.inputValue('#username') === username, 'the remembered username is prefilled after logout');
  expect(await page.inputValue('#password') === '', 'the password is not');
  expect(await page.isChecked('#remember-username'), 'the remember box is ticked');
  expect(await page.evaluate(() => document.activeElement.id) === 'password', 'the focus is on the password');

  // Log in again: the second factor page, then cancel.
  await page.fill('#password', password);
  await submit(page, '#login');
  expect(new URL(page.url()).pathname === '/.gatehouse/2fa', 'the second factor is asked for', page.url());
  await checkPage(page, 'the 2FA page');
  await page.fill('#code', '000000');
  await submit(page, '#verify');
  await checkPage(page, 'the 2FA page with an error');
  await submit(page, 'text=Cancel and log out');
  expect(await page.inputValue('#username') === username, 'still remembered after cancelling');

  // Untick the box: the next logout shows an empty form.
  await page.uncheck('#remember-username');
  await page.fill('#password', password);
  await submit(page, '#login');
  await submit(page, 'text=Cancel and log out');
  expect(await page.inputValue('#username') === '', 'not remembered once unticked', await page.inputValue('#username'));
  expect(!(await page.isChecked('#remember-username')), 'and the box is unticked');

  // The same login page on a desktop, for the record.
  const desk = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  await desk.goto(loginURL);
  await checkPage(desk, 'the login page on a desktop');
  await desk.screenshot({ path: join(outDir, 'branding-login-desktop.png') });
}
