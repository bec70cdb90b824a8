/**
 * Reliability storms against the real service (SQLite in a temporary directory, loopback only),
 * each bounded in count and time: malformed requests across every operation in /openapi.json,
 * the ±Inf sample and NUL event poison pills, 16 MB of `{}`, 20,000 half-open connections to a
 * real `pg-proxy` (upstream: the local PostgreSQL), and `kill -9` under 200 events/s three times.
 * For each: requests tried, handled (answered), 5xx, the largest /healthz latency (polled every
 * 50 ms from a separate thread), peak RSS, and for the crash storm acknowledged-vs-stored events.
 *
 *   npm run build && node dist/bench/reliability/storm.js [storm ...] [--startup-timeout=MS] [--engine=native|js]
 *
 * Storms: malformed, poison, flood, halfopen, kill9 (all when none is named). --startup-timeout is
 * and --engine are passed to pg-proxy (a startup timeout of 0 shows the behaviour without one).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import pg from 'pg';

const here = fileURLToPath(new URL('.', import.meta.url));
const cli = join(here, '../../src/cli/main.js');
const FLUSH_S = 1;
const PG_UPSTREAM = process.env.SHADOWPLANE_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const options = process.argv.slice(2).filter((a) => a.startsWith('--'));
const option = (name: string) => options.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const PGPROXY_FLAGS = ['startup-timeout', 'engine'].flatMap((name) => (option(name) === undefined ? [] : [`--${name}`, option(name)!]));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A running `shadowplane serve`. */
interface Service {
  url: string;
  port: number;
  child: ChildProcess;
}

function writeConfig(dir: string): string {
  const path = join(dir, 'storm.yaml');
  writeFileSync(path, [
    'server: { host: 127.0.0.1, port: 0 }',
    `store: { dataDir: ${JSON.stringify(join(dir, 'data'))}, granularities: ['1s', '10s', '1m'], retention: { '1s': '1h', '10s': '1d', '1m': '7d' }, lateness: '2s', flushInterval: '${FLUSH_S}s' }`,
    'targets:',
    '  - { name: x, kind: service }',
    '  - { name: kill9, kind: service }',
    '',
  ].join('\n'));
  return path;
}

async function startService(config: string, port = 0): Promise<Service> {
  const child = spawn('node', [cli, 'serve', '--config', config, '--port', String(port)], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, SHADOWPLANE_LOG_LEVEL: 'warn' } });
  let err = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr!.on('data', (c: Buffer) => {
      err += c.toString();
      const m = /listening on (http:\/\/\S+)/.exec(err);
      if (m) resolve(m[1]);
    });
    child.once('exit', (code) => reject(new Error(`serve exited ${code}: ${err}`)));
  });
  return { url, port: Number(new URL(url).port), child };
}

function stopService(s: Service, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (s.child.exitCode !== null || s.child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    s.child.once('exit', () => resolve());
    s.child.kill(signal);
  });
}

/** Polls `url` every 50 ms from its own thread; `take()` returns the largest latency since the last take. */
function healthPoller() {
  const worker = new Worker(`
    const { parentPort } = require('node:worker_threads');
    let url = null, times = [], failed = 0;
    parentPort.on('message', (m) => {
      if (m.url !== undefined) url = m.url;
      if (m.take) {
        times.sort((a, b) => a - b);
        parentPort.postMessage({ max: times.length ? times[times.length - 1] : 0, median: times.length ? times[times.length >> 1] : 0, ok: times.length, failed });
        times = []; failed = 0;
      }
    });
    (async () => {
      for (;;) {
        if (url) {
          const t = performance.now();
          try { const r = await fetch(url + '/healthz', { signal: AbortSignal.timeout(10000) }); await r.text(); times.push(performance.now() - t); }
          catch { failed++; }
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    })();`, { eval: true });
  worker.unref();
  return {
    watch: (url: string) => worker.postMessage({ url }),
    take: () => new Promise<{ max: number; median: number; ok: number; failed: number }>((resolve) => {
      worker.once('message', resolve);
      worker.postMessage({ take: true });
    }),
  };
}

/** The largest VmRSS of the watched processes, sampled every 50 ms, since the last take. */
function rssSampler() {
  let pids: number[] = [];
  let peak = 0;
  const timer = setInterval(() => {
    for (const pid of pids) {
      try {
        const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
        peak = Math.max(peak, kb / 1024);
      } catch { /* the process is gone (kill -9) */ }
    }
  }, 50);
  timer.unref();
  return {
    watch: (...p: number[]) => { pids = p; },
    take: () => { const p = peak; peak = 0; return p; },
  };
}

