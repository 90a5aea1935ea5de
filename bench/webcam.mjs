// `make bench-webcam`: the live view's speed. Chromium's fake camera plays a one-frame
// video of FER2013 faces composed at run time (`bench-assets video`, written to a
// temporary folder and deleted after); the app's webcam view reads it as fast as the
// engine allows (one frame in flight, the newest frame each time). Per engine (CPU
// without WebGPU; WebGPU, which is SwiftShader on a machine without a GPU) and per
// number of faces in view, it reports:
//   - analysed frames per second (the app's own readout, #webcam-fps, sampled every
//     half second after a warm-up; median of the samples),
//   - the faces the view marks (to show the faces were found),
//   - the page's own frames per second (requestAnimationFrame) and its long tasks
//     (> 50 ms, PerformanceObserver) over the same window: whether the page stays
//     responsive while the models run in their worker.
//
// Env: BENCH_QUICK=1 (short windows: checks that it starts and finishes),
// BENCH_SECONDS (measured window, default 20), BENCH_FACES (comma list, default 1,3;
// quick: 3),
// BENCH_WEBCAM_ENGINES (cpu,webgpu), BENCH_ASSETS, BENCH_OUT, CHROMIUM, BENCH_VERBOSE=1.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import { QUICK, serve, launch, watch, machine, loadText, stats, table, fmt, writeJson } from './lib.mjs';

const ROOT = resolve(new URL('..', import.meta.url).pathname);
const DIST = resolve(ROOT, process.env.BENCH_DIST ?? 'dist');
const ASSETS = resolve(ROOT, process.env.BENCH_ASSETS ?? 'target/bench/bench-assets');
const OUT = resolve(ROOT, process.env.BENCH_OUT ?? `results/bench-webcam${QUICK ? '-quick' : ''}.json`);
const SECONDS = Number(process.env.BENCH_SECONDS ?? (QUICK ? 3 : 20));
const WARMUP_S = QUICK ? 1 : 5;
const FACES = (process.env.BENCH_FACES ?? (QUICK ? '3' : '1,3')).split(',').map(Number);
const ENGINES = (process.env.BENCH_WEBCAM_ENGINES ?? 'cpu,webgpu').split(',');
const START_TIMEOUT_MS = (QUICK ? 300 : 600) * 1000;

function fail(message) {
  console.error(`bench-webcam: FAIL: ${message}`);
  process.exit(1);
}
if (!existsSync(resolve(DIST, 'index.html'))) fail(`${DIST}/index.html is missing; run \`make build\``);
if (!existsSync(ASSETS)) fail(`${ASSETS} is missing; run \`make bench-assets\``);

/** Runs in the page before its own scripts: counts animation frames and long tasks. */
function pageMeter() {
  const meter = { frames: 0, long_tasks: 0, long_ms: 0 };
  window.__benchMeter = meter;
  const tick = () => {
    meter.frames++;
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
  try {
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        meter.long_tasks++;
        meter.long_ms += entry.duration;
      }
    }).observe({ type: 'longtask', buffered: false });
  } catch {
    meter.long_tasks = null;
  }
}

async function live(server, video, engine, faces) {
  const browser = await launch(chromium, {
    webgpu: engine === 'webgpu',
    args: [
      '--use-fake-ui-for-media-stream',
      '--use-fake-device-for-media-stream',
      `--use-file-for-fake-video-capture=${video}`,
    ],
  });
  const problems = [];
  try {
    await browser.context.addInitScript(pageMeter);
    const page = browser.context.pages()[0] ?? (await browser.context.newPage());
    watch(page, server, problems, `${engine}, ${faces} faces`);
    await page.goto(server.url);
    await page.waitForSelector('#engine[data-state="ready"]', { timeout: START_TIMEOUT_MS });
    const running = await page.getAttribute('#engine', 'data-engine');
    await page.click('#tab-webcam');
    await page.click('#webcam-start');
    await page.waitForFunction(() => Number(document.querySelector('#webcam-fps')?.dataset.fps) > 0, null, {
      timeout: START_TIMEOUT_MS,
    });
    await page.waitForTimeout(WARMUP_S * 1000);
    const start = await page.evaluate(() => ({ ...window.__benchMeter, at: performance.now() }));
    const samples = [];
    const marked = [];
    const end = Date.now() + SECONDS * 1000;
    while (Date.now() < end) {
      await page.waitForTimeout(500);
      const s = await page.evaluate(() => ({
        fps: Number(document.querySelector('#webcam-fps')?.dataset.fps),
        faces: document.querySelectorAll('svg.boxes g.face-box').length,
      }));
      if (Number.isFinite(s.fps)) samples.push(s.fps);
      marked.push(s.faces);
    }
    const stop = await page.evaluate(() => ({ ...window.__benchMeter, at: performance.now() }));
    const seconds = (stop.at - start.at) / 1000;
    const problem = await page.evaluate(() => {
      const p = document.querySelector('#webcam-problem');
      return p && !p.hidden ? p.textContent : null;
    });
    await page.click('#webcam-stop');
    return {
      engine: running,
      faces,
      analysed_fps: stats(samples),
      faces_marked: stats(marked),
      page_fps: (stop.frames - start.frames) / seconds,
      long_tasks: stop.long_tasks == null ? null : stop.long_tasks - start.long_tasks,
      long_task_ms: stop.long_tasks == null ? null : stop.long_ms - start.long_ms,
      seconds,
      problem,
      problems,
    };
  } finally {
    await browser.close();
  }
}

