// Browser test of the built app (dist/): serves it, opens it in headless Chromium,
// and checks the shell, the CPU worker's protocol and a photo's first steps.
// Fails on any console error or uncaught exception. Run by `make test-web`.
//
//   node tests/browser/run.mjs [dist-dir]
//
// CHROMIUM overrides the browser (default /usr/bin/chromium); MIEN_URL tests a running
// server instead of serving dist-dir (e.g. MIEN_URL=http://127.0.0.1:8080/ during `make serve`).

import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';

import { png, tinyOnnx } from './fixtures.mjs';
import { serve } from './server.mjs';

const DIST = resolve(process.argv[2] ?? 'dist');
const BROWSER = process.env.CHROMIUM ?? '/usr/bin/chromium';
const TIMEOUT_MS = 60_000; // a cold wasm compile on a busy 2-core machine takes a while

function fail(message) {
  console.error(`test-web: FAIL: ${message}`);
  process.exit(1);
}

if (!process.env.MIEN_URL && !existsSync(join(DIST, 'index.html'))) fail(`${DIST}/index.html is missing; run \`make build\` first`);
if (!existsSync(BROWSER)) fail(`no browser at ${BROWSER}; run \`make setup-web\``);

const checks = [];
async function check(name, body) {
  const started = Date.now();
  try {
    await body();
    checks.push(name);
    console.log(`  ok   ${name} (${Date.now() - started} ms)`);
  } catch (error) {
    throw new Error(`${name}: ${error.message ?? error}`);
  }
}

function expect(condition, message) {
  if (!condition) throw new Error(message);
}

const server = process.env.MIEN_URL
  ? { url: new URL(process.env.MIEN_URL).href, close: async () => {} }
  : await serve(DIST);
const profile = await mkdtemp(join(tmpdir(), 'mien-chromium-'));
const problems = new Set();
const warnings = new Set();
let context;

