// Drives Debian's Chromium through a federated login: the login page's
// provider button, the identity provider (which signs in automatically),
// and back to the CRM.
//
//   node federated.mjs <base-url> <provider-id> <username> <auth-method> <screenshot.png>
//
// Run by TestBrowserOIDC and TestBrowserSAML (cmd/gatehouse/browser_test.go).
import { expect, launchChromium } from './common.mjs';

const [base, provider, username, method, screenshot] = process.argv.slice(2);

const browser = await launchChromium();

try {
  const page = await (await browser.newContext()).newPage();
  page.setDefaultTimeout(15000);
  await page.goto(new URL('/accounts', base).href);
  expect(page.url().includes('/.gatehouse/login?rd='), 'unauthenticated request lands on the login page', page.url());
  const button = page.locator(`#login-${provider}`);
  expect(await button.count() === 1, `the login page offers ${provider}`);
  // The IdP answers at once (OIDC: a redirect; SAML: an auto-submitted
  // POST form), so wait for the CRM page rather than one navigation.
  await button.click();
  await page.waitForURL((u) => new URL(u).pathname === '/accounts', { timeout: 15000 });
  expect(true, 'the browser is back at the page it asked for', page.url());
  const user = (await page.locator('[id="X-Gatehouse-User"]').textContent()).trim();
  expect(user === username, 'the CRM sees the federated user', user);
  const got = (await page.locator('[id="X-Gatehouse-Auth-Method"]').textContent()).trim();
  expect(got === method, `the CRM sees auth method ${method}`, got);
  expect((await page.locator('#assertion').textContent()).trim() === 'verified', 'the CRM verifies the assertion');
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log('PASS');
} catch (err) {
  console.log(`FAIL ${err.message}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