const scratch = mkdtempSync(join(tmpdir(), 'mien-webcam-'));
const server = await serve({ '/': DIST });
const before = machine();
console.log(`bench-webcam: ${QUICK ? 'QUICK (smoke) run, numbers mean nothing; ' : ''}${loadText(before)}`);
const results = [];
try {
  for (const faces of FACES) {
    const video = join(scratch, `faces-${faces}.y4m`);
    execFileSync(ASSETS, ['video', '--faces', String(faces), video]);
    for (const engine of ENGINES) {
      let result;
      try {
        result = await live(server, video, engine, faces);
      } catch (error) {
        result = { engine, faces, error: String(error).split('\n')[0] };
      }
      results.push({ requested: engine, ...result });
      console.log(
        `  ${engine}, ${faces} face(s): ` +
          (result.error
            ? `ERROR ${result.error}`
            : `${fmt(result.analysed_fps.median, 2)} frames/s analysed, ${fmt(result.faces_marked.median, 0)} faces marked, ` +
              `page ${fmt(result.page_fps, 0)} fps, ${result.long_tasks ?? '-'} long tasks`),
      );
    }
  }
} finally {
  await server.close();
  rmSync(scratch, { recursive: true, force: true });
}
const after = machine();

console.log('');
console.log(`Live view on Chromium's fake camera (640x480, a still frame of FER2013 faces), headless; ${SECONDS} s measured after ${WARMUP_S} s`);
console.log(`Machine: ${before.cpu_model}; before: ${loadText(before)}; after: ${loadText(after)}${QUICK ? '; QUICK run' : ''}`);
console.log('');
console.log(
  table(
    [
      { title: 'engine', align: 'l' },
      { title: 'faces', align: 'r' },
      { title: 'analysed frames/s', align: 'r' },
      { title: 'ms per frame', align: 'r' },
      { title: 'faces marked', align: 'r' },
      { title: 'page fps', align: 'r' },
      { title: 'long tasks', align: 'r' },
    ],
    results.map((r) => [
      r.engine ?? r.requested,
      String(r.faces),
      r.error ? 'ERROR' : fmt(r.analysed_fps.median, 2),
      r.error ? '' : fmt(1000 / r.analysed_fps.median, 0),
      r.error ? '' : fmt(r.faces_marked.median, 0),
      r.error ? '' : fmt(r.page_fps, 0),
      r.error || r.long_tasks == null ? '' : `${r.long_tasks} (${fmt(r.long_task_ms, 0)} ms)`,
    ]),
  ),
);
for (const r of results) {
  if (r.error) console.log(`  ${r.requested}, ${r.faces} faces: ${r.error}`);
  if (r.problem) console.log(`  ${r.requested}, ${r.faces} faces: the view says: ${r.problem}`);
  for (const p of r.problems ?? []) console.log(`  note: ${p}`);
}

await writeJson(OUT, {
  benchmark: 'bench-webcam',
  quick: QUICK,
  date: new Date().toISOString(),
  machine_before: before,
  machine_after: after,
  settings: { seconds: SECONDS, warmup_s: WARMUP_S, faces: FACES, engines: ENGINES },
  results,
});

const failed = results.filter((r) => r.error || r.problem || r.problems?.length);
if (failed.length) {
  console.error(`bench-webcam: FAIL: ${failed.map((r) => `${r.requested}/${r.faces}`).join(', ')}`);
  process.exitCode = 1;
}
