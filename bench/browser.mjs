// `make bench-browser`: per-run latency of mien's two in-browser engines next to
// onnxruntime-web on the same files, same inputs, same page, same headless Chromium.
//
//   node bench/browser.mjs            (after `make build` and `bench-assets models`)
//
// Env: BENCH_QUICK=1 (a few runs: checks that it starts and finishes), BENCH_RUNS,
// BENCH_MAX_SECONDS (per model and engine), BENCH_ENGINES (comma list),
// BENCH_MODELS_DIR (default target/bench/models), BENCH_OUT (default
// results/bench-browser.json), CHROMIUM, BENCH_VERBOSE=1 (page console).

import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { chromium } from 'playwright-core';
import { QUICK, serve, launch, watch, machine, loadText, stats, table, fmt, writeJson, readJson } from './lib.mjs';

const ROOT = resolve(new URL('..', import.meta.url).pathname);
const DIST = resolve(ROOT, process.env.BENCH_DIST ?? 'dist');
const MODELS = resolve(ROOT, process.env.BENCH_MODELS_DIR ?? 'target/bench/models');
const OUT = resolve(ROOT, process.env.BENCH_OUT ?? `results/bench-browser${QUICK ? '-quick' : ''}.json`);
const ENGINES = (process.env.BENCH_ENGINES ?? 'mien-cpu,ort-wasm,mien-webgpu,ort-webgpu').split(',');
const RUNS = Number(process.env.BENCH_RUNS ?? (QUICK ? 2 : 30));
const WARMUP = QUICK ? 1 : 3;
const MAX_SECONDS = Number(process.env.BENCH_MAX_SECONDS ?? (QUICK ? 20 : 60));
const PAGE_TIMEOUT_MS = Number(process.env.BENCH_PAGE_TIMEOUT_S ?? (QUICK ? 300 : 1800)) * 1000;

const NAMES = {
  'mien-cpu': ['cpu', 'mien (tract, cpu-worker)'],
  'ort-wasm': ['cpu', 'onnxruntime-web wasm'],
  'mien-webgpu': ['webgpu', 'mien (wonnx, gpu-worker)'],
  'ort-webgpu': ['webgpu', 'onnxruntime-web webgpu'],
};
const MODEL_LABEL = {
  matmul: 'MatMul (peak)',
  classifier: 'classifier 48x48',
  'face-front': 'BlazeFace front 128',
  'face-back': 'BlazeFace back 256',
};

function fail(message) {
  console.error(`bench-browser: FAIL: ${message}`);
  process.exit(1);
}

if (!existsSync(resolve(DIST, 'cpu-worker-loader.js'))) fail(`${DIST} has no cpu-worker-loader.js; run \`make build\``);
if (!existsSync(resolve(MODELS, 'models.json'))) fail(`${MODELS}/models.json is missing; run \`make bench-assets\``);
if (!existsSync(resolve(DIST, 'mien-gpu-worker_loader.js'))) fail(`${DIST} has no mien-gpu-worker_loader.js; run \`make build\``);
const catalog = readJson(resolve(MODELS, 'models.json'));

const server = await serve({
  '/bench/': resolve(ROOT, 'bench'),
  '/dist/': DIST,
  '/ort/': resolve(ROOT, 'node_modules/onnxruntime-web/dist'),
  '/models/': MODELS,
});
const before = machine();
console.log(`bench-browser: ${QUICK ? 'QUICK (smoke) run, numbers mean nothing; ' : ''}${loadText(before)}`);
const browser = await launch(chromium, { webgpu: true });
const problems = [];
const results = {};
try {
  for (const engine of ENGINES) {
    const page = await browser.context.newPage();
    watch(page, server, problems, engine);
    const query = new URLSearchParams({ engine, runs: RUNS, warmup: WARMUP, maxSeconds: MAX_SECONDS });
    const started = Date.now();
    await page.goto(`${server.url}bench/inference.html?${query}`);
    await page.waitForFunction(() => window.benchResult, null, { timeout: PAGE_TIMEOUT_MS, polling: 500 });
    results[engine] = await page.evaluate(() => window.benchResult);
    results[engine].load_average_after = machine().load_average;
    console.log(`  ${engine}: ${results[engine].error ? 'ERROR ' + results[engine].error : results[engine].detail} (${((Date.now() - started) / 1000).toFixed(0)} s)`);
    await page.close();
  }
} finally {
  await browser.close();
  await server.close();
}
const after = machine();

// --- the table ---
const mm = (engine) => results[engine]?.models?.matmul;
const gflops = (row) => (row?.ms?.length ? (2 * row.macs) / (stats(row.ms).median * 1e6) : NaN);
const peak = {};
for (const engine of ENGINES) {
  const [backend] = NAMES[engine];
  peak[backend] = Math.max(peak[backend] ?? 0, gflops(mm(engine)) || 0);
}
const reference = results['ort-wasm'];
function maxDiff(row, ref) {
  if (!row?.outputs || !ref?.outputs) return NaN;
  let diff = 0;
  let scale = 0;
  for (const [name, values] of Object.entries(ref.outputs)) {
    const mine = row.outputs[name];
    if (!mine) return NaN;
    values.forEach((v, i) => {
      diff = Math.max(diff, Math.abs(v - mine[i]));
      scale = Math.max(scale, Math.abs(v));
    });
  }
  return { diff, scale };
}

