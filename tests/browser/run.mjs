// Browser test of the built app (dist/): serves it and drives it in headless Chromium,
// twice: once without WebGPU (the app must fall back to the CPU by itself, and the
// rest of the app is checked there), once with SwiftShader's WebGPU (the GPU engine
// must pass its self-test and give the CPU's numbers). Fails on any console error,
// uncaught exception, failed request, or request to another origin. Run by `make test-web`.
//
//   node tests/browser/run.mjs [dist-dir]
//
// CHROMIUM overrides the browser (default /usr/bin/chromium); MIEN_URL tests a running
// server instead of serving dist-dir (e.g. MIEN_URL=http://127.0.0.1:8080/ during
// `make serve`); MIEN_SKIP_GPU=1 leaves out the WebGPU session (slow on SwiftShader).
// Test photos are composed at test time from FER2013 faces (tests/browser/scenes.mjs),
// and so are the test videos (recorded by the browser as WebM, whose expression changes
// at a known time).
// The batch CSV is compared with `mien-analyse`'s for the same files (the native
// command, built into $CARGO_TARGET_DIR/debug, or target/debug, if missing). The
// "another model" check uses a tiny random-weight classifier with FER+'s 8 labels and
// a 40x40 input, written by `cargo run --example tiny-model` (no libtorch needed).

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, relative, resolve } from 'node:path';

import { badInputs, png, tinyOnnx } from './fixtures.mjs';
import { makeScenes, makeVideos } from './scenes.mjs';
import { serve } from './server.mjs';
import { openSession } from './session.mjs';

const DIST = resolve(process.argv[2] ?? 'dist');
const BROWSER = process.env.CHROMIUM ?? '/usr/bin/chromium';
const TIMEOUT_MS = 120_000; // a cold wasm compile on a busy 2-core machine takes a while
const GPU_TIMEOUT_MS = 300_000; // SwiftShader compiles and runs WebGPU shaders on the CPU
// GPU vs CPU. The classifier alone, on the same input: its self-test logits against the
// file's reference (computed natively by tract). BlazeFace: the boxes. The whole path:
// the fractions. The classifier's input is read from the photo continuously in the box
// (mien::face::face_levels), so a box moved by 1e-4 px changes the fractions by at most
// 4.9e-5 (`measure_steadiness`, 49 film faces; 2.9e-3 when the input was cut on the
// pixel grid and rounded to whole gray levels).
const SAME_LOGITS = 1e-4;
const SAME_BOX_PX = 0.01;
const SAME_FRACTIONS = 1e-3;

function fail(message) {
  console.error(`test-web: FAIL: ${message}`);
  process.exit(1);
}

if (!process.env.MIEN_URL && !existsSync(join(DIST, 'index.html'))) fail(`${DIST}/index.html is missing; run \`make build\` first`);
if (!existsSync(BROWSER)) fail(`no browser at ${BROWSER}; run \`make setup-web\``);

let passed = 0;
async function check(name, body) {
  const started = Date.now();
  try {
    await body();
    passed += 1;
    console.log(`  ok   ${name} (${Date.now() - started} ms)`);
  } catch (error) {
    throw new Error(`${name}: ${error.message ?? error}`);
  }
}

function expect(condition, message) {
  if (!condition) throw new Error(message);
}

// --- Reading the page ---------------------------------------------------------

/** Waits until the engine bar says `engine` is ready; fails if it settles otherwise. */
async function engineReady(page, engine, timeout = TIMEOUT_MS) {
  await page.waitForSelector(`#engine[data-state="ready"][data-engine="${engine}"], #engine[data-state="failed"]`, {
    timeout,
  });
  const state = await page.getAttribute('#engine', 'data-state');
  expect(state === 'ready', `engine failed: ${await page.textContent('#engine-status')}`);
}

/** Every photo card, with each face's exact numbers (from the data attributes). */
function cards(page) {
  return page.$$eval('article.photo', (articles) =>
    articles.map((a) => ({
      file: a.dataset.file,
      state: a.dataset.state,
      engine: a.dataset.engine,
      detectMs: Number(a.dataset.detectMs),
      detectModelMs: Number(a.dataset.detectModelMs),
      text: a.textContent,
      faces: [...a.querySelectorAll('li.face')].map((f) => ({
        number: Number(f.dataset.face),
        labels: f.dataset.labels.split(','),
        fractions: f.dataset.fractions.split(',').map(Number),
        top: f.dataset.top,
        unsure: f.dataset.unsure === 'true',
        box: f.dataset.box.split(',').map(Number),
        small: f.dataset.small === 'true',
        classifyMs: Number(f.dataset.classifyMs),
        classifyModelMs: Number(f.dataset.classifyModelMs),
        bars: f.querySelectorAll('.share').length,
        barLabels: [...f.querySelectorAll('.share')].map((s) => s.dataset.label),
        headline: f.querySelector('.reading')?.textContent ?? '',
      })),
    })),
  );
}

/** Gives files to the file input and waits until every card has settled. */
async function analyse(page, files, timeout = TIMEOUT_MS) {
  await page.click('#tab-photos');
  await page.setInputFiles('#photo-input', files);
  return settled(page, files.length, timeout);
}

async function settled(page, count, timeout = TIMEOUT_MS) {
  await page.waitForFunction(
    (n) => {
      const all = [...document.querySelectorAll('article.photo')];
      return all.length === n && all.every((a) => ['done', 'no-face', 'error'].includes(a.dataset.state));
    },
    count,
    { timeout },
  );
  return cards(page);
}

/** The shipped model's expressions, in its output order. */
const BUILTIN_LABELS = ['angry', 'disgust', 'fear', 'happy', 'neutral', 'sad', 'surprise'];
/** The "another model" check's: FER+'s classes (the tiny-model example's default). */
const FERPLUS_LABELS = ['anger', 'contempt', 'disgust', 'fear', 'happiness', 'neutral', 'sadness', 'surprise'];

function checkFace(face, where, labels = BUILTIN_LABELS) {
  const n = labels.length;
  expect(face.labels.join() === labels.join() && face.fractions.length === n, `${where}: not the ${n} expressions: ${face.labels}`);
  const sum = face.fractions.reduce((a, b) => a + b, 0);
  expect(Math.abs(sum - 1) < 1e-4, `${where}: fractions sum to ${sum}`);
  expect(face.fractions.every((f) => f >= 0 && f <= 1), `${where}: fractions out of range: ${face.fractions}`);
  const best = face.labels[face.fractions.indexOf(Math.max(...face.fractions))];
  expect(face.top === best, `${where}: top is ${face.top}, the largest fraction is ${best}`);
  expect(face.bars === n, `${where}: ${face.bars} bars`);
  expect([...face.barLabels].sort().join() === [...labels].sort().join(), `${where}: bars for ${face.barLabels}`);
  expect(face.unsure ? /unsure/i.test(face.headline) : face.headline.includes(face.top), `${where}: headline "${face.headline}"`);
}

