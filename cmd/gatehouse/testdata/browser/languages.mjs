// Drives Debian's Chromium through every gateway page a user meets, in
// each language (English, Spanish, Hindi), with Chromium's virtual
// authenticator for the passkey steps:
//
//   node languages.mjs <base-url> <username> <password>
//
// For each language (the switcher's cookie) it visits the login page, the
// passkey sign-in page, the enrolment page (first login, and "add a
// factor"), the recovery codes page, the 2FA page, the account page, the
// log-out page and a not-found page, and checks on each: <html lang> is
// the language, no message id shows instead of its text (an id the
// catalogues lack; a language missing one that English has is
// proxy/i18n's TestCataloguesComplete), and axe-core finds no WCAG 2.1
// A/AA violation. Run by
// TestBrowserEveryPageInEachLanguage (cmd/gatehouse/languages_test.go).
import { axe, expect, launchChromium } from './common.mjs';

const [base, username, password] = process.argv.slice(2);
const languages = ['hi', 'es', 'en'];
// A message id rendered as itself: "section.key".
const rawID = /\b(?:lang|layout|common|status|error|message|notice|login|logout|twofa|enroll|codes|password|forgot|reset|account|apikey|passkey)\.[a-z0-9_]+\b/;

const browser = await launchChromium();
try {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.setDefaultTimeout(10000);
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true,
      isUserVerified: true, automaticPresenceSimulation: true,
    },
  });
  const go = (path) => page.goto(new URL(path, base).href);
  const click = (sel) => Promise.all([page.waitForNavigation(), page.click(sel)]);
  let lang = '';
  async function check(what) {
    const name = `${what} (${lang})`;
    const got = await page.evaluate(() => document.documentElement.lang);
    const text = await page.evaluate(() => document.body.innerText);
    const raw = text.match(rawID);
    expect(got === lang && !raw, `${name}: in the language, no bare message id`, `lang=${got} ${raw ? raw[0] : ''}`);
    await axe(page, name);
  }
  async function passwordLogin() {
    await go('/.gatehouse/login');
    await page.fill('#username', username);
    await page.fill('#password', password);
    await click('#login');
  }
  async function logout() {
    await go('/.gatehouse/logout');
    await click('#logout');
  }

  let codes = [];
  for (const [i, l] of languages.entries()) {
    lang = l;
    await context.addCookies([{ name: 'gatehouse-lang', value: l, url: base }]);
    await go('/.gatehouse/login');
    await check('the login page');
    await passwordLogin();
    if (i === 0) {
      expect(page.url().includes('/.gatehouse/2fa/enroll'), 'the first login leads to enrolment', page.url());
      await check('the enrolment page');
      await click('#enroll-passkey');
      await check('the recovery codes page');
      codes = await page.locator('#codes li').allTextContents();
      await page.check('#saved');
      await click('#continue');
    } else {
      expect(page.url().includes('/.gatehouse/2fa'), 'the login asks for the second factor', page.url());
      await check('the 2FA page');
      await click('#use-passkey');
    }
    await go('/.gatehouse/account');
    await check('the account page');
    // New recovery codes, confirmed with one of the old ones.
    await page.fill('#code-r', codes[i].trim());
    await click('#regenerate');
    await check('the new recovery codes page');
    codes = await page.locator('#codes li').allTextContents();
    await page.check('#saved');
    await click('#continue');
    await go('/.gatehouse/2fa/enroll?add=1&rd=%2F.gatehouse%2Faccount');
    await check('the add-a-factor page');
    await go('/.gatehouse/no-such-page');
    await check('the not-found page');
    await go('/.gatehouse/logout');
    await check('the log-out page');
    await click('#logout');
    await click('#passkey-login');
    await check('the passkey sign-in page');
    await click('#use-passkey');
    await logout();
  }
  console.log('ok every page in each language');
} finally {
  await browser.close();
}
