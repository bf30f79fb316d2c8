// Drives Debian's Chromium through the admin console, as an administrator
// would, with JavaScript turned off and a 360 px wide window:
//
//   node admin.mjs <base-url> <admin> <admin-password> <user> <user-password> <user-key-id> <out-dir>
//
// The admin logs in and enrols TOTP (the script reads the secret and
// computes the code, keeping a recovery code), confirms it is them on the
// re-authentication form, tightens the idle timeout after reading the
// preview, opens the user's page, revokes their API key and ends their
// browser session (a second browser context, which is sent to the login
// page), logs everyone out with the typed phrase (the second context's
// new session ends too), logs in again with the recovery code and
// downloads the audit CSV, which must hold those events. On every console
// page it checks that the page fits 360 px, that every form control has
// a label, and that the first Tab reaches the skip link.
// Run by TestBrowserAdminConsole (cmd/gatehouse/console_pages_test.go).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { base32Decode, expect, launchChromium, totp } from './common.mjs';

const [base, admin, adminPW, user, userPW, keyID, outDir] = process.argv.slice(2);
if (!outDir) {
  console.error('usage: node admin.mjs <base-url> <admin> <admin-password> <user> <user-password> <user-key-id> <out-dir>');
  process.exit(2);
}
const url = (path) => new URL(path, base).href;

async function text(page, selector) {
  return (await page.locator(selector).first().textContent({ timeout: 5000 }))?.trim() ?? '';
}

// submit clicks a button that posts a form and waits for the page it
// leads to (through any redirect).
async function submit(page, selector) {
  await Promise.all([page.waitForNavigation(), page.click(selector)]);
}

async function login(page, name, pw) {
  await page.goto(url('/.gatehouse/login'));
  await page.fill('#username', name);
  await page.fill('#password', pw);
  await submit(page, '#login');
}

// axe-core, the accessibility engine, checks each page against WCAG 2.1
// A and AA (contrast included). The console runs without JavaScript and
// axe needs it, so the page as the admin's browser got it is served again
// to a second, script-enabled tab with the admin's cookies (its styles
// come from the gateway as usual) and checked there.
const axeSource = await readFile(new URL('./node_modules/axe-core/axe.min.js', import.meta.url), 'utf8');
let a11y; // the checking tab, opened below

