// Load test of the built app (dist/) in headless Chromium, CPU engine (no WebGPU):
//
//   1. a batch of photos mixed with bad files (300 by default) finishes, and every card
//      has its outcome (done, no face, or the bad file's sentence);
//   2. the CPU worker is made to crash in the middle of a second batch: it is replaced,
//      and that batch finishes too, every card with its outcome;
//   3. memory stays bounded: the page's JavaScript heap (after a garbage collection)
//      and the browser's resident memory (every Chromium process, so the workers'
//      WebAssembly memory included) before, after the first batch, and after the second
//      (which replaces the first batch's cards);
//   4. the webcam view runs on Chromium's fake camera for a few minutes (3 by default)
//      with the same memory taken each minute.
//
//   node tests/browser/load.mjs [dist-dir]          (`make test-load`, after `make build`)
//
// Env: MIEN_LOAD_PHOTOS (default 300), MIEN_LOAD_WEBCAM_S (default 180), CHROMIUM.
// Not part of `make test` (minutes on 2 cores); it fails on a card without an outcome,
// a console error, a request to another origin, or growth beyond the limits below.
// Run it alone: the resident memory is summed over every Chromium process.

import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { badInputs, png } from './fixtures.mjs';
import { makeScenes } from './scenes.mjs';
import { serve } from './server.mjs';
import { openSession } from './session.mjs';

const DIST = resolve(process.argv[2] ?? 'dist');
const BROWSER = process.env.CHROMIUM ?? '/usr/bin/chromium';
const PHOTOS = Number(process.env.MIEN_LOAD_PHOTOS ?? 300);
const WEBCAM_S = Number(process.env.MIEN_LOAD_WEBCAM_S ?? 180);
const BATCH_TIMEOUT_MS = Math.max(600_000, PHOTOS * 4_000);
// A second batch of the same size replaces the first one's cards: what is left after it
// beyond the first batch's level is a leak. Allowed: 64 MB of resident memory (the
// allocator keeps some pages) and 16 MB of JS heap. The webcam: 64 MB over its minutes.
const MAX_GROWTH_RSS = 64 << 20;
const MAX_GROWTH_HEAP = 16 << 20;

function fail(message) {
  console.error(`test-load: FAIL: ${message}`);
  process.exit(1);
}
function expect(condition, message) {
  if (!condition) throw new Error(message);
}
if (!existsSync(join(DIST, 'index.html'))) fail(`${DIST}/index.html is missing; run \`make build\` first`);

const mb = (bytes) => `${(bytes / 2 ** 20).toFixed(1)} MB`;

/** Resident memory of every Chromium process, in bytes (from ps). */
function chromiumRss() {
  const out = execFileSync('ps', ['-eo', 'rss=,comm='], { encoding: 'utf8' });
  return out
    .split('\n')
    .filter((line) => /chrom/i.test(line))
    .reduce((sum, line) => sum + Number(line.trim().split(/\s+/)[0]) * 1024, 0);
}

/** The page's JS heap after a garbage collection, and the browser's resident memory. */
async function memory(cdp) {
  await cdp.send('HeapProfiler.collectGarbage');
  const { usedSize } = await cdp.send('Runtime.getHeapUsage');
  return { heap: usedSize, rss: chromiumRss() };
}
const memoryText = (m) => `JS heap ${mb(m.heap)}, Chromium resident ${mb(m.rss)}`;

/** `count` files: photos with two faces, one, a small one and none, and every bad input. */
function batch(scenes, count, tag) {
  const kinds = [
    { what: 'two faces', name: 'two.png', type: 'image/png', buffer: scenes.two, faces: 2 },
    { what: 'one face', name: 'happy.png', type: 'image/png', buffer: scenes.happy, faces: 1 },
    { what: 'a small face', name: 'small.png', type: 'image/png', buffer: scenes.small, faces: 1 },
    { what: 'no face', name: 'gradient.png', type: 'image/png', buffer: png(64, 40), noFace: true },
    ...badInputs().map((b) => ({ what: b.name, name: b.name, type: b.mimeType, buffer: b.buffer, words: b.words })),
  ];
  return Array.from({ length: count }, (_, i) => {
    const k = kinds[i % kinds.length];
    return { ...k, file: `${tag}-${String(i).padStart(4, '0')}-${k.name}` };
  });
}

/** Gives the files to the app and waits until every card has settled. */
async function analyse(page, files) {
  await page.click('#tab-photos');
  await page.setInputFiles(
    '#photo-input',
    files.map((f) => ({ name: f.file, mimeType: f.type, buffer: f.buffer })),
  );
}
async function settled(page, count) {
  await page.waitForFunction(
    (n) => {
      const all = [...document.querySelectorAll('article.photo')];
      return all.length === n && all.every((a) => ['done', 'no-face', 'error'].includes(a.dataset.state));
    },
    count,
    { timeout: BATCH_TIMEOUT_MS, polling: 500 },
  );
  return page.$$eval('article.photo', (articles) =>
    articles.map((a) => ({ file: a.dataset.file, state: a.dataset.state, faces: a.querySelectorAll('li.face').length, text: a.textContent })),
  );
}

