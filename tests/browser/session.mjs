// One headless Chromium for the browser tests: a fresh profile, the flags of
// shared/docs/stack.md plus the test's own, and a record of everything the page does
// that a test may want to refuse: console errors, uncaught exceptions, failed or
// refused requests, and every request made (for the privacy check).

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

/** The headless Chromium flags of shared/docs/stack.md (also used by bench/). */
export const BASE_FLAGS = [
  '--no-sandbox',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Files the page may ask for and not find: the lead ships it with a trained model. */
const OPTIONAL = ['models/mien-confusion.png'];
const optional = (url) => OPTIONAL.some((path) => url.endsWith(path));

export async function openSession({ browser, origin, flags = [] }) {
  const profile = await mkdtemp(join(tmpdir(), 'mien-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: browser,
    headless: true,
    acceptDownloads: true,
    args: [...BASE_FLAGS, ...flags],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const problems = new Set();
  const warnings = new Set();
  const requests = [];
  // While a test has cut the network (`offline`), failed requests are expected: the
  // service worker tries the network first, then answers from its cache.
  const network = { offline: false, failedOffline: 0 };

  const noteConsole = (where) => (msg) => {
    const url = msg.location()?.url ?? '';
    // Offline (a test cut the network), the browser reports each failed network try.
    const offlineNoise = network.offline && /Failed to load resource|ERR_INTERNET_DISCONNECTED|ERR_EMPTY_RESPONSE|ERR_CONNECTION/.test(msg.text());
    if (msg.type() === 'error' && !offlineNoise && !(optional(url) || (/status of 404/.test(msg.text()) && OPTIONAL.some((p) => msg.text().includes(p))))) {
      problems.add(`console error (${where}): ${msg.text()}${url ? ` [${url}]` : ''}`);
    }
    if (msg.type() === 'warning') warnings.add(`console warning (${where}): ${msg.text()}`);
  };
  page.on('console', noteConsole('page'));
  page.on('pageerror', (error) => problems.add(`uncaught exception (page): ${error.message}`));
  page.on('worker', (worker) => worker.on('console', noteConsole(`worker ${worker.url()}`)));
  context.on('request', (request) => {
    // The service worker's own fetches (storing the site's files for offline use) are
    // marked, so that a check of what the page asks for can tell them apart.
    const byServiceWorker = request.serviceWorker() != null || new URL(request.url()).pathname.endsWith('/sw.js');
    requests.push({ url: request.url(), method: request.method(), body: request.postDataBuffer(), at: Date.now(), byServiceWorker });
    const url = request.url();
    if (!url.startsWith(origin) && !url.startsWith('blob:') && !url.startsWith('data:') && url !== 'about:blank') {
      problems.add(`request to another origin: ${url}`);
    }
  });
  context.on('requestfailed', (request) => {
    if (network.offline) network.failedOffline += 1;
    else if (!optional(request.url())) problems.add(`request failed: ${request.url()} (${request.failure()?.errorText})`);
  });
  context.on('response', (response) => {
    if (response.status() >= 400 && !optional(response.url())) problems.add(`HTTP ${response.status()}: ${response.url()}`);
  });

  return {
    context,
    page,
    problems,
    warnings,
    requests,
    network,
    async close() {
      await context.close().catch(() => {});
      await rm(profile, { recursive: true, force: true });
    },
  };
}
