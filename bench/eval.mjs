// `make bench-eval`: native evaluation throughput (faces/second) of the shipped model,
// through the trainer's own command:
//
//   mien-train eval --model public/models/mien.onnx --data data/val
//
// (tract, one face at a time, the app's preprocessing; the timing covers the
// classification of every face, not reading the files). Prints a table and writes
// results/bench-eval.json. BENCH_QUICK=1 evaluates 5 faces per class instead of the whole
// split (a folder of links under results/, made here). Env: BENCH_MODEL, BENCH_DATA,
// BENCH_TRAINER (the binary), BENCH_THREADS, BENCH_OUT.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { resolve, join } from 'node:path';
import { QUICK, machine, loadText, table, fmt, writeJson } from './lib.mjs';

const ROOT = resolve(new URL('..', import.meta.url).pathname);
const MODEL = resolve(ROOT, process.env.BENCH_MODEL ?? 'public/models/mien.onnx');
const DATA = resolve(ROOT, process.env.BENCH_DATA ?? 'data/val');
const TRAINER = resolve(ROOT, process.env.BENCH_TRAINER ?? 'target/release/mien-train');
const THREADS = process.env.BENCH_THREADS ?? '2';
const OUT = resolve(ROOT, process.env.BENCH_OUT ?? `results/bench-eval${QUICK ? '-quick' : ''}.json`);
const WORK = resolve(ROOT, `results/bench-eval${QUICK ? '-quick' : ''}`);

function fail(message) {
  console.error(`bench-eval: FAIL: ${message}`);
  process.exit(1);
}
if (!existsSync(TRAINER)) fail(`${TRAINER} is missing; run \`make trainer\``);
if (!existsSync(DATA)) fail(`${DATA} is missing; run \`make bench-data\``);

let data = DATA;
if (QUICK) {
  data = join(WORK, 'data');
  rmSync(data, { recursive: true, force: true });
  for (const cls of readdirSync(DATA).sort()) {
    mkdirSync(join(data, cls), { recursive: true });
    for (const f of readdirSync(join(DATA, cls)).sort().slice(0, 5)) symlinkSync(join(DATA, cls, f), join(data, cls, f));
  }
}

const before = machine();
console.log(`bench-eval: ${QUICK ? 'QUICK (smoke) run, numbers mean nothing; ' : ''}${loadText(before)}`);
const started = Date.now();
const stdout = execFileSync(TRAINER, ['eval', '--model', MODEL, '--data', data, '--out', join(WORK, 'eval'), '--threads', THREADS, '--samples', '8'], {
  encoding: 'utf8',
  maxBuffer: 64 << 20,
  stdio: ['ignore', 'pipe', 'inherit'],
});
const wall = (Date.now() - started) / 1000;
const after = machine();
const metrics = JSON.parse(readFileSync(join(WORK, 'eval', 'metrics.json'), 'utf8'));
const faces = Math.round(metrics.faces_per_second * metrics.seconds);

// Multiply-accumulates per face: from bench-assets' count when available.
let macs = null;
try {
  macs = JSON.parse(readFileSync(resolve(ROOT, 'target/bench/models/models.json'), 'utf8')).classifier.macs;
} catch {}

// One core's theoretical FP32 peak (tract runs one face at a time on one thread).
const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
const flags = (cpuinfo.match(/^flags\s*:(.*)$/m)?.[1] ?? '').split(/\s+/);
const mhz = Number(cpuinfo.match(/^cpu MHz\s*:\s*([\d.]+)/m)?.[1]);
const lanes = flags.includes('avx512f') ? 16 : flags.includes('avx') ? 8 : 4;
const corePeak = (mhz / 1e3) * lanes * (flags.includes('fma') ? 2 : 1) * 2;
const gflops = macs ? (2 * macs * metrics.faces_per_second) / 1e9 : NaN;

console.log('');
console.log(`Native eval of ${MODEL.replace(ROOT + '/', '')} (tract, batch 1, mien-train eval) on ${data.replace(ROOT + '/', '')}`);
console.log(`Machine: ${before.cpu_model}; before: ${loadText(before)}; after: ${loadText(after)}${QUICK ? '; QUICK run' : ''}`);
console.log(`One core's theoretical FP32 peak: ${fmt(corePeak, 1)} GFLOP/s (${mhz} MHz x ${lanes} lanes x 2 (FMA) x 2 FMA units, assumed)`);
console.log('');
console.log(
  table(
    [
      { title: 'model', align: 'l' },
      { title: 'faces', align: 'r' },
      { title: 'faces/s', align: 'r' },
      { title: 'ms/face', align: 'r' },
      { title: 'MMAC/face', align: 'r' },
      { title: 'GFLOP/s', align: 'r' },
      { title: '% of 1 core', align: 'r' },
      { title: 'accuracy', align: 'r' },
      { title: 'wall s', align: 'r' },
    ],
    [[
      MODEL.replace(ROOT + '/', ''),
      String(faces),
      fmt(metrics.faces_per_second, 1),
      fmt((1000 * metrics.seconds) / faces, 2),
      macs ? fmt(macs / 1e6, 1) : '-',
      fmt(gflops, 2),
      Number.isFinite(gflops) ? fmt((100 * gflops) / corePeak, 1) + '%' : '-',
      fmt(100 * metrics.metrics.accuracy, 2) + '%',
      fmt(wall, 1),
    ]],
  ),
);
if (!QUICK) console.log(stdout.split('\n').filter((l) => /faces\/s/.test(l)).join('\n'));

await writeJson(OUT, {
  benchmark: 'bench-eval',
  quick: QUICK,
  date: new Date().toISOString(),
  model: MODEL,
  data,
  threads: Number(THREADS),
  machine_before: before,
  machine_after: after,
  faces,
  seconds: metrics.seconds,
  faces_per_second: metrics.faces_per_second,
  ms_per_face: (1000 * metrics.seconds) / faces,
  macs_per_face: macs,
  gflops,
  core_theoretical_gflops: corePeak,
  accuracy: metrics.metrics.accuracy,
  wall_seconds: wall,
});