try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: BROWSER,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const noteConsole = (where) => (msg) => {
    if (msg.type() === 'error') problems.add(`console error (${where}): ${msg.text()}`);
    if (msg.type() === 'warning') warnings.add(`console warning (${where}): ${msg.text()}`);
  };
  page.on('console', noteConsole('page'));
  page.on('pageerror', (error) => problems.add(`uncaught exception (page): ${error.message}`));
  page.on('worker', (worker) => worker.on('console', noteConsole(`worker ${worker.url()}`)));
  page.on('requestfailed', (request) =>
    problems.add(`request failed: ${request.url()} (${request.failure()?.errorText})`),
  );
  // Privacy: the page may talk to its own site only.
  page.on('request', (request) => {
    const url = request.url();
    if (!url.startsWith(server.url) && !url.startsWith('blob:') && !url.startsWith('data:')) {
      problems.add(`request to another origin: ${url}`);
    }
  });
  page.on('response', (response) => {
    if (response.status() >= 400) problems.add(`HTTP ${response.status()}: ${response.url()}`);
  });

  console.log(`test-web: ${server.url} in ${BROWSER}`);

  await check('the shell renders', async () => {
    await page.goto(server.url, { waitUntil: 'load' });
    await page.waitForSelector('main.app #upload', { timeout: TIMEOUT_MS });
    expect((await page.title()).startsWith('mien'), `title is "${await page.title()}"`);
    expect((await page.textContent('h1')) === 'mien', 'the heading is not "mien"');
    const upload = await page.textContent('#upload');
    for (const words of ['Drop a photo', 'choose', 'paste', 'on this device']) {
      expect(upload.includes(words), `the upload area does not say "${words}": ${upload}`);
    }
    expect(await page.isVisible('label[for="photo-input"]'), 'the upload label is not visible');
    const footer = await page.textContent('footer#privacy');
    expect(/never leave this device/.test(footer), `the footer does not promise privacy: ${footer}`);
    expect((await page.textContent('#status')).trim().length > 0, 'the status line is empty');
  });

  await check('the CPU worker reports ready', async () => {
    await page.waitForSelector('#backend-cpu:not([data-state="starting"])', { timeout: TIMEOUT_MS });
    const state = await page.getAttribute('#backend-cpu', 'data-state');
    expect(state === 'ready', `backend line: ${await page.textContent('#backend-cpu')}`);
    expect((await page.textContent('#backend-cpu')).includes('tract'), 'the ready line does not name tract');
  });

  await check('a chosen photo is decoded in the page', async () => {
    await page.setInputFiles('#photo-input', { name: 'gradient.png', mimeType: 'image/png', buffer: png(64, 40) });
    await page.waitForFunction(() => document.querySelector('#status')?.textContent.includes('gradient.png:'));
    const status = await page.textContent('#status');
    expect(status.includes('64 × 40'), `status: ${status}`);
    expect((await page.getAttribute('#status', 'data-tone')) === 'info', 'the status is not informational');
  });

  await check('a file that is not an image gets a sentence, not a crash', async () => {
    const text = Buffer.from('not a photo');
    await page.setInputFiles('#photo-input', { name: 'notes.txt', mimeType: 'text/plain', buffer: text });
    await page.waitForSelector('#status[data-tone="error"]');
    expect((await page.textContent('#status')).startsWith('notes.txt: '), 'the error does not name the file');
  });

  await check('the CPU worker follows docs/worker-protocol.md', async () => {
    const replies = await page.evaluate(async (model) => {
      const worker = new Worker('cpu-worker-loader.js');
      const inbox = [];
      let wake = () => {};
      worker.onmessage = (event) => {
        inbox.push(event.data);
        wake();
      };
      const next = () =>
        inbox.length
          ? Promise.resolve(inbox.shift())
          : new Promise((resolve) => {
              wake = () => resolve(inbox.shift());
            });
      const replies = [await next()];
      const bytes = Uint8Array.from(model).buffer;
      worker.postMessage({ kind: 'load', id: 1, name: 'tiny', bytes }, [bytes]);
      replies.push(await next());
      const a = Float32Array.from([1, 2, 3, 4, 5, 6]);
      const b = Float32Array.from([0.5, 0.5, 0.5, 1, 1, 1]);
      worker.postMessage({
        kind: 'run',
        id: 2,
        name: 'tiny',
        // Given out of order on purpose: inputs are matched by name.
        inputs: [
          { name: 'b', shape: [2, 3], data: b },
          { name: 'a', shape: [2, 3], data: a },
        ],
        outputs: ['z', 'y'],
      });
      replies.push(await next());
      const garbage = Uint8Array.from([1, 2, 3, 4]).buffer;
      worker.postMessage({ kind: 'load', id: 3, name: 'broken', bytes: garbage });
      replies.push(await next());
      worker.postMessage({ kind: 'run', id: 4, name: 'missing', inputs: [], outputs: [] });
      replies.push(await next());
      worker.postMessage({ kind: 'run', id: 5, name: 'tiny', inputs: [{ name: 'a', shape: [2, 3], data: a }], outputs: ['y'] });
      replies.push(await next());
      worker.postMessage({ kind: 'dance', id: 6, name: 'tiny' });
      replies.push(await next());
      worker.terminate();
      const plain = (reply) =>
        JSON.parse(
          JSON.stringify(reply, (key, value) =>
            value instanceof Float32Array ? { f32: Array.from(value) } : value,
          ),
        );
      return replies.map(plain);
    }, Array.from(tinyOnnx()));

    const [ready, loaded, result, broken, missing, partial, unknown] = replies;
    expect(ready.kind === 'ready' && ready.backend === 'cpu', `start-up: ${JSON.stringify(ready)}`);
    expect(loaded.kind === 'loaded' && loaded.id === 1 && loaded.name === 'tiny', `load: ${JSON.stringify(loaded)}`);
    expect(typeof loaded.ms === 'number', 'load: no ms');
    expect(result.kind === 'result' && result.id === 2, `run: ${JSON.stringify(result)}`);
    const [z, y] = result.outputs;
    expect(z.name === 'z' && y.name === 'y', `run: outputs not in the order asked: ${JSON.stringify(result.outputs)}`);
    expect(JSON.stringify(z.shape) === '[2,3]', `run: z's shape is ${JSON.stringify(z.shape)}`);
    expect(JSON.stringify(y.data.f32) === '[0.5,1.5,2.5,3,4,5]', `run: y = a - b gave ${JSON.stringify(y.data)}`);
    expect(JSON.stringify(z.data.f32) === '[1.5,2.5,3.5,5,6,7]', `run: z = a + b gave ${JSON.stringify(z.data)}`);
    for (const [reply, id, words] of [
      [broken, 3, 'broken'],
      [missing, 4, 'no model of that name'],
      [partial, 5, 'missing input `b`'],
      [unknown, 6, 'unknown request kind'],
    ]) {
      expect(reply.kind === 'error' && reply.id === id, `request ${id}: ${JSON.stringify(reply)}`);
      expect(reply.message.includes(words), `request ${id}: message "${reply.message}" lacks "${words}"`);
    }
  });

  for (const warning of warnings) console.log(`  note ${warning}`);
  if (problems.size) {
    const error = new Error(`the page reported problems:\n    ${[...problems].join('\n    ')}`);
    problems.clear();
    throw error;
  }
  console.log(`test-web: all ${checks.length} checks passed`);
} catch (error) {
  const extra = problems.size ? `\n  also seen:\n    ${[...problems].join('\n    ')}` : '';
  console.error(`test-web: FAIL: ${error.message}${extra}`);
  process.exitCode = 1;
} finally {
  await context?.close().catch(() => {});
  await server.close();
  await rm(profile, { recursive: true, force: true });
}
