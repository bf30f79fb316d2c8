// Drives Debian's Chromium through "Forgot password?", in two runs
// around the email the Go test reads from its SMTP server:
//
//   node reset.mjs ask <base-url> <username>
//   node reset.mjs complete <base-url> <link> <username> <new-password> [<passkey>]
//
// <passkey>, when given, is a JSON object {id, key, user, count} (base64:
// credential id, PKCS#8 private key, user handle; the signature count)
// of a passkey the Go test registered for the user: it is loaded into
// Chromium's virtual authenticator, and the reset is confirmed with it
// (and so is the login after it) instead of with nothing.
//
// Run by TestBrowserPasswordReset (cmd/gatehouse/reset_test.go) and
// TestBrowserPasswordResetWithPasskey (reset_factors_test.go). Every
// step prints one "ok ..." line; the first failed expectation throws.
import { axe, expect, launchChromium, virtualAuthenticator } from './common.mjs';

const [mode, base, ...rest] = process.argv.slice(2);
if (!['ask', 'complete'].includes(mode) || !base) {
  console.error('usage: node reset.mjs ask <base-url> <username> | complete <base-url> <link> <username> <new-password>');
  process.exit(2);
}

const browser = await launchChromium();
try {
  const page = await (await browser.newContext()).newPage();
  page.setDefaultTimeout(10000);
  if (mode === 'ask') {
    const [username] = rest;
    await page.goto(new URL('/.gatehouse/login', base).href);
    await Promise.all([page.waitForNavigation(), page.click('#forgot')]);
    expect(page.url().endsWith('/.gatehouse/password/forgot'), 'the login page links to the reset form', page.url());
    await page.fill('#identifier', username);
    await Promise.all([page.waitForNavigation(), page.click('#send')]);
    const notice = (await page.locator('#notice').textContent()).trim();
    expect(notice.startsWith('If that is the username or email address of an account'), 'the same answer for any name', notice);
  } else {
    const [link, username, newPassword, passkeyJSON] = rest;
    const passkey = passkeyJSON ? JSON.parse(passkeyJSON) : null;
    if (passkey) {
      const { cdp, authenticatorId } = await virtualAuthenticator(page);
      await cdp.send('WebAuthn.addCredential', {
        authenticatorId,
        credential: {
          credentialId: passkey.id, isResidentCredential: true, rpId: new URL(base).hostname,
          privateKey: passkey.key, userHandle: passkey.user, signCount: passkey.count,
        },
      });
    }
    await page.goto(link);
    expect(await page.locator('#new-password').isVisible(), 'the emailed link opens the new-password form');
    // The token is in this page's URL: no link or resource on it may be
    // sent that URL as a Referer.
    const policy = await page.evaluate(() => document.querySelector('meta[name=referrer]')?.content);
    expect(policy === 'no-referrer', 'the page sends no Referer', policy);
    await page.fill('#new-password', newPassword);
    await page.fill('#confirm-password', newPassword);
    if (passkey) {
      expect(await page.locator('#use-passkey').isVisible(), 'the reset page offers the passkey');
      await axe(page, 'the reset page with a passkey');
      await Promise.all([page.waitForNavigation(), page.click('#use-passkey')]);
    } else {
      await Promise.all([page.waitForNavigation(), page.click('#reset')]);
    }
    const msg = (await page.locator('#message').textContent()).trim();
    expect(msg.startsWith('Your password was changed'), 'the password is changed', msg);
    await Promise.all([page.waitForNavigation(), page.click('a[href="/.gatehouse/login"]')]);
    await page.fill('#username', username);
    await page.fill('#password', newPassword);
    await Promise.all([page.waitForNavigation(), page.click('#login')]);
    if (passkey) {
      expect(page.url().includes('/.gatehouse/2fa'), 'the new password leads to the second factor', page.url());
      await Promise.all([page.waitForNavigation(), page.click('#use-passkey')]);
    }
    expect(!page.url().includes('/.gatehouse/'), 'the new password logs in', page.url());
    await page.goto(link);
    const err = (await page.locator('#error').textContent()).trim();
    expect(err.includes('invalid or has expired'), 'the link does not work twice', err);
  }
} finally {
  await browser.close();
}
