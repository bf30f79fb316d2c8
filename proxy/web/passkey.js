// Gatehouse passkeys: the buttons that ask the browser for a passkey
// (navigator.credentials) with the options the server put in the form's
// data-options, and post its answer in the form, which the server
// checks. Pages allow this script by its hash (see proxy/web/script.go);
// its words are in the page. Without WebAuthn in the browser the buttons
// stay hidden and the page says so; the other ways in still work.
'use strict';
(() => {
  const PKC = window.PublicKeyCredential;
  const supported = PKC && PKC.parseCreationOptionsFromJSON && PKC.parseRequestOptionsFromJSON && navigator.credentials;
  for (const form of document.querySelectorAll('form[data-passkey]')) {
    const button = form.querySelector('[data-passkey-start]');
    const status = form.querySelector('[data-passkey-status]');
    if (!button || !status) {
      continue;
    }
    if (!supported) {
      status.textContent = status.dataset.unsupported;
      continue;
    }
    button.hidden = false;
    button.addEventListener('click', async () => {
      // The answer is posted with the form's other fields (the reset
      // page's new password): check them before the passkey is spent.
      if (!form.reportValidity()) {
        return;
      }
      status.textContent = '';
      button.disabled = true;
      try {
        const options = JSON.parse(form.dataset.options).publicKey;
        const credential = form.dataset.passkey === 'create'
          ? await navigator.credentials.create({publicKey: PKC.parseCreationOptionsFromJSON(options)})
          : await navigator.credentials.get({publicKey: PKC.parseRequestOptionsFromJSON(options)});
        form.elements.credential.value = JSON.stringify(credential.toJSON());
        form.submit();
      } catch (e) {
        // Cancelled, timed out, or no passkey for this site here.
        status.textContent = status.dataset.failed;
        button.disabled = false;
      }
    });
  }
})();
