// Gatehouse recovery codes page: a "Copy" button. The page allows this
// script by its hash (see proxy/web/script.go); its words are in
// codes.html. Without JavaScript the button stays hidden; the download
// link and the "I saved them" form work without it.
'use strict';
(() => {
  const copy = document.getElementById('copy-codes');
  const status = document.getElementById('copy-status');
  const list = document.getElementById('codes');
  if (!copy || !status || !list || !navigator.clipboard) {
    return;
  }
  copy.hidden = false;
  copy.addEventListener('click', async () => {
    const codes = Array.from(list.querySelectorAll('code'), (c) => c.textContent);
    try {
      await navigator.clipboard.writeText(codes.join('\n') + '\n');
      status.textContent = status.dataset.copied;
    } catch (e) {
      status.textContent = status.dataset.failed;
    }
  });
})();
