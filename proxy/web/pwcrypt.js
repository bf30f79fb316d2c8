// Gatehouse password encryption (policy methods.password_encryption; see
// docs/security.md and auth/pwcrypt). The login form carries the
// gateway's RSA public key and a one-time challenge. On submit this
// script encrypts {"password", "nonce": challenge} with a fresh
// AES-256-GCM key, wraps that key with RSA-OAEP (SHA-256) and posts
// base64url(wrapped key | 12-byte IV | ciphertext) as password_enc. The
// password field has no name, so the browser never submits it, and it is
// emptied before the form leaves. Nothing here runs on any other page.
'use strict';
(() => {
  const form = document.getElementById('login-form');
  if (!form || !form.dataset.key) {
    return;
  }
  const password = document.getElementById('password');
  const button = document.getElementById('login');
  const out = form.elements.namedItem('password_enc');
  const challenge = form.elements.namedItem('challenge').value;
  const problem = document.getElementById('pwcrypt-problem');

  // The page gives each message in the reader's language (data-*); the
  // English here is only for a page that lacks them.
  function fail(key, message) {
    problem.textContent = problem.dataset[key] || message;
    problem.hidden = false;
  }

  if (!window.crypto || !window.crypto.subtle) {
    fail('noCrypto', 'This browser cannot encrypt your password here (Web Crypto is missing, or the page is not served over HTTPS). Use a current browser over HTTPS.');
    return;
  }
  // The field is a text input masked by CSS, which password managers do
  // not offer to save; where the CSS property is unknown it becomes a
  // password input instead, still without a name.
  if (!window.CSS || !CSS.supports('-webkit-text-security', 'disc')) {
    password.type = 'password';
  }

  function fromBase64(s) {
    return Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
  }

  function toBase64URL(bytes) {
    let s = '';
    for (const b of bytes) {
      s += String.fromCharCode(b);
    }
    return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  async function encrypt(rsaKey, plain) {
    const aesKey = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, true, ['encrypt']);
    const raw = await crypto.subtle.exportKey('raw', aesKey);
    const wrapped = new Uint8Array(await crypto.subtle.encrypt({ name: 'RSA-OAEP' }, rsaKey, raw));
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const sealed = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, aesKey, plain));
    const all = new Uint8Array(wrapped.length + iv.length + sealed.length);
    all.set(wrapped, 0);
    all.set(iv, wrapped.length);
    all.set(sealed, wrapped.length + iv.length);
    return toBase64URL(all);
  }

  const rsaKey = crypto.subtle.importKey('spki', fromBase64(form.dataset.key),
    { name: 'RSA-OAEP', hash: 'SHA-256' }, false, ['encrypt']);
  rsaKey.then(() => {
    password.disabled = false;
    button.disabled = false;
  }, () => fail('noPrepare', 'The login page could not prepare password encryption. Reload the page.'));

  let sending = false;
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (sending) {
      return;
    }
    sending = true;
    button.disabled = true;
    try {
      const plain = new TextEncoder().encode(JSON.stringify({ password: password.value, nonce: challenge }));
      out.value = await encrypt(await rsaKey, plain);
      password.value = '';
      password.disabled = true;
      form.submit();
    } catch (err) {
      sending = false;
      button.disabled = false;
      fail('noEncrypt', 'Your password could not be encrypted, so it was not sent. Reload the page and try again.');
    }
  });
})();
