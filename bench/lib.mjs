// Shared by the browser benchmarks (bench/browser.mjs, bench/coldstart.mjs, bench/webcam.mjs): a local
// static server that can mount several folders, compresses like a production server and
// logs every byte it sends; the headless Chromium launch; machine load; tables; JSON.

import { createServer } from 'node:http';
import { readFile, mkdir, writeFile, mkdtemp, rm } from 'node:fs/promises';
import { readFileSync, existsSync } from 'node:fs';
import { extname, join, normalize, sep, resolve } from 'node:path';
import { tmpdir, loadavg, cpus } from 'node:os';
import { gzipSync, brotliCompressSync, constants as zlib } from 'node:zlib';
import { execFileSync } from 'node:child_process';
import { TYPES } from '../tests/browser/server.mjs';
import { BASE_FLAGS } from '../tests/browser/session.mjs';

export const QUICK = !!process.env.BENCH_QUICK && process.env.BENCH_QUICK !== '0';
export const BROWSER = process.env.CHROMIUM ?? '/usr/bin/chromium';


/** What a file counts as in the byte tables. */
export function kindOf(path) {
  const ext = extname(path);
  if (ext === '.wasm') return 'wasm';
  if (ext === '.js' || ext === '.mjs') return 'js';
  if (ext === '.onnx' || ext === '.bin' || /model.*\.json$|manifest\.json$/.test(path)) return 'model';
  return 'page (html, css, icons)';
}

/**
 * Serves `mounts` ({ '/url/prefix/': '/folder' }, longest prefix wins) on 127.0.0.1.
 * Responses are gzip-compressed when the browser accepts it (level 6, what nginx and
 * most CDNs use on the fly) except PNG; every response is logged with its raw and sent
 * size, so a benchmark counts what the browser actually fetched.
 */
export function serve(mounts, { headers = {} } = {}) {
  const prefixes = Object.keys(mounts).sort((a, b) => b.length - a.length);
  const cache = new Map();
  const log = [];
  const server = createServer(async (request, response) => {
    const path = decodeURIComponent(new URL(request.url, 'http://x').pathname);
    const prefix = prefixes.find((p) => path.startsWith(p));
    try {
      if (!prefix) throw new Error('no mount');
      const root = resolve(mounts[prefix]);
      const rest = path.slice(prefix.length);
      const file = normalize(join(root, rest === '' || rest.endsWith('/') ? rest + 'index.html' : rest));
      if (!file.startsWith(root + sep)) throw new Error('outside');
      const raw = await readFile(file);
      const type = TYPES[extname(file)] ?? 'application/octet-stream';
      const gzip = /\bgzip\b/.test(request.headers['accept-encoding'] ?? '') && extname(file) !== '.png';
      let body = raw;
      const head = { 'Content-Type': type, 'Cache-Control': 'no-store', ...headers };
      if (gzip) {
        const key = `${file}:${raw.length}`;
        if (!cache.has(key)) cache.set(key, gzipSync(raw, { level: 6 }));
        body = cache.get(key);
        head['Content-Encoding'] = 'gzip';
      }
      head['Content-Length'] = body.length;
      response.writeHead(200, head);
      response.end(body);
      log.push({ path, file, kind: kindOf(path), raw: raw.length, sent: body.length, encoding: gzip ? 'gzip' : 'identity', at: Date.now() });
    } catch {
      log.push({ path, status: 404, at: Date.now() });
      response.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
    }
  });
  return new Promise((resolveServer, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      resolveServer({ url: `http://127.0.0.1:${port}/`, log, close: () => new Promise((r) => server.close(r)) });
    });
  });
}

/** Brotli (quality 11) size of a file: what a site with precompressed files would send. */
export function brotliSize(file) {
  return brotliCompressSync(readFileSync(file), { params: { [zlib.BROTLI_PARAM_QUALITY]: 11 } }).length;
}

/** Headless Chromium with a fresh profile (so an empty HTTP cache), WebGPU on. */
export async function launch(chromium, { webgpu = true, args: extra = [] } = {}) {
  if (!existsSync(BROWSER)) throw new Error(`no browser at ${BROWSER}; run \`make setup-web\``);
  const profile = await mkdtemp(join(tmpdir(), 'mien-bench-'));
  const args = [
    ...BASE_FLAGS,
    // Throttling would distort timings of pages that are not in the foreground.
    '--disable-background-timer-throttling',
    '--disable-renderer-backgrounding',
  ];
  if (webgpu) args.push('--enable-unsafe-webgpu');
  args.push(...extra);
  const context = await chromium.launchPersistentContext(profile, { executablePath: BROWSER, headless: true, args });
  return {
    context,
    version: context.browser()?.version() ?? execFileSync(BROWSER, ['--version']).toString().trim(),
    close: async () => {
      await context.close().catch(() => {});
      await rm(profile, { recursive: true, force: true });
    },
  };
}

/** Throws on requests that leave 127.0.0.1 and records page problems. */
export function watch(page, server, problems, where) {
  page.on('pageerror', (error) => problems.push(`${where}: uncaught ${error.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`${where}: console error: ${msg.text()}`);
    if (process.env.BENCH_VERBOSE) console.log(`    [${where}] ${msg.type()}: ${msg.text()}`);
  });
  page.on('request', (request) => {
    const url = request.url();
    if (!url.startsWith(server.url) && !url.startsWith('blob:') && !url.startsWith('data:')) {
      problems.push(`${where}: request to another origin: ${url}`);
    }
  });
}

/** The machine: cores, model, load average now. */
export function machine() {
  const cpu = cpus();
  return {
    cpu_model: cpu[0]?.model ?? 'unknown',
    cores: cpu.length,
    load_average: loadavg().map((l) => Math.round(l * 100) / 100),
    uptime: (() => {
      try {
        return execFileSync('uptime').toString().trim();
      } catch {
        return '';
      }
    })(),
  };
}

export const loadText = (m) => `load average ${m.load_average.join(' ')} on ${m.cores} cores`;

/** Median and 95th percentile (nearest rank) of a list of numbers. */
export function stats(samples) {
  const s = [...samples].sort((a, b) => a - b);
  if (!s.length) return { n: 0, median: NaN, p95: NaN, min: NaN };
  const at = (q) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
  const median = s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  return { n: s.length, median, p95: at(0.95), min: s[0] };
}

/** A plain-text table: columns { title, align ('l'|'r') }, rows of strings. */
export function table(columns, rows) {
  const widths = columns.map((c, i) => Math.max(c.title.length, ...rows.map((r) => String(r[i] ?? '').length)));
  const cell = (text, i) => (columns[i].align === 'l' ? String(text).padEnd(widths[i]) : String(text).padStart(widths[i]));
  const line = (r) => r.map((t, i) => cell(t ?? '', i)).join('  ').trimEnd();
  return [line(columns.map((c) => c.title)), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export const fmt = (x, digits = 1) => (Number.isFinite(x) ? x.toFixed(digits) : '-');

export function bytesText(n) {
  if (!Number.isFinite(n)) return '-';
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} kB`;
  return `${n} B`;
}

export async function writeJson(path, doc) {
  await mkdir(resolve(path, '..'), { recursive: true });
  await writeFile(path, JSON.stringify(doc, null, 2) + '\n');
  console.log(`wrote ${path}`);
}

/** Reads a model produced by `bench-assets models`. */
export function readJson(path) {
  return JSON.parse(readFileSync(path, 'utf8'));
}