async function axeCheck(page, what) {
  const html = await page.content();
  const here = page.url();
  await a11y.context().addCookies(await page.context().cookies());
  await a11y.route(here, (route) => route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: html }));
  await a11y.goto(here);
  await a11y.unroute(here);
  await a11y.evaluate(axeSource);
  const res = await a11y.evaluate(() => window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } }));
  const bad = res.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  expect(bad.length === 0, `${what}: no serious WCAG 2.1 AA violation (axe-core, ${res.passes.length} rules passed)`,
    bad.map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 4).map((n) => n.target.join(' ')).join(', ')}`).join('; '));
}

// checkPage: the console page fits the window, labels every control,
// passes axe-core, and starts keyboard navigation at the skip link.
async function checkPage(page, what) {
  await axeCheck(page, what);
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  const wide = width <= 360 ? [] : await page.evaluate(() => [...document.querySelectorAll('body *')]
    .filter((el) => el.getBoundingClientRect().right > 360).slice(0, 8).map((el) => el.tagName + (el.id ? '#' + el.id : '') + (el.className ? '.' + el.className : '')));
  expect(width <= 360, `${what} fits 360 px`, `scrollWidth ${width}; too wide: ${wide.join(' ')}`);
  const unlabelled = await page.evaluate(() => [...document.querySelectorAll('input, select, textarea')]
    .filter((el) => el.type !== 'hidden' && el.labels.length === 0 && !el.getAttribute('aria-label'))
    .map((el) => el.name || el.id));
  expect(unlabelled.length === 0, `${what} labels every control`, unlabelled.join(', '));
  // A form that focuses its field itself (autofocus) starts there.
  if (await page.evaluate(() => document.activeElement && document.activeElement !== document.body)) return;
  await page.keyboard.press('Tab');
  const first = await page.evaluate(() => document.activeElement?.textContent?.trim());
  expect(first === 'Skip to the content', `${what}: the first Tab reaches the skip link`, first);
}

const browser = await launchChromium();

try {
  const adminCtx = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 360, height: 740 }, acceptDownloads: true });
  const page = await adminCtx.newPage();
  page.setDefaultTimeout(10000);
  a11y = await (await browser.newContext({ viewport: { width: 360, height: 740 } })).newPage();
  a11y.setDefaultTimeout(10000);
  const userCtx = await browser.newContext();
  const other = await userCtx.newPage();
  other.setDefaultTimeout(10000);

  // A browser without a session is sent to the login page.
  await page.goto(url('/.gatehouse/admin/'));
  expect(new URL(page.url()).pathname === '/.gatehouse/login', 'the console sends a stranger to the login page', page.url());

  // The policy makes admins enrol a second factor at their first login.
  await login(page, admin, adminPW);
  expect(page.url().includes('/.gatehouse/2fa/enroll'), 'the admin is asked to enrol', page.url());
  const secret = base32Decode(await text(page, '#secret'));
  await page.fill('#code', totp(secret));
  await submit(page, '#confirm');
  const recovery = await text(page, '#codes li');
  expect(/^[a-z2-7-]+$/.test(recovery), 'recovery codes are shown', recovery);
  await page.check('#saved');
  await submit(page, '#continue');

  await page.goto(url('/.gatehouse/admin/'));
  expect(await text(page, 'h1') === 'Admin console', 'the dashboard opens');
  expect((await text(page, '#policy-version')).startsWith('Version 1 is in force'), 'the dashboard names the version in force', await text(page, '#policy-version'));
  await checkPage(page, 'the dashboard');

  // Confirm it is me, on the form that returns where it was asked from.
  await page.goto(url('/.gatehouse/admin/reauth?rd=' + encodeURIComponent('/.gatehouse/admin/policy')));
  await checkPage(page, 'the re-authentication form');
  await page.fill('#reauth-password', adminPW);
  await submit(page, '#reauth');
  expect(new URL(page.url()).pathname === '/.gatehouse/admin/policy', 're-authentication returns to the policy page', page.url());

  // Tighten the idle timeout: preview first, nothing saved until Save.
  await checkPage(page, 'the policy page');
  expect(await page.inputValue('#idle_timeout') === '30m', 'the form shows the idle timeout in force');
  await page.fill('#idle_timeout', '10m');
  await submit(page, '#preview-button');
  const diff = await text(page, '#plan-diff');
  expect(diff.includes('-    idle_timeout: 30m0s') && diff.includes('+    idle_timeout: 10m0s'), 'the preview shows the diff', diff);
  expect((await text(page, '#h-preview')).includes('nothing is saved yet'), 'the preview says nothing is saved');
  expect((await text(page, '#in-force')).startsWith('Version 1 is in force'), 'still version 1 while previewing');
  await checkPage(page, 'the policy preview');
  await page.screenshot({ path: join(outDir, 'admin-policy-preview.png'), fullPage: true });
  await submit(page, '#save');
  expect((await text(page, '#notice')).startsWith('Saved: version 2 is in force'), 'Save stores version 2', await text(page, '#notice'));
  expect(await page.inputValue('#idle_timeout') === '10m', 'the form shows the new idle timeout');

  // The user's page: revoke their key, end their browser session.
  await login(other, user, userPW);
  expect(new URL(other.url()).pathname === '/', 'the user is in the CRM', other.url());
  await page.goto(url('/.gatehouse/admin/users'));
  await page.fill('#q', user);
  await submit(page, '#search');
  expect((await text(page, '#user-total')).includes('of 1 users'), 'the search finds the user', await text(page, '#user-total'));
  await checkPage(page, 'the user list');
  await submit(page, `#users a[href$="/users/${user}"]`);
  expect(await text(page, '#role') === 'sales', "the user's page shows the role");
  await checkPage(page, "the user's page");
  await page.screenshot({ path: join(outDir, 'admin-user.png'), fullPage: true });
  await submit(page, `#revoke-${keyID}`);
  expect((await text(page, '#notice')).startsWith('The API key is revoked'), 'the key is revoked', await text(page, '#notice'));
  expect((await text(page, `#key-${keyID} .state`)).startsWith('revoked'), 'the key shows as revoked');
  const ends = page.locator('#sessions button');
  expect(await ends.count() === 1, 'the user has one browser session', String(await ends.count()));
  await submit(page, '#sessions button');
  expect((await text(page, '#notice')).startsWith('The browser session is ended'), 'the session is ended');
  await other.goto(url('/'));
  expect(new URL(other.url()).pathname === '/.gatehouse/login', "the user's browser is at the login page", other.url());
  await axeCheck(other, 'the login page');

  // A user made on the form with a password they must change: their
  // first login reaches nothing but the change page, then the CRM.
  await page.goto(url('/.gatehouse/admin/new-user'));
  await checkPage(page, 'the new-user form');
  await page.fill('#nu-username', 'newbie');
  await page.fill('#nu-email', 'newbie@corp.example');
  await page.selectOption('#nu-role', 'sales');
  await page.fill('#nu-password', 'given-passphrase-1');
  await page.fill('#nu-confirm', 'given-passphrase-1');
  expect(await page.isChecked('#nu-must-change'), 'the form enforces a password reset by default');
  await submit(page, '#create-user');
  expect((await text(page, '#notice')).startsWith('The user is created'), 'the user is created', await text(page, '#notice'));
  expect((await text(page, '#password-state')).includes('must choose a new one'), "the user's page says the password must change", await text(page, '#password-state'));
  const third = await (await browser.newContext()).newPage();
  third.setDefaultTimeout(10000);
  await login(third, 'newbie', 'given-passphrase-1');
  expect(new URL(third.url()).pathname === '/.gatehouse/password', 'the first login lands on the change page', third.url());
  await axeCheck(third, 'the password change page');
  await third.fill('#new-password', 'newbies-own-passphrase');
  await third.fill('#confirm-password', 'newbies-own-passphrase');
  await submit(third, '#change');
  expect(new URL(third.url()).pathname === '/', 'after choosing a password the user is in the CRM', third.url());
  await page.reload();
  expect(await text(page, '#password-state') === 'Set.', "the user's page shows the password as the user's own", await text(page, '#password-state'));

  // Log out everyone: the phrase must be typed; the user's new session
  // ends on the next directory poll.
  await login(other, user, userPW);
  expect(new URL(other.url()).pathname === '/', 'the user logs in again');
  await page.goto(url('/.gatehouse/admin/logout-all'));
  await checkPage(page, 'the log-out-everyone page');
  await page.fill('#confirm', 'log out');
  await submit(page, '#logout-all');
  expect((await text(page, '#error')).startsWith('Nothing was done'), 'a wrong phrase does nothing');
  await page.fill('#confirm', 'log out everyone');
  await submit(page, '#logout-all');
  expect((await text(page, '#notice')).startsWith('Done'), 'everyone is logged out', await text(page, '#notice'));
  let ended = false;
  for (let i = 0; i < 20 && !ended; i++) {
    await other.goto(url('/'));
    ended = new URL(other.url()).pathname === '/.gatehouse/login';
    if (!ended) await new Promise((r) => setTimeout(r, 250));
  }
  expect(ended, "the second browser's session ended", other.url());
  // The admin's own session ends by the same kind of revocation, one per
  // user, which may reach this replica a directory poll after the user's
  // (seen under make test's load: the login page still sent the admin on).
  let adminEnded = false;
  for (let i = 0; i < 20 && !adminEnded; i++) {
    await page.goto(url('/.gatehouse/login'));
    adminEnded = (await page.locator('#username').count()) > 0;
    if (!adminEnded) await new Promise((r) => setTimeout(r, 250));
  }
  expect(adminEnded, "the admin's own session ended", page.url());

  // Back in with the recovery code; the audit export holds the story.
  await login(page, admin, adminPW);
  expect(page.url().includes('/.gatehouse/2fa?'), 'the next login asks for a code', page.url());
  await page.fill('#code', recovery);
  await submit(page, '#verify');
  await page.goto(url('/.gatehouse/admin/audit'));
  await checkPage(page, 'the audit log');
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export-csv')]);
  const csv = await readFile(await download.path(), 'utf8');
  await download.saveAs(join(outDir, 'audit.csv'));
  expect(csv.startsWith('id,time,event,actor'), 'the export is the audit CSV', csv.slice(0, 80));
  for (const event of ['policy_changed', 'api_key_revoked', 'session_revoked', 'logout_all']) {
    expect(csv.split('\n').some((l) => l.includes(`,${event},${admin},`)), `the CSV records ${event} by ${admin}`);
  }
  await page.screenshot({ path: join(outDir, 'admin-audit.png'), fullPage: true });
  console.log('PASS');
} catch (err) {
  console.log(`FAIL ${err.message}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
