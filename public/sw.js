// mien's service worker: after the first visit the app works with the network off.
//
// On install it stores the app, its workers and its models in a cache (the app's
// hashed file names are read from index.html). Every request of this site then goes to
// the network first, and the cache answers only when the network cannot: so a new
// version of the app or of a model, once fetched, replaces the stored one, and files
// the current index.html no longer names are dropped. It never fetches from another
// origin, and never sends anything: only GETs of this site's own files.
//
// CACHE names the cache's layout; change it when that layout changes (the old cache is
// then deleted when the new worker takes over).

const CACHE = 'mien-offline-v1';

/** The site's files with fixed names (trunk's worker output, public/, the models). */
const FILES = [
  './',
  'boot.js',
  'style.css',
  'favicon.svg',
  'manifest.webmanifest',
  'cpu-worker-loader.js',
  'cpu-worker.js',
  'cpu-worker_bg.wasm',
  'mien-gpu-worker_loader.js',
  'mien-gpu-worker.js',
  'mien-gpu-worker_bg.wasm',
  'models/mien.onnx',
  'models/blazeface/face_detection_front_128x128.int8.onnx',
  'models/blazeface/face_detection_back_256x256.int8.onnx',
];

/** Shipped with a trained model only (the About view shows it when present). */
const OPTIONAL = ['models/mien-confusion.png'];

const scope = () => self.registration.scope;
const absolute = (path) => new URL(path, scope()).href;

/** Every file the app needs, as absolute URLs: FILES plus what index.html names. */
function needed(indexHtml) {
  const urls = new Set(FILES.map(absolute));
  for (const match of indexHtml.matchAll(/(?:href|src|data-mien-js|data-mien-wasm)="([^"]+)"/g)) {
    const url = new URL(match[1], scope());
    if (url.origin === self.location.origin && !url.search) urls.add(url.href);
  }
  return urls;
}

self.addEventListener('install', (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(CACHE);
      const index = await fetch(absolute('./'));
      if (!index.ok) throw new Error(`index.html: HTTP ${index.status}`);
      const urls = needed(await index.clone().text());
      await cache.put(absolute('./'), index);
      urls.delete(absolute('./'));
      // The page has just fetched these: take them from the HTTP cache where it has them
      // (a server that forbids storing them makes this a second download).
      await cache.addAll([...urls].map((url) => new Request(url, { cache: 'force-cache' })));
      await Promise.all(OPTIONAL.map((path) => cache.add(absolute(path)).catch(() => {})));
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) if (name !== CACHE) await caches.delete(name);
      await self.clients.claim();
    })(),
  );
});

/** Drops stored files that a freshly fetched index.html no longer names. */
async function tidy(indexHtml) {
  const keep = needed(indexHtml);
  OPTIONAL.forEach((path) => keep.add(absolute(path)));
  const cache = await caches.open(CACHE);
  for (const request of await cache.keys()) if (!keep.has(request.url)) await cache.delete(request);
}

self.addEventListener('fetch', (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== 'GET' || url.origin !== self.location.origin) return;
  // Navigations to the app (any path of its scope) are answered with index.html.
  const key = request.mode === 'navigate' ? absolute('./') : request.url;
  event.respondWith(
    (async () => {
      const cache = await caches.open(CACHE);
      try {
        const response = await fetch(request);
        if (response.status === 200) {
          event.waitUntil(cache.put(key, response.clone()).catch(() => {}));
          if (key === absolute('./')) event.waitUntil(response.clone().text().then(tidy).catch(() => {}));
        }
        return response;
      } catch (offline) {
        const stored = await cache.match(key);
        if (stored) return stored;
        throw offline;
      }
    })(),
  );
});
