// Starts the app. trunk fills in the hashed file names (Trunk.toml, pattern_script);
// this file exists because the Content-Security-Policy allows no inline script.
const tag = document.querySelector('script[data-mien-js]');

// mien's WebAssembly is built with SIMD (.cargo/config.toml). This module (one function
// returning a `v128.const`) only validates where the browser has WebAssembly SIMD.
const SIMD_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version 1
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, // types: () -> v128
  0x03, 0x02, 0x01, 0x00, // functions: one, of type 0
  0x0a, 0x16, 0x01, 0x14, 0x00, 0xfd, 0x0c, ...new Array(16).fill(0), 0x0b, // code: v128.const 0
]);

function say(text) {
  const note = document.createElement('p');
  note.className = 'boot-error';
  note.textContent = text;
  document.body.append(note);
}

if (typeof WebAssembly !== 'object') {
  say('mien runs in your browser with WebAssembly, which is switched off or missing here.');
} else if (!WebAssembly.validate(SIMD_PROBE)) {
  say('mien needs WebAssembly SIMD, which this browser lacks: please use a browser from 2023 '
    + 'or later (Chrome or Edge 91, Firefox 89, Safari 16.4 or newer).');
} else {
  try {
    const { default: init } = await import(tag.dataset.mienJs);
    await init({ module_or_path: tag.dataset.mienWasm });
  } catch (error) {
    console.error('mien could not start:', error);
    say('mien could not start in this browser: ' + error + '. It needs a recent browser with WebAssembly enabled.');
  }
}

// Works offline after this first visit: sw.js stores the app, its workers and models.
// Service workers exist only on secure pages (https, or this computer's own address).
// It is registered 3 s after the first result (or once the engine has failed, or after
// a minute), so that storing the files never competes with the first analysis for the
// network; it then takes them from the browser's HTTP cache where the server allows.
function registerServiceWorker() {
  navigator.serviceWorker.register('sw.js').catch((error) => {
    console.warn('mien will not work offline here: its service worker could not start:', error);
  });
}

const FIRST_RESULT = [
  '#engine[data-state="failed"]',
  'article.photo[data-state="done"]',
  'article.photo[data-state="no-face"]',
  'article.photo[data-state="error"]',
  '#webcam-fps[data-fps]',
].join(', ');

if ('serviceWorker' in navigator) {
  if (document.querySelector(FIRST_RESULT)) {
    registerServiceWorker();
  } else {
    const observer = new MutationObserver(() => {
      if (!document.querySelector(FIRST_RESULT)) return;
      observer.disconnect();
      clearTimeout(fallback);
      setTimeout(registerServiceWorker, 3000);
    });
    const fallback = setTimeout(() => {
      observer.disconnect();
      registerServiceWorker();
    }, 60_000);
    observer.observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-state', 'data-fps'] });
  }
}
