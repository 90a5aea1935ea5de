// The in-browser inference benchmark page (opened by bench/browser.mjs, one page load
// per engine so engines never share a heap or a GPU device):
//
//   mien-cpu      mien's CPU worker (tract, wasm), started as the app starts it
//   mien-webgpu   mien's WebGPU worker (wonnx), started as the app starts it
//   ort-wasm      onnxruntime-web, `wasm` execution provider, 1 thread (as tract)
//   ort-webgpu    onnxruntime-web, `webgpu` execution provider
//
// Every engine runs the same files (/models/, written by `bench-assets models`: the
// classifier, the prepared BlazeFace models, a one-node MatMul) on the same inputs.
// Latency is what the caller sees: for the workers, postMessage to reply (the worker's
// own `ms` is recorded too); for onnxruntime-web, `session.run` including reading the
// outputs back. The result lands in `window.benchResult`.

const params = new URLSearchParams(location.search);
const ENGINE = params.get('engine') ?? 'mien-cpu';
const RUNS = Number(params.get('runs') ?? 30);
const WARMUP = Number(params.get('warmup') ?? 3);
const MAX_SECONDS = Number(params.get('maxSeconds') ?? 60);
const MIN_RUNS = Math.min(RUNS, Number(params.get('minRuns') ?? 5));
const MODELS = (params.get('models') ?? 'matmul,classifier,face-front,face-back').split(',');
const CPU_WORKER = params.get('cpuWorker') ?? '/dist/cpu-worker-loader.js';
const GPU_WORKER = params.get('gpuWorker') ?? '/dist/mien-gpu-worker_loader.js';
const ORT = params.get('ort') ?? '/ort/ort.webgpu.min.mjs';

const logLine = (text) => {
  document.getElementById('log').textContent += text + '\n';
  console.log(text);
};

/** Deterministic inputs in [-1, 1), the same for every engine. */
function input(shape, seed) {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    data[i] = (s / 2 ** 32) * 2 - 1;
  }
  return data;
}

/** Up to 2048 evenly spaced values of an output, to compare engines' numbers. */
function sample(data) {
  const step = Math.max(1, Math.floor(data.length / 2048));
  const out = [];
  for (let i = 0; i < data.length && out.length < 2048; i += step) out.push(data[i]);
  return out;
}

async function adapterInfo() {
  if (!navigator.gpu) return { available: false, why: 'navigator.gpu is missing' };
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) return { available: false, why: 'requestAdapter() returned null' };
  const info = adapter.info ?? {};
  return {
    available: true,
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: info.description,
    isFallbackAdapter: adapter.isFallbackAdapter ?? info.isFallbackAdapter,
  };
}

// --- engines: load(name, bytes) then run(name, feeds, outputNames) -> outputs ---

async function workerEngine(url) {
  const worker = new Worker(url);
  const waiting = new Map();
  let first;
  const started = new Promise((resolve) => (first = resolve));
  worker.onmessage = (event) => {
    const m = event.data;
    if (m.kind === 'ready' || m.kind === 'unavailable' || (m.kind === 'error' && m.id == null)) return first(m);
    const w = waiting.get(m.id);
    if (w) {
      waiting.delete(m.id);
      w(m);
    }
  };
  worker.onerror = (event) => first({ kind: 'error', message: `the worker could not start: ${event.message || url}` });
  const hello = await started;
  if (hello.kind !== 'ready') throw new Error(`${url}: ${hello.message}`);
  let nextId = 1;
  const ask = (message, transfer = []) =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      waiting.set(id, (reply) => (reply.kind === 'error' ? reject(new Error(reply.message)) : resolve(reply)));
      worker.postMessage({ ...message, id }, transfer);
    });
  return {
    detail: hello.detail,
    backend: hello.backend,
    load: async (name, bytes) => {
      const copy = bytes.slice(0);
      await ask({ kind: 'load', name, bytes: copy }, [copy]);
    },
    run: async (name, feeds, outputs) => {
      const inputs = feeds.map((f) => ({ name: f.name, shape: f.shape, data: f.data }));
      const reply = await ask({ kind: 'run', name, inputs, outputs });
      return { outputs: reply.outputs.map((o) => o.data), inner: reply.ms };
    },
  };
}