/** What one storm did. */
interface Tally {
  tried: number;
  handled: number;
  s5xx: number;
  notes: string[];
}
const tally = (): Tally => ({ tried: 0, handled: 0, s5xx: 0, notes: [] });

/** Sends one request and counts it; resolves with its status and body, or undefined when it got no answer. */
async function send(t: Tally, url: string, init: RequestInit = {}): Promise<{ status: number; body: string } | undefined> {
  t.tried++;
  try {
    const res = await fetch(url, { ...init, signal: AbortSignal.timeout(30_000) });
    const body = await res.text();
    t.handled++;
    if (res.status >= 500) {
      t.s5xx++;
      if (t.notes.length < 5) t.notes.push(`${res.status} ${init.method ?? 'GET'} ${url.slice(0, 80)}`);
    }
    return { status: res.status, body };
  } catch {
    return undefined;
  }
}

/** Runs `jobs` with at most `width` at a time. */
async function pool(jobs: (() => Promise<unknown>)[], width: number): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < jobs.length) await jobs[next++]();
  }));
}

/** Malformed requests against every operation the OpenAPI document lists. */
async function malformed(svc: Service): Promise<Tally> {
  const t = tally();
  const doc = (await (await fetch(`${svc.url}/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
  const params = ['%00', 'a'.repeat(300), '%E0%A4%A', '..%2F..%2Fetc%2Fpasswd', '12345', '%F0%9F%92%A5'];
  const queries = ['?from=abc&to=1e23', '?limit=-1&dim=zzz&by=%00', '?to=%00&from=now-99999999d', `?x=${'a'.repeat(20_000)}`];
  const bodies: [string, string][] = [
    ['application/json', '{x'], ['application/json', '{"name":12345,"kind":true,"rate":"1"}'], ['application/json', '[]'],
    ['application/json', '['.repeat(5000)], ['application/json', '{"name":"a\\u0000b","table":"\\ud800"}'], ['application/json', '{"rate":1e400,"value":-1e400}'],
    ['application/json', 'null'], ['application/json', JSON.stringify({ pad: 'x'.repeat(1_000_000) })], ['text/plain', 'hello'],
  ];
  const jobs: (() => Promise<unknown>)[] = [];
  let operations = 0;
  for (const [path, ops] of Object.entries(doc.paths)) {
    if (path === '/v1/stream') continue; // server-sent events: an answer that never ends
    for (const method of Object.keys(ops).map((m) => m.toUpperCase())) {
      operations++;
      const fill = (v: string) => path.replace(/\{[^}]+\}/g, v);
      const hasBody = ['POST', 'PUT', 'PATCH'].includes(method);
      for (const p of params) jobs.push(() => send(t, `${svc.url}${fill(p)}`, { method, ...(hasBody ? { headers: { 'content-type': 'application/json' }, body: '{}' } : {}) }));
      for (const q of queries) jobs.push(() => send(t, `${svc.url}${fill('x')}${q}`, { method, ...(hasBody ? { headers: { 'content-type': 'application/json' }, body: '{}' } : {}) }));
      if (hasBody) for (const [type, body] of bodies) jobs.push(() => send(t, `${svc.url}${fill('x')}`, { method, headers: { 'content-type': type }, body }));
    }
  }
  await pool(jobs, 8);
  t.notes.unshift(`${operations} operations`);
  return t;
}

const flushFailures = async (svc: Service) => Number(/^shadowplane_flush_failures_total (\S+)/m.exec(await (await fetch(`${svc.url}/metrics`)).text())?.[1] ?? NaN);

/** The ±Inf samples and the NUL event, then valid traffic, and whether flushes go on. */
async function poison(svc: Service): Promise<Tally> {
  const t = tally();
  // Both halves of the pill must land in one 10 s window but in different 1 s windows.
  while ((Date.now() % 10_000) < 3000 || (Date.now() % 10_000) > 7000) await sleep(100);
  const now = Date.now();
  const pills = [now - 1500, now - 1500, now, now].map((at, i) => ({ target: 'x', metric: 'm', value: i < 2 ? 1.7e308 : -1.7e308, at }));
  const failuresBefore = await flushFailures(svc);
  const inf = await send(t, `${svc.url}/v1/samples`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(pills) });
  const nul = await send(t, `${svc.url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify([{ target: 'x', op: 'read', table: 'a\u0000b', bytes: 1, latencyMs: 1, at: now }]) });
  t.notes.push(`±Inf samples: ${inf?.status}`, `NUL event: ${nul?.status}`);
  // Valid traffic after the pills, past the 10 s window's close and its lateness.
  const until = Date.now() + 16_000;
  while (Date.now() < until) {
    await send(t, `${svc.url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(Array.from({ length: 20 }, () => ({ target: 'x', op: 'read', bytes: 10, latencyMs: 1, at: Date.now() }))) });
    await sleep(100);
  }
  await sleep((FLUSH_S + 1) * 1000);
  const ready = await fetch(`${svc.url}/readyz`);
  t.notes.push(`flush failures after the pills: ${(await flushFailures(svc)) - failuresBefore}`, `/readyz: ${ready.status}`);
  return t;
}

/** 16 MB of `{}` as NDJSON, then as a JSON array. */
async function flood(svc: Service): Promise<Tally> {
  const t = tally();
  const n = Math.floor((16 * 1024 * 1024) / 3);
  const bodies: [string, Buffer][] = [
    ['application/x-ndjson', Buffer.from('{}\n'.repeat(n))],
    ['application/json', Buffer.from(`[${Array(n - 1).fill('{}').join(',')}]`)],
  ];
  for (const [type, body] of bodies) {
    const t0 = performance.now();
    const res = await send(t, `${svc.url}/v1/events`, { method: 'POST', headers: { 'content-type': type }, body });
    t.notes.push(`${type} ${(body.length / 2 ** 20).toFixed(1)} MiB: ${res?.status} in ${(performance.now() - t0).toFixed(0)} ms`);
  }
  return t;
}

/** 20,000 half-open connections (4 bytes of a startup packet each) to a real pg-proxy, while real clients query through it. */
async function halfOpen(rss: ReturnType<typeof rssSampler>): Promise<Tally> {
  const t = tally();
  const proxy = spawn('node', [cli, 'pg-proxy', '--listen', '127.0.0.1:0', '--upstream', PG_UPSTREAM, '--admin', '127.0.0.1:0', '--no-catalog', '--sample-rate', '0', ...PGPROXY_FLAGS], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, SHADOWPLANE_LOG_LEVEL: 'info' } });
  try {
    let err = '';
    const banner = await new Promise<{ listen: string; admin: string; engine: string }>((resolve, reject) => {
      proxy.stderr!.on('data', (c: Buffer) => {
        err += c.toString();
        for (const line of err.split('\n')) if (line.includes('pg-proxy listening')) resolve(JSON.parse(line));
      });
      proxy.once('exit', (code) => reject(new Error(`pg-proxy exited ${code}: ${err}`)));
    });
    rss.watch(proxy.pid!);
    rss.take();
    const port = Number(banner.listen.split(':').pop());
    // Two processes of 10,000 connections each: one process may hold at most `ulimit -n` descriptors.
    const opener = `
      const net = require('node:net'); const n = Number(process.argv[1]); let open = 0, closed = 0, failed = 0;
      for (let i = 0; i < n; i++) {
        const s = net.connect(${port}, '127.0.0.1', () => { open++; s.write(Buffer.from([0, 0, 0, 40])); });
        s.on('error', () => { failed++; }); s.on('close', () => { closed++; });
      }
      const done = setInterval(() => { if (closed >= n) { clearInterval(done); console.log(JSON.stringify({ open, closed, failed })); process.exit(0); } }, 100);
      setTimeout(() => { console.log(JSON.stringify({ open, closed, failed, timedOut: true })); process.exit(0); }, 90000);`;
    const openers = [0, 1].map(() => spawn('node', ['-e', opener, '10000'], { stdio: ['ignore', 'pipe', 'inherit'] }));
    const reports = openers.map((o) => new Promise<string>((resolve) => { let out = ''; o.stdout!.on('data', (c: Buffer) => (out += c)); o.once('exit', () => resolve(out.trim())); }));
    let finished = false;
    void Promise.all(reports).then(() => (finished = true));
    let realOk = 0, realFailed = 0, adminMax = 0;
    while (!finished) {
      t.tried++;
      const c = new pg.Client({ connectionString: PG_UPSTREAM.replace(/:\d+\//, `:${port}/`), connectionTimeoutMillis: 3000 });
      try {
        await c.connect();
        await c.query('SELECT 1');
        realOk++;
        t.handled++;
      } catch {
        realFailed++;
      } finally {
        await c.end().catch(() => undefined);
      }
      const a0 = performance.now();
      const status = await send(t, `${banner.admin}/v1/status`);
      if (status) adminMax = Math.max(adminMax, performance.now() - a0);
      await sleep(250);
    }
    const after = (await (await fetch(`${banner.admin}/v1/status`)).json()) as { proxy: { active: number; startupTimeouts: number; refusedNoDescriptor: number } };
    t.notes.push(`engine ${banner.engine}`, `openers: ${(await Promise.all(reports)).join(' ')}`, `real clients meanwhile: ${realOk} served, ${realFailed} refused`,
      `after: active ${after.proxy.active}, startupTimeouts ${after.proxy.startupTimeouts}, refusedNoDescriptor ${after.proxy.refusedNoDescriptor}`, `admin /v1/status max ${adminMax.toFixed(0)} ms`);
  } finally {
    proxy.kill('SIGTERM');
  }
  return t;
}

/** `kill -9` three times under 200 events/s; then counts acknowledged against stored events. */
async function kill9(config: string, dir: string, health: ReturnType<typeof healthPoller>, rss: ReturnType<typeof rssSampler>): Promise<Tally> {
  const t = tally();
  let svc = await startService(config);
  health.watch(svc.url);
  rss.watch(svc.child.pid!);
  let acknowledged = 0;
  let seq = 0;
  let running = true;
  const load = (async () => {
    while (running) {
      const tick = Date.now();
      const body = JSON.stringify(Array.from({ length: 20 }, () => ({ target: 'kill9', op: 'write', bytes: 10, latencyMs: 1, requestId: `r${seq++}`, at: Date.now() })));
      const res = await send(t, `http://127.0.0.1:${svc.port}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      if (res?.status === 200) acknowledged += (JSON.parse(res.body) as { accepted: number }).accepted;
      await sleep(Math.max(0, 100 - (Date.now() - tick)));
    }
  })();
  for (let i = 0; i < 3; i++) {
    await sleep(5000 + Math.random() * 1000);
    await stopService(svc, 'SIGKILL');
    svc = await startService(config, svc.port);
    rss.watch(svc.child.pid!);
  }
  await sleep(5000);
  running = false;
  await load;
  await stopService(svc);
  const db = new Database(join(dir, 'data', 'shadowplane.db'), { readonly: true });
  const stored = (db.prepare("SELECT SUM(w.count) AS n FROM windows w JOIN series s ON s.id = w.series WHERE s.target = 'kill9' AND s.dim = 'total' AND w.granularity = 1").get() as { n: number | null }).n ?? 0;
  db.close();
  t.notes.push(`acknowledged ${acknowledged}, stored ${stored}, lost ${acknowledged - stored} (bound: 3 kills × ${FLUSH_S} s flush × 200/s = ${3 * FLUSH_S * 200})`);
  return t;
}

async function main(): Promise<void> {
  const wanted = new Set(process.argv.slice(2).filter((a) => !a.startsWith('--')));
  const runs = (name: string) => wanted.size === 0 || wanted.has(name);
  const health = healthPoller();
  const rss = rssSampler();
  const rows: string[] = [];
  const record = async (name: string, run: () => Promise<Tally>) => {
    await health.take();
    rss.take();
    const t0 = performance.now();
    const t = await run();
    const h = await health.take();
    const row = `| ${name} | ${t.tried} | ${t.handled} | ${t.s5xx} | ${h.max.toFixed(0)} ms (median ${h.median.toFixed(1)}; ${h.ok} polls, ${h.failed} failed) | ${rss.take().toFixed(0)} MB | ${((performance.now() - t0) / 1000).toFixed(0)} s | ${t.notes.join('; ')} |`;
    rows.push(row);
    process.stderr.write(`${row}\n`);
  };

  const dir = mkdtempSync(join(tmpdir(), 'sp-storm-'));
  try {
    const config = writeConfig(dir);
    const svc = await startService(config);
    health.watch(svc.url);
    rss.watch(svc.child.pid!);
    try {
      // The same polling with no storm: on a shared machine, the latency the neighbours cause.
      await record('baseline (idle, 10 s)', async () => { await sleep(10_000); return tally(); });
      if (runs('malformed')) await record('malformed requests', () => malformed(svc));
      if (runs('flood')) await record('16 MB of {}', () => flood(svc));
      if (runs('halfopen')) await record('20,000 half-open to pg-proxy (RSS: the proxy)', () => halfOpen(rss));
      rss.watch(svc.child.pid!);
      if (runs('poison')) await record('±Inf and NUL poison pills', () => poison(svc));
    } finally {
      await stopService(svc);
    }
    if (runs('kill9')) {
      const crashDir = mkdtempSync(join(tmpdir(), 'sp-storm-kill9-'));
      try {
        await record('kill -9 × 3 under 200 events/s', () => kill9(writeConfig(crashDir), crashDir, health, rss));
      } finally {
        rmSync(crashDir, { recursive: true, force: true });
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  process.stdout.write(['| storm | tried | handled | 5xx | max /healthz | peak RSS | time | notes |', '|---|---|---|---|---|---|---|---|', ...rows].join('\n') + '\n');
  process.exit(0);
}

await main();