const timings = [];
function noteTimings(engine, card) {
  for (const face of card.faces) {
    timings.push({ engine, file: card.file, detect: card.detectMs, detectModel: card.detectModelMs, classify: face.classifyMs, classifyModel: face.classifyModelMs });
  }
}

// --- The sessions ---------------------------------------------------------------

const server = process.env.MIEN_URL
  ? { url: new URL(process.env.MIEN_URL).href, close: async () => {} }
  : await serve(DIST);
const origin = new URL(server.url).origin;
const siteFiles = new Set(['/']);
if (!process.env.MIEN_URL) {
  const walk = (dir) =>
    readdirSync(dir, { withFileTypes: true }).forEach((e) =>
      e.isDirectory() ? walk(join(dir, e.name)) : siteFiles.add('/' + relative(DIST, join(dir, e.name))),
    );
  walk(DIST);
}
let scenes;
let videos;
let session;
let batchCsv;

/** A CSV line's fields (RFC 4180 quoting undone). */
function csvFields(line) {
  const fields = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted && c === '"' && line[i + 1] === '"') {
      field += '"';
      i++;
    } else if (c === '"') quoted = !quoted;
    else if (c === ',' && !quoted) {
      fields.push(field);
      field = '';
    } else field += c;
  }
  fields.push(field);
  return fields;
}

/**
 * The CSV of `mien-analyse` for these files, in this order. Always built here with
 * the default features (a no-op when up to date): a binary left by
 * `cargo test --features train` links libtorch, which only the trainer's environment
 * can load, and users run the command without it.
 */