async function ortEngine(ep) {
  const ort = await import(ORT);
  ort.env.wasm.wasmPaths = '/ort/';
  ort.env.wasm.numThreads = 1; // tract in mien's CPU worker is single-threaded too
  ort.env.wasm.proxy = false;
  ort.env.logLevel = 'error';
  const sessions = new Map();
  return {
    detail: `onnxruntime-web ${ort.env.versions?.web ?? ''} (${ep})`,
    backend: ep,
    load: async (name, bytes) => {
      const session = await ort.InferenceSession.create(new Uint8Array(bytes), {
        executionProviders: [ep],
        graphOptimizationLevel: 'all',
        logSeverityLevel: 3, // errors only: its warnings about unused initializers are noise
      });
      sessions.set(name, session);
    },
    run: async (name, feeds, outputs) => {
      const session = sessions.get(name);
      const input = {};
      for (const f of feeds) input[f.name] = new ort.Tensor('float32', f.data, f.shape);
      const result = await session.run(input, outputs);
      const out = [];
      for (const o of outputs) out.push(await result[o].getData());
      return { outputs: out };
    },
  };
}

async function main() {
  const result = { engine: ENGINE, userAgent: navigator.userAgent, runs: RUNS, warmup: WARMUP, maxSeconds: MAX_SECONDS, models: {} };
  result.webgpu = await adapterInfo();
  const catalog = await (await fetch('/models/models.json')).json();
  let engine;
  const t0 = performance.now();
  if (ENGINE === 'mien-cpu') engine = await workerEngine(CPU_WORKER);
  else if (ENGINE === 'mien-webgpu') engine = await workerEngine(GPU_WORKER);
  else if (ENGINE === 'ort-wasm') engine = await ortEngine('wasm');
  else if (ENGINE === 'ort-webgpu') engine = await ortEngine('webgpu');
  else throw new Error(`unknown engine ${ENGINE}`);
  result.detail = engine.detail;
  result.start_ms = performance.now() - t0;
  logLine(`${ENGINE}: ${engine.detail} (started in ${result.start_ms.toFixed(0)} ms)`);

  for (const name of MODELS) {
    const spec = catalog[name];
    const bytes = await (await fetch(`/models/${spec.file}`)).arrayBuffer();
    const row = { file: spec.file, macs: spec.macs };
    result.models[name] = row;
    try {
      let t = performance.now();
      await engine.load(name, bytes);
      row.load_ms = performance.now() - t;
      const feeds = spec.inputs.map((i, k) => ({ name: i.name, shape: i.shape, data: input(i.shape, 17 + k) }));
      const outputs = spec.outputs.map((o) => o.name);
      let last;
      for (let i = 0; i < WARMUP; i++) last = await engine.run(name, feeds, outputs);
      const ms = [];
      const inner = [];
      const started = performance.now();
      while (ms.length < RUNS && (ms.length < MIN_RUNS || performance.now() - started < MAX_SECONDS * 1000)) {
        t = performance.now();
        last = await engine.run(name, feeds, outputs);
        ms.push(performance.now() - t);
        if (last.inner != null) inner.push(last.inner);
      }
      if (!last) last = await engine.run(name, feeds, outputs);
      row.ms = ms;
      if (inner.length) row.inner_ms = inner;
      row.outputs = Object.fromEntries(outputs.map((o, k) => [o, sample(last.outputs[k])]));
      logLine(`  ${name}: ${ms.length} runs, first ${ms[0]?.toFixed(1)} ms`);
    } catch (error) {
      row.error = String(error?.message ?? error);
      logLine(`  ${name}: ERROR ${row.error}`);
    }
  }
  return result;
}

main()
  .then((r) => (window.benchResult = r))
  .catch((error) => (window.benchResult = { engine: ENGINE, error: String(error?.message ?? error) }));
