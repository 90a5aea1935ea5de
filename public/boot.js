// Starts the app. trunk fills in the hashed file names (Trunk.toml, pattern_script);
// this file exists because the Content-Security-Policy allows no inline script.
const tag = document.querySelector('script[data-mien-js]');

try {
  const { default: init } = await import(tag.dataset.mienJs);
  await init({ module_or_path: tag.dataset.mienWasm });
} catch (error) {
  console.error('mien could not start:', error);
  const note = document.createElement('p');
  note.className = 'boot-error';
  note.textContent = 'mien could not start in this browser: ' + error
    + '. It needs a recent browser with WebAssembly enabled.';
  document.body.append(note);
}

// Works offline after this first visit: sw.js stores the app, its workers and models.
// Service workers exist only on secure pages (https, or this computer's own address).
if ('serviceWorker' in navigator) {
  navigator.serviceWorker.register('sw.js').catch((error) => {
    console.warn('mien will not work offline here: its service worker could not start:', error);
  });
}