const rows = [];
const summary = [];
for (const model of Object.keys(MODEL_LABEL)) {
  if (!catalog[model]) continue;
  for (const engine of ENGINES) {
    const [backend, label] = NAMES[engine];
    const row = results[engine]?.models?.[model];
    const s = stats(row?.ms ?? []);
    const flops = 2 * catalog[model].macs;
    const floorMs = flops / (peak[backend] * 1e6);
    const peer = engine.startsWith('mien') ? results[engine.replace('mien-', 'ort-').replace('ort-cpu', 'ort-wasm')] : null;
    const peerRow = peer?.models?.[model];
    const ratio = peerRow?.ms?.length && s.n ? s.median / stats(peerRow.ms).median : NaN;
    const d = engine === 'ort-wasm' ? null : maxDiff(row, reference?.models?.[model]);
    const entry = {
      model,
      engine,
      backend,
      macs: catalog[model].macs,
      runs: s.n,
      median_ms: s.median,
      p95_ms: s.p95,
      min_ms: s.min,
      worker_median_ms: row?.inner_ms ? stats(row.inner_ms).median : null,
      load_ms: row?.load_ms,
      gflops: flops / (s.median * 1e6),
      floor_ms: model === 'matmul' ? null : floorMs,
      times_floor: model === 'matmul' ? null : s.median / floorMs,
      ratio_mien_over_ort: engine.startsWith('mien') ? ratio : null,
      max_abs_diff_vs_ort_wasm: d && Number.isFinite(d.diff) ? d.diff : null,
      output_scale: d && Number.isFinite(d.scale) ? d.scale : null,
      error: row?.error ?? results[engine]?.error ?? null,
    };
    summary.push(entry);
    rows.push([
      MODEL_LABEL[model],
      fmt(catalog[model].macs / 1e6, 0),
      backend,
      label,
      entry.error ? 'ERROR' : String(s.n),
      fmt(s.median, 1),
      fmt(s.p95, 1),
      fmt(entry.gflops, 2),
      model === 'matmul' ? '' : fmt(floorMs, 1),
      model === 'matmul' ? '' : fmt(entry.times_floor, 1) + 'x',
      Number.isFinite(ratio) ? fmt(ratio, 2) : '',
      entry.max_abs_diff_vs_ort_wasm == null ? '' : `${entry.max_abs_diff_vs_ort_wasm.toExponential(1)} / ${fmt(entry.output_scale, 0)}`,
    ]);
  }
}

const adapter = Object.values(results).find((r) => r.webgpu)?.webgpu ?? {};
const adapterText = adapter.available
  ? `${[adapter.vendor, adapter.architecture, adapter.description].filter(Boolean).join(' ')}${adapter.isFallbackAdapter ? ' (fallback adapter)' : ''}`
  : `none (${adapter.why})`;
const software = /swiftshader/i.test(adapterText) || adapter.isFallbackAdapter;
console.log('');
console.log(`In-browser inference, ${browser.version}, headless; per run (classifier: one face; BlazeFace: one photo)`);
console.log(`WebGPU adapter: ${adapterText}${software ? ' -- SwiftShader: WebGPU emulated on the CPU, not a GPU' : ''}`);
console.log(`CPU backends single-threaded (tract has no threads in wasm; onnxruntime-web numThreads=1). Latency = caller's view (worker round trip / session.run incl. reading outputs).`);
console.log(
  `Floor = model FLOPs (2 x MAC, tract's count) / backend peak = the best MatMul ${catalog.matmul?.inputs?.[0]?.shape?.join('x')}x${catalog.matmul?.inputs?.[0]?.shape?.[1]} ` +
    `on that backend (cpu ${fmt(peak.cpu, 2)}, webgpu ${fmt(peak.webgpu, 2)} GFLOP/s; each engine's own: ` +
    ENGINES.map((e) => `${e} ${fmt(gflops(mm(e)), 2)}`).join(', ') + ').',
);
console.log(`Machine: ${before.cpu_model}; before: ${loadText(before)}; after: ${loadText(after)}${QUICK ? '; QUICK run' : ''}`);
console.log('');
console.log(
  table(
    [
      { title: 'model', align: 'l' },
      { title: 'MMAC', align: 'r' },
      { title: 'backend', align: 'l' },
      { title: 'engine', align: 'l' },
      { title: 'runs', align: 'r' },
      { title: 'median ms', align: 'r' },
      { title: 'p95 ms', align: 'r' },
      { title: 'GFLOP/s', align: 'r' },
      { title: 'floor ms', align: 'r' },
      { title: 'x floor', align: 'r' },
      { title: 'mien/ort', align: 'r' },
      { title: 'max|diff| vs ort-wasm / max|out|', align: 'l' },
    ],
    rows,
  ),
);
for (const engine of ENGINES) {
  const r = results[engine];
  for (const [model, row] of Object.entries(r?.models ?? {})) if (row.error) console.log(`  ${engine} ${model}: ${row.error}`);
  if (r?.error) console.log(`  ${engine}: ${r.error}`);
}
for (const p of problems) console.log(`  note: ${p}`);

await writeJson(OUT, {
  benchmark: 'bench-browser',
  quick: QUICK,
  date: new Date().toISOString(),
  browser: browser.version,
  webgpu_adapter: adapter,
  webgpu_is_software: !!software,
  machine_before: before,
  machine_after: after,
  settings: { runs: RUNS, warmup: WARMUP, max_seconds: MAX_SECONDS, engines: ENGINES },
  peak_gflops: peak,
  summary,
  raw: results,
  problems,
});

const failed = ENGINES.filter((e) => results[e]?.error || Object.values(results[e]?.models ?? {}).some((m) => m.error));
if (failed.length) {
  console.error(`bench-browser: FAIL: errors in ${failed.join(', ')}`);
  process.exitCode = 1;
}
