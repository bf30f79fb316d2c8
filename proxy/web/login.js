// Gatehouse login form conveniences: a "Show password" toggle, a hint
// when Caps Lock is on, and "Remember my username" on this browser. The
// page allows this script by its hash (see proxy/web/script.go); all the
// words it shows are in login.html. Without JavaScript the controls stay
// hidden and the form works as before.
//
// The username is remembered in localStorage, not in a cookie: it never
// leaves the browser, whereas a cookie on this origin would travel with
// every request to the gateway and, through it, to the CRM behind it
// (which shares the origin) and end up in their logs. The CRM's scripts
// could read either; a username is not a secret. It is stored only when
// the box is ticked, and removed when a login is sent with it unticked.
// The password is never stored anywhere.
'use strict';
(() => {
  const form = document.querySelector('form[action="/.gatehouse/login"]');
  const password = document.getElementById('password');
  if (!form || !password) {
    return;
  }
  const username = document.getElementById('username');
  const toggle = document.getElementById('show-password');
  const caps = document.getElementById('capslock');
  const remember = document.getElementById('remember-username');
  const storageKey = 'gatehouse.username';

  // With password encryption on, the field is a text input masked by CSS
  // (class "masked"), which password managers do not offer to save, and
  // it has no name, so it is never submitted; showing it only lifts the
  // mask and never gives it a name. Where that CSS is unknown, pwcrypt.js
  // made it a password input, and the type is switched as usual.
  const cssMask = password.classList.contains('masked') &&
    window.CSS && CSS.supports('-webkit-text-security', 'disc');
  function shown() {
    return toggle.getAttribute('aria-pressed') === 'true';
  }
  function show(on) {
    toggle.setAttribute('aria-pressed', on ? 'true' : 'false');
    if (cssMask) {
      password.classList.toggle('masked', !on);
    } else {
      password.type = on ? 'text' : 'password';
    }
  }
  if (toggle) {
    toggle.hidden = false;
    // Focus stays on the button, so a keyboard user can toggle back and
    // a screen reader announces the pressed state.
    toggle.addEventListener('click', () => show(!shown()));
  }

  // Caps Lock: a polite live region, so a screen reader says it once
  // when it changes, not on every key.
  function capsState(event) {
    if (!caps || typeof event.getModifierState !== 'function') {
      return;
    }
    const on = event.getModifierState('CapsLock');
    const text = on ? caps.dataset.message : '';
    if (caps.textContent !== text) {
      caps.textContent = text;
    }
  }
  password.addEventListener('keydown', capsState);
  password.addEventListener('keyup', capsState);
  password.addEventListener('blur', () => {
    if (caps) {
      caps.textContent = '';
    }
  });

  let stored = null;
  let storage = true;
  try {
    stored = window.localStorage.getItem(storageKey);
  } catch (err) {
    storage = false; // storage off (site data blocked): the box stays hidden
  }
  if (remember && storage) {
    remember.closest('.remember').hidden = false;
    remember.checked = stored !== null;
  }
  if (stored && username && username.value === '') {
    username.value = stored;
    if (!password.disabled) {
      password.focus();
    }
  }

  form.addEventListener('submit', () => {
    // A shown password goes back to hidden, so the browser never keeps
    // it as plain text in form history.
    if (toggle && shown()) {
      show(false);
    }
    if (!remember || !storage || !username) {
      return;
    }
    try {
      if (remember.checked && username.value !== '') {
        window.localStorage.setItem(storageKey, username.value);
      } else {
        window.localStorage.removeItem(storageKey);
      }
    } catch (err) {
      // Storage refused: the login goes on without remembering.
    }
  });
})();