function nativeCsv(files, model = null) {
  const bin = resolve(process.env.CARGO_TARGET_DIR ?? 'target', 'debug', 'mien-analyse');
  const built = spawnSync('cargo', ['build', '--quiet', '--bin', 'mien-analyse'], { stdio: 'inherit' });
  expect(built.status === 0, 'cargo build --bin mien-analyse failed');
  const dir = mkdtempSync(join(tmpdir(), 'mien-native-'));
  try {
    const paths = files.map(([name, bytes]) => {
      writeFileSync(join(dir, name), bytes);
      return join(dir, name);
    });
    const served = join(DIST, 'models', 'mien.onnx');
    model ??= existsSync(served) ? served : 'public/models/mien.onnx';
    const run = spawnSync(bin, ['--model', model, '--quiet', ...paths], { encoding: 'utf8' });
    expect(run.status === 0 || run.status === 1, `mien-analyse: status ${run.status}: ${run.stderr}`);
    return run.stdout;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A CSV download's text. */
async function downloadCsv(page, button = '#csv-download') {
  const [download] = await Promise.all([page.waitForEvent('download'), page.click(button)]);
  return new Promise((done, failed) =>
    download.createReadStream().then((s) => {
      const parts = [];
      s.on('data', (d) => parts.push(d)).on('end', () => done(Buffer.concat(parts).toString())).on('error', failed);
    }, failed),
  );
}

/**
 * The tiny classifier of `cargo run --example tiny-model` (FER+'s 8 labels, 40x40
 * input, random weights, its self-test logits stored), written into `dir`.
 */
function tinyModel(dir) {
  const path = join(dir, 'tiny-ferplus.onnx');
  const made = spawnSync('cargo', ['run', '--quiet', '--example', 'tiny-model', '--', path], { stdio: 'inherit' });
  expect(made.status === 0, 'cargo run --example tiny-model failed');
  return { path, bytes: readFileSync(path) };
}

/** Compares the browser's CSV rows with mien-analyse's; returns the largest percentage difference. */
function sameRows(browserCsv, nativeText) {
  const browserRows = browserCsv.trim().split('\r\n').map(csvFields);
  const nativeRows = nativeText.trim().split('\r\n').map(csvFields);
  expect(nativeRows[0].slice(0, browserRows[0].length).join() === browserRows[0].join(), `header: ${nativeRows[0]}`);
  expect(nativeRows.length === browserRows.length, `rows: ${nativeRows.length} native, ${browserRows.length} in the browser`);
  let worst = 0;
  // Row 0 is the header (checked above): its cells are names, not numbers.
  for (const [i, b] of browserRows.entries()) {
    if (i === 0) continue;
    const n = nativeRows[i].slice(0, b.length);
    n[0] = basename(n[0]);
    expect(n.slice(0, 4).join() === b.slice(0, 4).join(), `row ${i}: native ${n.slice(0, 4)}, browser ${b.slice(0, 4)}`);
    for (let k = 4; k < b.length; k++) {
      expect((n[k] === '') === (b[k] === ''), `row ${i}, column ${k}: native "${n[k]}", browser "${b[k]}"`);
      if (b[k] !== '') worst = Math.max(worst, Math.abs(Number(n[k]) - Number(b[k])));
    }
  }
  expect(worst <= 0.011, `percentages differ by up to ${worst}`);
  return { rows: browserRows.length - 1, worst };
}

const scratch = mkdtempSync(join(tmpdir(), 'mien-web-'));

try {
  console.log(`test-web: ${server.url} in ${BROWSER}`);

  // ---- Session 1: no WebGPU (and Chromium's fake camera) ----
  console.log('test-web: session without WebGPU');
  session = await openSession({
    browser: BROWSER,
    origin,
    flags: ['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream'],
  });
  let { page } = session;
  scenes = await makeScenes(session.context);
  const recording = Date.now();
  videos = await makeVideos(session.context);
  console.log(`test-web: test videos recorded in ${((Date.now() - recording) / 1000).toFixed(1)} s (faces.webm ${videos.faces.length} bytes, blank.webm ${videos.blank.length} bytes)`);

  await check('the shell renders', async () => {
    await page.goto(server.url, { waitUntil: 'load' });
    await page.waitForSelector('main.app #upload', { timeout: TIMEOUT_MS });
    expect((await page.title()).startsWith('mien'), `title is "${await page.title()}"`);
    expect((await page.textContent('h1')) === 'mien', 'the heading is not "mien"');
    const upload = await page.textContent('#upload');
    for (const words of ['Drop photos', 'choose', 'paste', 'on this device']) {
      expect(upload.includes(words), `the upload area does not say "${words}": ${upload}`);
    }
    expect(await page.isVisible('label[for="photo-input"]'), 'the upload label is not visible');
    const footer = await page.textContent('footer#privacy');
    expect(/never leave this device/.test(footer), `the footer does not promise privacy: ${footer}`);
    expect((await page.textContent('#status')).trim().length > 0, 'the status line is empty');
    expect((await page.getAttribute('#status', 'aria-live')) === 'polite', 'the status line is not announced');
  });

  await check('without WebGPU the app falls back to the CPU by itself, and says so', async () => {
    await engineReady(page, 'cpu');
    const status = await page.textContent('#engine-status');
    expect(status.includes('CPU') && status.includes('tract'), `engine line: ${status}`);
    expect(await page.isVisible('#engine-note'), 'no note on why the GPU is not used');
    const note = await page.textContent('#engine-note');
    expect(/GPU is not used/.test(note) && /WebGPU/.test(note) && /CPU/.test(note), `note: ${note}`);
    expect(await page.isChecked('#engine-cpu'), 'the CPU is not shown as chosen');
    expect(await page.isDisabled('#engine-gpu'), 'the unusable GPU can still be chosen');
    // No adapter is found before the GPU worker is fetched: its 1.9 MB stay on the server.
    const gpuFiles = session.requests.filter((r) => !r.byServiceWorker && r.url.includes('mien-gpu-worker')).map((r) => r.url);
    expect(gpuFiles.length === 0, `the GPU worker was fetched without a GPU: ${gpuFiles.join(', ')}`);
    // The normal fallback is information, not an alarm; and no doubled parenthesis.
    expect((await page.getAttribute('#engine-note', 'data-tone')) === 'info', 'the fallback note is not information');
    const [noteColour, errorColour] = await page.$eval('#engine-note', (note) => {
      const probe = document.createElement('span');
      probe.style.color = 'var(--error)';
      document.body.append(probe);
      const error = getComputedStyle(probe).color;
      probe.remove();
      return [getComputedStyle(note).color, error];
    });
    expect(noteColour !== errorColour, `the fallback note is in the error colour (${noteColour})`);
    expect(!status.includes('))'), `engine line: ${status}`);
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

  let cpuTwo;
  let analysisRequests;
  await check('a photo with two faces gives two readings, a one-face photo one', async () => {
    const from = session.requests.length;
    const [two] = await analyse(page, [{ name: 'two.png', mimeType: 'image/png', buffer: scenes.two }]);
    analysisRequests = session.requests.slice(from);
    expect(two.state === 'done' && two.engine === 'cpu', `two.png: ${two.state} on ${two.engine}: ${two.text}`);
    expect(two.faces.length === 2, `two.png: ${two.faces.length} faces: ${two.text}`);
    two.faces.forEach((f, i) => checkFace(f, `two.png face ${i + 1}`));
    expect(two.faces[0].box[0] < two.faces[1].box[0], 'faces are not numbered left to right');
    expect((await page.$$('article.photo svg.boxes rect')).length === 2, 'not two boxes on the picture');
    cpuTwo = two;
    noteTimings('cpu', two);

    const [one] = await analyse(page, [{ name: 'one.png', mimeType: 'image/png', buffer: scenes.one }]);
    expect(one.state === 'done' && one.faces.length === 1, `one.png: ${one.faces.length} faces: ${one.text}`);
    checkFace(one.faces[0], 'one.png');
    // 2400x1800 is analysed at 2048x1536: the box is in those pixels, around the face.
    const [x, y, w, h] = one.faces[0].box;
    const cx = (x + w / 2) * (2400 / 2048);
    const cy = (y + h / 2) * (2400 / 2048);
    expect(Math.abs(cx - 1320) < 200 && Math.abs(cy - 864) < 200, `one.png: face box ${one.faces[0].box}`);
    noteTimings('cpu', one);
    const status = await page.textContent('#status');
    expect(status.includes('one.png: 1 face found'), `status: ${status}`);
  });

  await check('no egress: analysing a photo asks nothing of any server, and sends no image', async () => {
    expect(Array.isArray(analysisRequests), 'the analysis above did not run, so there is nothing to check');
    // The recorder must see requests at all, else an empty record proves nothing.
    expect(session.requests.some((r) => r.url.startsWith(origin)), 'the request recorder saw none of the site\'s own files');
    for (const r of analysisRequests) {
      // The offline copy (public/sw.js, registered after the first result) may start
      // storing the site's files meanwhile: those are checked with all requests below.
      if (r.byServiceWorker) continue;
      expect(r.url.startsWith('blob:'), `while analysing, the page requested ${r.method} ${r.url}`);
    }
    for (const r of session.requests) {
      if (r.url.startsWith('blob:') || r.url.startsWith('data:') || r.url === 'about:blank') continue;
      const url = new URL(r.url);
      expect(url.origin === origin, `request to another origin: ${r.url}`);
      expect(r.method === 'GET' && !r.body?.length, `${r.method} ${r.url} with ${r.body?.length ?? 0} bytes`);
      expect(!url.search, `a request carries a query: ${r.url}`);
      if (siteFiles.size > 1) expect(siteFiles.has(url.pathname), `a request for something the site does not serve: ${r.url}`);
    }
    console.log(`       (${session.requests.length} requests in all: the site's own files; ${analysisRequests.length} while analysing, all blob: apart from the offline copy's)`);
  });

  await check('each bad input gets a clear sentence, and the next photo still works', async () => {
    for (const bad of badInputs()) {
      const [card] = await analyse(page, [bad]);
      expect(card.state === 'error', `${bad.name}: state ${card.state}: ${card.text}`);
      expect(card.text.includes(bad.words), `${bad.name}: "${card.text}" lacks "${bad.words}"`);
      const status = await page.textContent('#status');
      expect(status.startsWith(`${bad.name}: `) && status.includes(bad.words), `${bad.name}: status "${status}"`);
      expect((await page.getAttribute('#status', 'data-tone')) === 'error', `${bad.name}: status tone`);
    }
    const [good] = await analyse(page, [{ name: 'two-again.png', mimeType: 'image/png', buffer: scenes.two }]);
    expect(good.state === 'done' && good.faces.length === 2, `after the bad inputs: ${good.text}`);
  });

  await check('several photos make a batch, with a results table and a CSV download', async () => {
    const batch = await analyse(page, [
      { name: 'two.png', mimeType: 'image/png', buffer: scenes.two },
      { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('no photo') },
      { name: 'one.png', mimeType: 'image/png', buffer: scenes.one },
    ]);
    expect(batch.map((c) => c.state).join() === 'done,error,done', `states: ${batch.map((c) => c.state)}`);
    expect(await page.isVisible('#batch-table'), 'no results table');
    const rows = await page.$$eval('#batch-table tbody tr', (trs) => trs.map((tr) => [...tr.children].map((c) => c.textContent)));
    expect(rows.length === 4, `table rows: ${JSON.stringify(rows)}`);
    expect(rows[0][0] === 'two.png' && rows[0][1] === '1' && rows[1][1] === '2', `rows: ${JSON.stringify(rows)}`);
    expect(rows[0].length === 10 && rows[0].slice(3).every((c) => /^\d+\.\d%$/.test(c)), `row: ${rows[0]}`);
    expect(rows[2][0] === 'notes.txt' && rows[2][2].includes('not an image'), `error row: ${rows[2]}`);
    const status = await page.textContent('#status');
    expect(status.includes('3 photos analysed: 3 faces found; 1 could not be read'), `status: ${status}`);

    const csv = await downloadCsv(page);
    const lines = csv.trim().split('\r\n');
    expect(lines[0].startsWith('file,face,top_expression,unsure,angry_percent'), `CSV header: ${lines[0]}`);
    expect(lines.length === 5, `CSV lines: ${lines.length}`);
    const first = lines[1].split(',');
    const sum = first.slice(4).reduce((a, b) => a + Number(b), 0);
    expect(first[0] === 'two.png' && Math.abs(sum - 100) < 0.05, `CSV row: ${lines[1]}`);
    batchCsv = csv;
  });

  await check('mien-analyse (native) writes the same CSV rows for the same files', async () => {
    const native = nativeCsv([
      ['two.png', scenes.two],
      ['notes.txt', Buffer.from('no photo')],
      ['one.png', scenes.one],
    ]);
    const { rows, worst } = sameRows(batchCsv, native);
    console.log(`       (${rows} rows; percentages within ${worst.toFixed(3)})`);
  });

  await check('a small face gets a note; each face shows, on request, the gray input the model read', async () => {
    expect(cpuTwo.faces.every((f) => !f.small), 'the large faces of two.png are marked small');
    const [card] = await analyse(page, [{ name: 'small.png', mimeType: 'image/png', buffer: scenes.small }]);
    expect(card.state === 'done' && card.faces.length === 1, `small.png: ${card.state}: ${card.text}`);
    expect(card.faces[0].small, 'the 36 px face is not marked small');
    const note = await page.textContent('li.face .small-face');
    expect(/smaller than the model's 48 × 48 input/.test(note) && /less reliable/.test(note), `note: ${note}`);
    expect(!(await page.isVisible('li.face canvas.model-input-pixels')), 'the model input is shown before it is asked for');
    await page.click('li.face details.model-input summary');
    await page.waitForSelector('li.face canvas.model-input-pixels', { state: 'visible' });
    const pixels = await page.$eval('li.face canvas.model-input-pixels', (canvas) => {
      const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
      let gray = true;
      const values = [];
      for (let i = 0; i < data.length; i += 4) {
        gray &&= data[i] === data[i + 1] && data[i] === data[i + 2];
        values.push(data[i]);
      }
      const mean = values.reduce((a, b) => a + b, 0) / values.length;
      const spread = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
      return { width: canvas.width, height: canvas.height, gray, spread };
    });
    expect(pixels.width === 48 && pixels.height === 48, `model input ${pixels.width}x${pixels.height}`);
    expect(pixels.gray && pixels.spread > 10, `model input not a gray face: ${JSON.stringify(pixels)}`);
  });

  await check('"why this reading": greying the mouth of a happy face lowers happy, and the map is hottest there', async () => {
    const [card] = await analyse(page, [{ name: 'happy.png', mimeType: 'image/png', buffer: scenes.happy }]);
    expect(card.state === 'done' && card.faces.length === 1, `happy.png: ${card.state}: ${card.text}`);
    const face = card.faces[0];
    console.log(`       (happy.png reads ${face.top}: ${face.fractions.map((f) => f.toFixed(3))})`);
    expect(face.top === 'happy' && !face.unsure, `happy.png reads ${face.top}: ${face.fractions}`);
    const started = Date.now();
    await page.click('li.face .why-button');
    await page.waitForSelector('li.face .why:is([data-state="done"], [data-state="error"])', { timeout: TIMEOUT_MS });
    const why = await page.$eval('li.face .why', (el) => ({
      ...el.dataset,
      text: el.textContent,
      heat: [el.querySelector('canvas.why-heat')?.width, el.querySelector('canvas.why-heat')?.height],
    }));
    expect(why.state === 'done', `why: ${why.text}`);
    expect(why.label === 'happy' && /lowers happy/.test(why.text), `why: ${JSON.stringify(why)}`);
    expect(why.heat[0] === 48 && why.heat[1] === 48, `heatmap ${why.heat}`);
    // Crops are framed like FER2013's faces: the mouth is about x 12..36, y 30..42 (tests/occlusion.rs).
    const [x, y, side] = why.hottest.split(',').map(Number);
    const [cx, cy] = [x + side / 2, y + side / 2];
    expect(cx >= 12 && cx < 36 && cy >= 30 && cy < 42, `the map is hottest at (${x}, ${y}), away from the mouth`);
    expect(Number(why.drop) > 0.05, `greying there lowered happy by only ${why.drop}`);
    console.log(`       (50 runs in ${Date.now() - started} ms on the CPU; hottest patch (${x}, ${y}) lowers happy by ${(Number(why.drop) * 100).toFixed(0)} points)`);
  });

  await check('a picture without a face says so, and can be read whole (drop, FER-style crop)', async () => {
    // A gradient, dropped on the upload area.
    const drop = await page.evaluateHandle((bytes) => {
      const data = new DataTransfer();
      data.items.add(new File([Uint8Array.from(bytes)], 'gradient.png', { type: 'image/png' }));
      return data;
    }, Array.from(png(64, 40)));
    await page.dispatchEvent('#upload', 'drop', { dataTransfer: drop });
    let [card] = await settled(page, 1);
    expect(card.state === 'no-face' && card.text.includes('No face found'), `gradient: ${card.state}: ${card.text}`);
    await page.click('article.photo button.whole');
    [card] = await settled(page, 1);
    expect(card.state === 'done' && card.faces.length === 1, `read whole: ${card.text}`);
    checkFace(card.faces[0], 'gradient read whole');

    // A FER2013 face as in the dataset (48x48): found, or read whole on request.
    [card] = await analyse(page, [{ name: 'fer.jpg', mimeType: 'image/jpeg', buffer: scenes.fer }]);
    if (card.state === 'no-face') {
      await page.click('article.photo button.whole');
      [card] = await settled(page, 1);
    }
    expect(card.state === 'done' && card.faces.length === 1, `fer.jpg: ${card.state}: ${card.text}`);
    checkFace(card.faces[0], 'fer.jpg');
  });

  await check('"About this model" shows the model file\'s own description (keyboard)', async () => {
    await page.focus('#tab-about');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#model-facts', { state: 'visible' });
    const fact = (name) => page.textContent(`#model-facts [data-fact="${name}"]`);
    const labels = await fact('labels');
    for (const label of ['angry', 'disgust', 'fear', 'happy', 'neutral', 'sad', 'surprise']) {
      expect(labels.includes(label), `labels: ${labels}`);
    }
    expect((await fact('name')).trim().length > 0, 'no model name');
    expect(/\d+ × \d+ pixels/.test(await fact('input')), `input: ${await fact('input')}`);
    expect(/face/.test(await fact('views')), `views: ${await fact('views')}`);
    const about = await page.textContent('#view-about');
    for (const words of ['not a feeling', 'not a lie detector', 'FER2013 has known biases', 'ExpW', 'research-use']) {
      expect(about.includes(words), `the about view does not say "${words}"`);
    }
    expect(!(await page.isVisible('#view-photos')), 'the photos view is still shown');
  });

  await check('webcam mode runs on the (fake) camera with a frames-per-second readout', async () => {
    await page.click('#tab-webcam');
    expect(await page.isChecked('#webcam-smooth'), 'smoothing over time is not on by default');
    await page.click('#webcam-start');
    await page.waitForFunction(() => Number(document.querySelector('#webcam-fps')?.dataset.fps) > 0, null, {
      timeout: TIMEOUT_MS,
    });
    // Let it run a few frames.
    await page.waitForTimeout(1500);
    const fps = await page.textContent('#webcam-fps');
    expect(/^\d+(\.\d)? frames per second$/.test(fps), `fps readout: ${fps}`);
    expect(await page.isHidden('#webcam-problem'), `problem: ${await page.textContent('#webcam-problem')}`);
    console.log(`       (${fps} on the CPU, 640x480 fake camera, no face in view)`);
    await page.click('#webcam-stop');
    await page.waitForFunction(() => document.querySelector('#webcam-fps')?.textContent === 'Camera off.');
  });

  /** The video view's result: its state, frames and every followed face. */
  const videoResult = () =>
    page.$eval('#video-result', (r) => ({
      ...r.dataset,
      status: document.querySelector('#video-status').textContent,
      faces: [...r.querySelectorAll('.video-face')].map((f) => ({
        face: Number(f.dataset.face),
        samples: Number(f.dataset.samples),
        tops: f.dataset.tops ? f.dataset.tops.split(',').map((s) => ({ t: Number(s.split(':')[0]), top: s.split(':')[1] })) : [],
        lines: [...new Set([...f.querySelectorAll('svg.timeline polyline')].map((p) => p.dataset.label))],
        xTicks: [...f.querySelectorAll('svg.timeline text.x-tick')].map((t) => t.textContent),
        yTicks: [...f.querySelectorAll('svg.timeline text.y-tick')].map((t) => t.textContent),
        legend: [...f.querySelectorAll('.legend li')].map((l) => l.dataset.label),
        summary: Object.fromEntries([...f.querySelectorAll('.video-summary li')].map((l) => [l.dataset.label, Number(l.dataset.share)])),
      })),
    }));
  const videoSettled = () =>
    page.waitForFunction(() => ['done', 'no-face', 'error', 'cancelled'].includes(document.querySelector('#video-result')?.dataset.state), null, {
      timeout: TIMEOUT_MS,
    });

  await check('a video (WebM recorded without a duration) is read frame by frame: faces followed, timelines follow the known change, CSV', async () => {
    const rate = 4;
    const interval = 1 / rate;
    const from = session.requests.length;
    const started = Date.now();
    // Given to the upload area like photos: it goes to the video view.
    await page.click('#tab-photos');
    await page.setInputFiles('#photo-input', { name: 'faces.webm', mimeType: 'video/webm', buffer: videos.faces });
    await page.waitForSelector('#view-video', { state: 'visible' });
    // While it reads: a progress bar with the time left, and the charts grow. All read
    // in one go, so that the state and what the page shows are of the same moment. An
    // engine that reads the whole video before this looks ('done') has nothing in
    // progress to show: its complete result is checked below like any other.
    await page.waitForFunction(() => Number(document.querySelector('#video-result')?.dataset.framesRead) >= 2 || document.querySelector('#video-result')?.dataset.state !== 'reading' && document.querySelector('#video-result')?.dataset.state !== 'opening', null, { timeout: TIMEOUT_MS });
    const during = await page.evaluate(() => {
      const result = document.querySelector('#video-result');
      const progress = document.querySelector('#video-progress');
      const box = progress.getBoundingClientRect();
      return {
        state: result.dataset.state,
        status: document.querySelector('#video-status').textContent,
        framesRead: Number(result.dataset.framesRead),
        framesTotal: Number(result.dataset.framesTotal),
        faces: result.querySelectorAll('.video-face').length,
        progressText: document.querySelector('#video-progress-text').textContent,
        progressShown: getComputedStyle(progress).visibility !== 'hidden' && box.width > 0 && box.height > 0,
        cancellable: !document.querySelector('#video-cancel').disabled,
      };
    });
    if (during.state === 'done') {
      console.log(`       (read to the end before the progress was looked at: ${during.framesRead} of ${during.framesTotal} frames)`);
    } else {
      expect(during.state === 'reading', `while reading: ${during.state}: ${during.status}`);
      expect(/^\d+ of \d+ frames read · about .+ left$/.test(during.progressText), `progress: "${during.progressText}"`);
      expect(during.progressShown, 'no progress bar while reading');
      expect(during.faces >= 1 && during.framesRead < during.framesTotal, `no chart while reading: ${JSON.stringify(during).slice(0, 300)}`);
      expect(during.cancellable, 'cannot cancel while reading');
    }
    await videoSettled();
    const seconds = (Date.now() - started) / 1000;
    const result = await videoResult();
    expect(result.state === 'done', `state ${result.state}: ${result.status}`);
    const duration = Number(result.duration);
    expect(Math.abs(duration - videos.seconds) < 0.3, `duration ${duration} s, recorded ${videos.seconds} s`);
    const frames = Number(result.framesRead);
    expect(frames === Number(result.framesTotal) && frames === Math.ceil(duration * rate), `frames ${frames} of ${result.framesTotal}`);
    expect(result.faces.map((f) => f.face).join() === '1,2', `faces followed: ${result.faces.map((f) => f.face)} (${result.status})`);
    expect(/2 faces followed/.test(result.status), `status: ${result.status}`);
    for (const f of result.faces) {
      expect(f.samples >= frames - 1, `face ${f.face} seen in ${f.samples} of ${frames} frames`);
      expect([...f.lines].sort().join() === [...BUILTIN_LABELS].sort().join(), `face ${f.face}: lines for ${f.lines}`);
      expect(f.legend.join() === BUILTIN_LABELS.join(), `face ${f.face}: legend ${f.legend}`);
      expect(['0 s', '1 s', '2 s', '3 s'].every((t) => f.xTicks.includes(t)), `face ${f.face}: time ticks ${f.xTicks}`);
      expect(f.yTicks.join() === '0%,25%,50%,75%,100%', `face ${f.face}: percent ticks ${f.yTicks}`);
    }
    // Face 1 (left): happy, then surprised from `changeAt`, within one frame interval.
    const [left, right] = result.faces;
    const wrong = left.tops.filter(({ t, top }) => (t < videos.changeAt - interval && top !== 'happy') || (t > videos.changeAt + interval && top !== 'surprise'));
    expect(wrong.length === 0, `face 1 top expressions: ${left.tops.map(({ t, top }) => `${t}:${top}`)}`);
    expect(Math.abs(left.summary.happy - 0.5) <= 0.15 && Math.abs(left.summary.surprise - 0.5) <= 0.15, `face 1 summary: ${JSON.stringify(left.summary)}`);
    // Face 2 (right): neutral throughout.
    expect(right.summary.neutral >= 0.9, `face 2 summary: ${JSON.stringify(right.summary)}; ${right.tops.map(({ t, top }) => `${t}:${top}`)}`);
    console.log(`       (${frames} frames of ${duration.toFixed(2)} s at ${rate}/s, 2 faces each, in ${seconds.toFixed(1)} s: ${((seconds * 1000) / frames).toFixed(0)} ms per frame on the CPU; face 1: ${left.tops.map(({ top }) => top[0]).join('')})`);

    // The CSV: time_s, face, the seven percentages; one row per face per frame.
    const csv = await downloadCsv(page, '#video-csv');
    const lines = csv.trim().split('\r\n');
    expect(lines[0] === `time_s,face,${BUILTIN_LABELS.map((l) => `${l}_percent`).join(',')}`, `CSV header: ${lines[0]}`);
    expect(lines.length === 1 + left.samples + right.samples, `CSV rows: ${lines.length - 1}`);
    for (const line of lines.slice(1)) {
      const fields = line.split(',');
      const sum = fields.slice(2).reduce((a, b) => a + Number(b), 0);
      expect(fields.length === 9 && ['1', '2'].includes(fields[1]) && Math.abs(sum - 100) < 0.05, `CSV row: ${line}`);
      expect(Math.abs(Number(fields[0]) * rate - Math.round(Number(fields[0]) * rate)) < 1e-6, `CSV time: ${line}`);
    }
    const happyRows = lines.slice(1).map((l) => l.split(',')).filter((f) => f[1] === '1' && Number(f[0]) < videos.changeAt - interval);
    expect(happyRows.every((f) => Number(f[5]) > 50), `face 1's happy column: ${happyRows.map((f) => f[5])}`);
    // Nothing asked of any server while reading: the video came through a blob: URL.
    for (const r of session.requests.slice(from)) {
      if (r.byServiceWorker) continue;
      expect(r.url.startsWith('blob:'), `while reading the video, the page requested ${r.method} ${r.url}`);
    }
  });

  await check('cancelling a video mid-way keeps what was read and says so', async () => {
    await page.selectOption('#video-rate', '10');
    await page.setInputFiles('#video-input', { name: 'faces.webm', mimeType: 'video/webm', buffer: videos.faces });
    await page.waitForFunction(() => Number(document.querySelector('#video-result')?.dataset.framesRead) >= 3, null, { timeout: TIMEOUT_MS });
    await page.click('#video-cancel');
    await videoSettled();
    const cancelled = await videoResult();
    expect(cancelled.state === 'cancelled', `state ${cancelled.state}: ${cancelled.status}`);
    expect(/^Cancelled after \d+ of \d+ frames .*kept/.test(cancelled.status), `status: ${cancelled.status}`);
    const read = Number(cancelled.framesRead);
    expect(read >= 3 && read < Number(cancelled.framesTotal) && Number(cancelled.framesTotal) >= 38, `frames ${read} of ${cancelled.framesTotal}`);
    expect(cancelled.faces.length >= 1, 'what was read is gone');
    await page.waitForTimeout(1000);
    expect(Number((await videoResult()).framesRead) === read, 'frames were still read after the cancel');
    expect(!(await page.isDisabled('#video-csv')) && (await page.isDisabled('#video-cancel')), 'CSV or cancel button in the wrong state');
    await page.selectOption('#video-rate', '4');
  });

  await check('a file that is not a video, named .mp4, gets a sentence naming the formats; a video without a face says so', async () => {
    await page.click('#tab-photos');
    await page.setInputFiles('#photo-input', { name: 'notes.mp4', mimeType: 'video/mp4', buffer: Buffer.from('this is not a video\n'.repeat(50)) });
    await videoSettled();
    const bad = await videoResult();
    expect(bad.state === 'error' && bad.faces.length === 0, `notes.mp4: ${bad.state}: ${bad.status}`);
    expect(bad.status.startsWith('notes.mp4: ') && /cannot play/.test(bad.status) && /MP4/.test(bad.status) && /WebM/.test(bad.status), `notes.mp4: "${bad.status}"`);
    expect((await page.getAttribute('#video-status', 'data-tone')) === 'error', 'not shown as an error');
    console.log(`       ("${bad.status}")`);
    await page.setInputFiles('#video-input', { name: 'blank.webm', mimeType: 'video/webm', buffer: videos.blank });
    await videoSettled();
    const blank = await videoResult();
    expect(blank.state === 'no-face' && /^No face was found in the \d+ frames/.test(blank.status), `blank.webm: ${blank.state}: ${blank.status}`);
    expect(await page.isDisabled('#video-csv'), 'a CSV is offered without a reading');
  });

  await check('"Use another model": a file that is not a mien model gets a sentence, the model in use goes on', async () => {
    await page.click('#tab-about');
    await page.waitForSelector('#own-model', { state: 'visible' });
    expect((await page.getAttribute('#own-model', 'data-state')) === 'built-in', 'the built-in model is not shown as in use');
    expect(await page.isHidden('#model-builtin'), '"Back to the built-in model" is offered while it is in use');
    const labels = await page.textContent('#model-facts [data-fact="labels"]');
    for (const [name, buffer, words] of [
      ['notes.onnx', Buffer.from('name,value\n1,2\n'), 'This file is not an ONNX model'],
      ['plain.onnx', Buffer.from(tinyOnnx()), 'This ONNX file is not a mien expression model'],
    ]) {
      await page.setInputFiles('#model-input', { name, mimeType: 'application/octet-stream', buffer });
      await page.waitForFunction(
        (n) => document.querySelector('#own-model')?.dataset.state === 'refused' && document.querySelector('#model-problem').textContent.startsWith(`${n}: `),
        name,
        { timeout: TIMEOUT_MS },
      );
      const problem = await page.textContent('#model-problem');
      expect(problem.includes(words) && problem.includes('mien-train export'), `${name}: "${problem}"`);
      expect(await page.isVisible('#model-problem'), `${name}: the sentence is not shown`);
      expect((await page.textContent('#model-facts [data-fact="labels"]')) === labels, `${name}: the model in use changed`);
      console.log(`       ("${problem}")`);
    }
    const [card] = await analyse(page, [{ name: 'one.png', mimeType: 'image/png', buffer: scenes.one }]);
    expect(card.state === 'done' && card.faces.length === 1, `after the refused files: ${card.state}: ${card.text}`);
    checkFace(card.faces[0], 'one.png after the refused files');
  });

  await check('"Use another model": an 8-label 40x40 model is self-tested and used for photos, table and CSV; then back to the built-in one', async () => {
    const tiny = tinyModel(scratch);
    const from = session.requests.length;
    await page.click('#tab-about');
    await page.setInputFiles('#model-input', { name: 'tiny-ferplus.onnx', mimeType: 'application/octet-stream', buffer: tiny.bytes });
    await page.waitForFunction(() => ['chosen', 'refused'].includes(document.querySelector('#own-model')?.dataset.state), null, {
      timeout: TIMEOUT_MS,
    });
    expect((await page.getAttribute('#own-model', 'data-state')) === 'chosen', `refused: ${await page.textContent('#model-problem')}`);
    await engineReady(page, 'cpu');
    const status = await page.textContent('#engine-status');
    expect(status.includes('Self-test passed'), `engine line: ${status}`);
    const fact = (name) => page.textContent(`#model-facts [data-fact="${name}"]`);
    expect((await fact('labels')) === FERPLUS_LABELS.join(', '), `labels: ${await fact('labels')}`);
    expect((await fact('input')).startsWith('40 × 40 pixels'), `input: ${await fact('input')}`);
    expect((await fact('name')) === 'tiny-test', `name: ${await fact('name')}`);
    const inUse = await page.textContent('#model-in-use');
    expect(inUse.includes('tiny-ferplus.onnx') && inUse.includes('8 expressions'), `in use: ${inUse}`);
    expect(await page.isVisible('#model-builtin'), 'no way back to the built-in model');
    expect((await page.textContent('.tagline')).includes('Eight of them'), `tagline: ${await page.textContent('.tagline')}`);
    const upload = await page.textContent('#upload');
    expect(upload.includes('eight expressions') && upload.includes('contempt'), `upload: ${upload}`);
    // Loading it asked the server for nothing but the site's own files (a new worker).
    for (const r of session.requests.slice(from)) {
      if (r.url.startsWith('blob:')) continue;
      expect(new URL(r.url).origin === origin && r.method === 'GET' && !r.body?.length, `${r.method} ${r.url} while loading the model`);
    }

    // Photos: 8 bars with its label names, its input size; the table and the CSV follow.
    const files = [
      ['two.png', scenes.two],
      ['one.png', scenes.one],
    ];
    const batch = await analyse(page, files.map(([name, buffer]) => ({ name, mimeType: 'image/png', buffer })));
    expect(batch.map((c) => c.state).join() === 'done,done', `states: ${batch.map((c) => `${c.state}: ${c.text}`)}`);
    expect(batch[0].faces.length === 2 && batch[1].faces.length === 1, `faces: ${batch.map((c) => c.faces.length)}`);
    batch.flatMap((c) => c.faces).forEach((f, i) => checkFace(f, `tiny model, face ${i + 1}`, FERPLUS_LABELS));
    await page.click('li.face details.model-input summary');
    const seen = await page.$eval('li.face canvas.model-input-pixels', (c) => [c.width, c.height]);
    expect(seen.join() === '40,40', `the model saw ${seen}`);
    const head = await page.$$eval('#batch-table thead th', (ths) => ths.map((th) => th.textContent));
    expect(head.slice(3).join() === FERPLUS_LABELS.join(), `table head: ${head}`);
    const csv = await downloadCsv(page);
    const header = csv.split('\r\n')[0];
    expect(header === `file,face,top_expression,unsure,${FERPLUS_LABELS.map((l) => `${l}_percent`).join(',')}`, `CSV header: ${header}`);
    const lines = csv.trim().split('\r\n');
    expect(lines.length === 4 && lines.slice(1).every((l) => csvFields(l).length === 12), `CSV: ${lines}`);
    const { rows, worst } = sameRows(csv, nativeCsv(files, tiny.path));
    console.log(`       (${rows} rows, 8 percentages each, as mien-analyse --model gives them within ${worst.toFixed(3)})`);

    // Back to the built-in model: the results of the other one go, the seven come back.
    await page.click('#tab-about');
    await page.click('#model-builtin');
    await page.waitForSelector('#own-model[data-state="built-in"]', { timeout: TIMEOUT_MS });
    await engineReady(page, 'cpu');
    expect((await fact('labels')) === BUILTIN_LABELS.join(', '), `labels: ${await fact('labels')}`);
    expect((await page.$$('article.photo')).length === 0, "the other model's results are still shown");
    const [card] = await analyse(page, [{ name: 'one.png', mimeType: 'image/png', buffer: scenes.one }]);
    expect(card.state === 'done' && card.faces.length === 1, `built-in again: ${card.state}: ${card.text}`);
    checkFace(card.faces[0], 'one.png, built-in model again');
  });

  // The service worker is registered after the first result (public/boot.js): by now.
  await check('a service worker stores the app, its workers and models for offline use', async () => {
    const stored = await page.evaluate(async () => {
      await navigator.serviceWorker.ready;
      const names = await caches.keys();
      const cache = await caches.open(names[0]);
      return { names, paths: (await cache.keys()).map((r) => new URL(r.url).pathname) };
    });
    expect(stored.names.length === 1, `caches: ${stored.names}`);
    for (const path of ['/', '/cpu-worker_bg.wasm', '/mien-gpu-worker_bg.wasm', '/models/mien.onnx', '/manifest.webmanifest']) {
      expect(stored.paths.includes(path), `${path} is not stored: ${stored.paths}`);
    }
    expect(stored.paths.some((p) => /^\/mien-[0-9a-f]+_bg\.wasm$/.test(p)), `the app's wasm is not stored: ${stored.paths}`);
    expect((await page.getAttribute('link[rel="manifest"]', 'href')) === 'manifest.webmanifest', 'no web app manifest');
  });

  await check('after the first visit it works with the network off: a photo is analysed', async () => {
    // Cut the network both ways: the browser is offline and the server drops every connection.
    session.network.offline = true;
    server.refuse?.(true);
    await session.context.setOffline(true);
    try {
      await page.reload({ waitUntil: 'load' });
      await engineReady(page, 'cpu');
      const [card] = await analyse(page, [{ name: 'one.png', mimeType: 'image/png', buffer: scenes.one }]);
      expect(card.state === 'done' && card.faces.length === 1, `offline: ${card.state}: ${card.text}`);
      checkFace(card.faces[0], 'offline one.png');
      await page.click('#tab-about');
      const about = await page.textContent('#view-about');
      expect(/works offline/.test(about), 'the about view does not say it works offline');
    } finally {
      await session.context.setOffline(false);
      server.refuse?.(false);
      session.network.offline = false;
    }
    console.log(`       (${session.network.failedOffline} network tries failed while offline, each answered from the cache)`);
  });

  // The console errors a deliberate panic leaves: expected, so not a problem.
  const forgetPanics = () => {
    for (const p of session.problems) if (/panic_for_test|panicForTest|crashed|unreachable/.test(p)) session.problems.delete(p);
  };

  await check('a CPU worker that crashes mid-request is replaced at once, and the photo is read', async () => {
    const cpuWorkers = () => page.workers().filter((w) => w.url().endsWith('cpu-worker-loader.js'));
    const before = cpuWorkers();
    expect(before.length >= 1, `CPU workers: ${page.workers().map((w) => w.url())}`);
    // The app's worker panics on its next `run` request, as a bug in it would.
    await before[before.length - 1].evaluate(() => {
      const handle = self.onmessage;
      self.onmessage = (event) => (event.data?.kind === 'run' ? wasm_bindgen.panic_for_test(event.data.id) : handle(event));
    });
    const started = Date.now();
    const [card] = await analyse(page, [{ name: 'after-crash.png', mimeType: 'image/png', buffer: scenes.two }]);
    const seconds = (Date.now() - started) / 1000;
    forgetPanics();
    expect(card.state === 'done' && card.faces.length === 2, `after the crash: ${card.state}: ${card.text}`);
    expect(cpuWorkers().length >= 1 && !before.includes(cpuWorkers().at(-1)), 'no new CPU worker was started');
    console.log(`       (read on a new worker in ${seconds.toFixed(1)} s; the old one was dropped at once)`);
    const [next] = await analyse(page, [{ name: 'next.png', mimeType: 'image/png', buffer: scenes.one }]);
    expect(next.state === 'done' && next.faces.length === 1, `the photo after: ${next.state}: ${next.text}`);
  });

  await check('a panic in the page shows a sentence and a reload button that works', async () => {
    await page.evaluate(async () => {
      const app = await import(document.querySelector('script[data-mien-js]').dataset.mienJs);
      try {
        app.panicForTest();
      } catch {
        // WebAssembly aborts after the panic hook: expected.
      }
    });
    await page.waitForSelector('#crash', { state: 'visible', timeout: TIMEOUT_MS });
    const text = await page.textContent('#crash');
    forgetPanics();
    expect(/stopped because of an internal error/.test(text) && /Reload the page/.test(text), `crash panel: ${text}`);
    expect((await page.getAttribute('#crash', 'role')) === 'alert', 'the crash panel is not announced');
    await Promise.all([page.waitForEvent('load'), page.click('#crash-reload')]);
    await page.waitForSelector('main.app #upload', { timeout: TIMEOUT_MS });
    expect(!(await page.$('#crash')), 'the crash panel survived the reload');
    await engineReady(page, 'cpu');
  });

  for (const warning of session.warnings) console.log(`  note ${warning}`);
  if (session.problems.size) throw new Error(`the page reported problems:\n    ${[...session.problems].join('\n    ')}`);
  await session.close();
  session = null;

  // ---- Session 2: WebGPU (SwiftShader), no camera ----
  if (process.env.MIEN_SKIP_GPU) {
    console.log('test-web: WebGPU session skipped (MIEN_SKIP_GPU)');
  } else {
    console.log('test-web: session with WebGPU (SwiftShader)');
    session = await openSession({ browser: BROWSER, origin, flags: ['--enable-unsafe-webgpu'] });
    page = session.page;

    await check('with WebGPU, the GPU engine passes its self-test and runs the models', async () => {
      await page.goto(server.url, { waitUntil: 'load' });
      await engineReady(page, 'webgpu', GPU_TIMEOUT_MS);
      const status = await page.textContent('#engine-status');
      expect(status.includes('GPU') && status.includes('Self-test passed'), `engine line: ${status}`);
      const selfTest = Number(/reference to ([0-9.e+-]+)\./.exec(status)?.[1]);
      expect(selfTest <= SAME_LOGITS, `the GPU's self-test logits differ from the reference by ${selfTest} (${status})`);
      console.log(`       (self-test logits within ${selfTest.toExponential(1)} of the reference)`);
      expect(await page.isHidden('#engine-note'), `note: ${await page.textContent('#engine-note')}`);
      expect(await page.isChecked('#engine-gpu'), 'the GPU is not shown as chosen');
    });

    await check(`the GPU and the CPU give the same boxes (within ${SAME_BOX_PX} px) and fractions (within ${SAME_FRACTIONS}) for the same faces`, async () => {
      const [gpu] = await analyse(page, [{ name: 'two.png', mimeType: 'image/png', buffer: scenes.two }], GPU_TIMEOUT_MS);
      expect(gpu.state === 'done' && gpu.engine === 'webgpu', `GPU: ${gpu.state} on ${gpu.engine}: ${gpu.text}`);
      noteTimings('webgpu', gpu);
      // Switch with the keyboard: the radio button, then Space.
      await page.focus('#engine-cpu');
      await page.keyboard.press('Space');
      await engineReady(page, 'cpu');
      const [cpu] = await analyse(page, [{ name: 'two.png', mimeType: 'image/png', buffer: scenes.two }]);
      expect(cpu.engine === 'cpu', `CPU run on ${cpu.engine}`);
      for (const card of [gpu, cpu, cpuTwo]) expect(card.faces.length === 2, `${card.engine}: ${card.faces.length} faces`);
      let worst = 0;
      let worstBox = 0;
      gpu.faces.forEach((g, i) => {
        const c = cpu.faces[i];
        checkFace(g, `GPU face ${i + 1}`);
        g.fractions.forEach((f, k) => (worst = Math.max(worst, Math.abs(f - c.fractions[k]))));
        g.box.forEach((v, k) => (worstBox = Math.max(worstBox, Math.abs(v - c.box[k]))));
        // The CPU gives the same numbers in every session.
        c.fractions.forEach((f, k) => expect(f === cpuTwo.faces[i].fractions[k], 'CPU fractions differ between runs'));
      });
      console.log(`       (largest fraction difference ${worst.toExponential(2)}, largest box difference ${worstBox.toFixed(4)} px)`);
      expect(worstBox <= SAME_BOX_PX, `GPU and CPU boxes differ by ${worstBox} px`);
      expect(worst <= SAME_FRACTIONS, `GPU and CPU fractions differ by ${worst}`);
    });

    await check('webcam mode without a camera says so clearly', async () => {
      await page.click('#tab-webcam');
      await page.click('#webcam-start');
      await page.waitForSelector('#webcam-problem:not([hidden])', { timeout: TIMEOUT_MS });
      const problem = await page.textContent('#webcam-problem');
      expect(/camera/i.test(problem) && problem.endsWith('.'), `problem: ${problem}`);
      expect((await page.textContent('#webcam-fps')) === 'Camera off.', 'the camera is not shown as off');
      console.log(`       ("${problem}")`);
    });

    for (const warning of session.warnings) console.log(`  note ${warning}`);
    if (session.problems.size) throw new Error(`the page reported problems:\n    ${[...session.problems].join('\n    ')}`);
  }

  if (timings.length) {
    console.log('test-web: milliseconds per face (detection for the photo: wall/model; classification: wall/model)');
    for (const t of timings) {
      console.log(
        `       ${t.engine.padEnd(6)} ${t.file.padEnd(8)} detect ${t.detect.toFixed(0)}/${t.detectModel.toFixed(0)}  classify ${t.classify.toFixed(0)}/${t.classifyModel.toFixed(0)}`,
      );
    }
  }
  console.log(`test-web: all ${passed} checks passed`);
} catch (error) {
  const extra = session?.problems.size ? `\n  also seen:\n    ${[...session.problems].join('\n    ')}` : '';
  console.error(`test-web: FAIL: ${error.message}${extra}`);
  process.exitCode = 1;
} finally {
  await session?.close();
  await server.close();
  rmSync(scratch, { recursive: true, force: true });
}