/** Every card has the outcome its file should have. */
function checkOutcomes(files, cards) {
  expect(cards.length === files.length, `${cards.length} cards for ${files.length} files`);
  const byFile = new Map(cards.map((c) => [c.file, c]));
  const counts = {};
  for (const f of files) {
    const card = byFile.get(f.file);
    expect(card, `no card for ${f.file}`);
    counts[card.state] = (counts[card.state] ?? 0) + 1;
    if (f.noFace) {
      expect(card.state === 'no-face', `${f.file}: ${card.state}: ${card.text.slice(0, 200)}`);
    } else if (f.words) {
      expect(card.state === 'error' && card.text.includes(f.words), `${f.file}: ${card.state}: ${card.text.slice(0, 200)}`);
    } else {
      expect(card.state === 'done' && card.faces === f.faces, `${f.file}: ${card.state}, ${card.faces} faces: ${card.text.slice(0, 200)}`);
    }
  }
  return counts;
}

const server = await serve(DIST);
const origin = new URL(server.url).origin;
let session;
try {
  console.log(`test-load: ${server.url} in ${BROWSER}; ${PHOTOS} files per batch, webcam ${WEBCAM_S} s`);
  session = await openSession({
    browser: BROWSER,
    origin,
    flags: ['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream'],
  });
  const { page, context } = session;
  const scenes = await makeScenes(context);
  await page.goto(server.url, { waitUntil: 'load' });
  await page.waitForSelector('#engine[data-state="ready"][data-engine="cpu"]', { timeout: 300_000 });
  const cdp = await context.newCDPSession(page);

  // Warm up (the first run compiles and allocates), then the baseline.
  await analyse(page, batch(scenes, 4, 'warm'));
  await settled(page, 4);
  const base = await memory(cdp);
  console.log(`  before:             ${memoryText(base)}`);

  // 1. The first batch.
  const first = batch(scenes, PHOTOS, 'a');
  let started = Date.now();
  await analyse(page, first);
  const counts = checkOutcomes(first, await settled(page, first.length));
  const seconds1 = (Date.now() - started) / 1000;
  const afterFirst = await memory(cdp);
  console.log(`  ok   ${PHOTOS} files in ${seconds1.toFixed(0)} s (${JSON.stringify(counts)}), every card with its outcome`);
  console.log(`  after batch 1:      ${memoryText(afterFirst)}`);

  // 2. The second batch, with the CPU worker crashing in its middle.
  const second = batch(scenes, PHOTOS, 'b');
  const cpuWorkers = () => page.workers().filter((w) => w.url().endsWith('cpu-worker-loader.js'));
  const before = cpuWorkers();
  started = Date.now();
  await analyse(page, second);
  await page.waitForFunction(
    (n) => document.querySelectorAll('article.photo[data-state="done"]').length >= n,
    Math.floor(PHOTOS / 3),
    { timeout: BATCH_TIMEOUT_MS, polling: 200 },
  );
  await before.at(-1).evaluate(() => {
    const handle = self.onmessage;
    self.onmessage = (event) => (event.data?.kind === 'run' ? wasm_bindgen.panic_for_test(event.data.id) : handle(event));
  });
  checkOutcomes(second, await settled(page, second.length));
  const seconds2 = (Date.now() - started) / 1000;
  for (const p of session.problems) if (/panic_for_test|panicForTest|crashed|unreachable/.test(p)) session.problems.delete(p);
  expect(!before.includes(cpuWorkers().at(-1)), 'the crashed worker was not replaced');
  const afterSecond = await memory(cdp);
  console.log(`  ok   ${PHOTOS} more in ${seconds2.toFixed(0)} s with the CPU worker crashing after a third: replaced, every card with its outcome`);
  console.log(`  after batch 2:      ${memoryText(afterSecond)}`);
  const rssGrowth = afterSecond.rss - afterFirst.rss;
  const heapGrowth = afterSecond.heap - afterFirst.heap;
  console.log(`       growth from batch 1 to batch 2: resident ${mb(rssGrowth)}, JS heap ${mb(heapGrowth)}`);
  expect(rssGrowth <= MAX_GROWTH_RSS, `resident memory grew by ${mb(rssGrowth)} from one batch to the next`);
  expect(heapGrowth <= MAX_GROWTH_HEAP, `the JS heap grew by ${mb(heapGrowth)} from one batch to the next`);

  // 4. The webcam view for a few minutes.
  await page.click('#tab-webcam');
  await page.click('#webcam-start');
  await page.waitForFunction(() => Number(document.querySelector('#webcam-fps')?.dataset.fps) > 0, null, { timeout: 120_000 });
  await page.waitForTimeout(10_000);
  const camStart = await memory(cdp);
  console.log(`  webcam, after 10 s: ${memoryText(camStart)}, ${await page.textContent('#webcam-fps')}`);
  let camLast = camStart;
  for (let t = 60; t <= WEBCAM_S; t += 60) {
    await page.waitForTimeout(60_000);
    camLast = await memory(cdp);
    console.log(`  webcam, +${t} s:     ${memoryText(camLast)}, ${await page.textContent('#webcam-fps')}`);
  }
  const problem = await page.evaluate(() => {
    const p = document.querySelector('#webcam-problem');
    return p && !p.hidden ? p.textContent : null;
  });
  expect(!problem, `the webcam view says: ${problem}`);
  await page.click('#webcam-stop');
  const camGrowth = camLast.rss - camStart.rss;
  expect(camGrowth <= MAX_GROWTH_RSS, `resident memory grew by ${mb(camGrowth)} during the webcam run`);
  console.log(`  ok   webcam ${WEBCAM_S} s: resident growth ${mb(camGrowth)}, JS heap growth ${mb(camLast.heap - camStart.heap)}`);

  expect(session.problems.size === 0, [...session.problems].join('\n'));
  console.log('test-load: passed');
} catch (error) {
  fail(error.message ?? error);
} finally {
  await session?.close();
  await server.close();
}
