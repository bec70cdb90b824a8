/**
 * The Shadow Store at fleet scale, against a real `shadowplane serve` process per run: N targets
 * created through the API, then a burst of events (default 1,000,000; 40 tables, 23 columns, 500
 * users in the fleet, each target with a working set of its own, targets drawn uniformly) sent as 5,000-line NDJSON batches, 4 in flight, as fast as the
 * service takes them.
 *
 * The burst starts 10 s before a minute boundary (BURST_START_SECOND), so that its events open two
 * minutes' windows, the worst case, in every run that lasts longer than that. Reported per backend
 * and target count:
 *
 * - events/s accepted over the burst;
 * - peak RSS of the service (VmHWM);
 * - worst `/healthz` latency, polled every 50 ms, during the burst and after it (while the open
 *   windows flush: the bench waits `--settle` flush intervals after the last batch);
 * - flushes (count, mean and largest time, from the service's flush histogram and its log);
 * - open windows at the end, windows stored and bytes per stored window (SQLite: pages of the
 *   windows and series tables and their indexes, from dbstat; PostgreSQL: pg_total_relation_size
 *   of both);
 * - `/top?dim=column` and `/series` for one target: median of 20 calls.
 *
 *   npm run build && node dist/bench/store/fleet.js [--backend both|sqlite|postgres] [--targets 2000,10000,50000] [--events 1000000] [--smoke]
 *
 * `--replicas N` measures ingest spread across replicas instead (`ingest.jetstream`, NATS from
 * SHADOWPLANE_NATS_URL, default nats://127.0.0.1:4222): N `serve` processes on one PostgreSQL
 * schema, the batches sent round-robin to them (the same 4 in flight in all), beside one replica
 * without the stream, in the same run. Reported: events/s acknowledged, and whether the windows
 * stored count exactly the events acknowledged (after the replicas drained the stream, and how
 * long that took after the last acknowledgement, at most 5 minutes).
 *
 * `--smoke` is a quick check of the bench itself (300 targets, 60,000 events). `--profile` runs
 * the service under `node --cpu-prof` and prints, after each run, the functions with the most
 * self time (the figures of a profiled run are slower than an unprofiled one's). PostgreSQL comes
 * from SHADOWPLANE_PG_URL (default postgres://postgres@127.0.0.1:5432/test); each run uses a schema
 * of its own and drops it.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { exited, startServe, type Serve } from '../../test/helpers/serve.js';
import { mulberry32 } from '../../src/core/random.js';
import { median, topSelfTime } from '../util.js';
import { connectJetStream } from '../../src/core/nats.js';
import { dropSchema, storedSize } from './stored.js';

const { values: args } = parseArgs({
  options: {
    backend: { type: 'string', default: 'both' },
    targets: { type: 'string', default: '2000,10000' },
    events: { type: 'string', default: '1000000' },
    settle: { type: 'string', default: '3' },
    smoke: { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    replicas: { type: 'string' },
  },
});
const REPLICAS = args.replicas === undefined ? undefined : Number(args.replicas);
if (REPLICAS !== undefined && !(Number.isInteger(REPLICAS) && REPLICAS >= 1 && REPLICAS <= 8)) throw new Error(`--replicas must be an integer from 1 to 8, not ${args.replicas}`);
const NATS_URL = process.env.SHADOWPLANE_NATS_URL ?? 'nats://127.0.0.1:4222';
const BACKENDS = args.backend === 'both' ? ['sqlite', 'postgres'] : [args.backend!];
for (const b of BACKENDS) if (b !== 'sqlite' && b !== 'postgres') throw new Error(`--backend must be both, sqlite or postgres, not ${b}`);
const TARGET_COUNTS = args.smoke ? [300] : args.targets!.split(',').map(Number);
const EVENTS = args.smoke ? 60_000 : Number(args.events);
const SETTLE_FLUSHES = Number(args.settle);
const FLUSH_MS = 5000;
const HEALTH_LIMIT_MS = 60_000;
/** How long the replica runs wait for the stored windows to count every acknowledged event. */
const DRAIN_LIMIT_MS = 300_000;
const BATCH = 5000;
const IN_FLIGHT = 4;
const TABLES = 40;
const COLUMNS = 23;
const USERS = 500;
const PG_URL = process.env.SHADOWPLANE_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const dir = mkdtempSync(join(tmpdir(), 'sp-fleet-'));
const progress = (line: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The burst starts at this second of a minute, so that it spans a minute boundary: its events
 * then open two minutes' windows, the worst case of one burst, and runs compare alike (a burst
 * inside one minute opens half as many).
 */
const BURST_START_SECOND = 50;

/** Waits until the wall clock is at `second` of a minute. */
async function untilSecondOfMinute(second: number): Promise<void> {
  const now = Date.now();
  const at = Math.floor(now / 60_000) * 60_000 + second * 1000;
  await sleep((at > now ? at : at + 60_000) - now);
}

const targetName = (i: number) => `fleet-${String(i).padStart(6, '0')}`;

/**
 * One 5,000-line NDJSON body of events stamped `now`. Each target has a working set of its own
 * within the fleet's vocabulary: 4 of the 40 tables, 3 of the 23 columns of each, 8 of the 500
 * users (a database serves a few hot tables and a few clients, not every table and user of the
 * fleet). Per minute a target then opens at most 1 + 2 + 4 + 12 + 8 = 27 windows of the finest
 * granularity.
 */
function body(random: () => number, targets: number, now: number): string {
  const lines = new Array<string>(BATCH);
  for (let i = 0; i < BATCH; i++) {
    const target = Math.floor(random() * targets);
    const table = (target + Math.floor(random() * 4) * 10) % TABLES;
    const column = (c: number) => `"c${(target + table + c * 7) % COLUMNS}"`;
    const c1 = Math.floor(random() * 3);
    const columns = random() < 0.5 ? `[${column(c1)}]` : `[${column(c1)},${column((c1 + 1) % 3)}]`;
    const user = (target * 7 + Math.floor(random() * 8) * 61) % USERS;
    const latency = Math.exp(random() * 6) / 4; // 0.25 ms to 100 ms, log-uniform
    lines[i] = `{"target":"${targetName(target)}","op":"${random() < 0.8 ? 'read' : 'write'}","table":"t${table}","columns":${columns},"user":"user-${user}","bytes":${Math.floor(random() * 4000)},"rows":${Math.floor(random() * 50)},"latencyMs":${latency.toFixed(3)},"status":${random() < 0.01 ? 500 : 200},"at":${now}}`;
  }
  return lines.join('\n') + '\n';
}

/** Polls `/healthz` every 50 ms (after each answer) until stopped; records each latency with its phase. */
function pollHealth(url: string): { phase: string; stop(): Promise<Map<string, number[]>> } {
  const byPhase = new Map<string, number[]>();
  let running = true;
  const state = {
    phase: 'ingest',
    async stop() {
      running = false;
      await loop;
      return byPhase;
    },
  };
  const loop = (async () => {
    while (running) {
      const t0 = performance.now();
      // A stall past the limit is recorded as the limit (the table then shows a lower bound).
      await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(HEALTH_LIMIT_MS) }).then((res) => res.arrayBuffer()).catch(() => undefined);
      const list = byPhase.get(state.phase) ?? [];
      list.push(performance.now() - t0);
      byPhase.set(state.phase, list);
      await sleep(50);
    }
  })();
  return state;
}

/** kB of a `/proc/<pid>/status` field (VmRSS, VmHWM). */
function procStatus(pid: number, field: string): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) : Number.NaN;
}

async function json(url: string, init?: RequestInit): Promise<Record<string, unknown>> {
  const res = await fetch(url, init);
  const text = await res.text();
  if (!res.ok) throw new Error(`${init?.method ?? 'GET'} ${url}: ${res.status} ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

/** Creates targets through the API, `inFlight` at a time. */
async function createTargets(url: string, n: number, inFlight = 8): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (next < n) {
      const i = next++;
      await json(`${url}/v1/targets`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: targetName(i), kind: 'database', actor: 'bench' }) });
    }
  }));
}

/** Sends EVENTS events in BATCH-line bodies, IN_FLIGHT at a time (round-robin over `urls`); returns what was accepted and the wall time. */
async function sendEvents(urls: string | string[], targets: number): Promise<{ accepted: number; ms: number }> {
  const to = typeof urls === 'string' ? [urls] : urls;
  const random = mulberry32(42); // every run sends the same events
  const batches = Math.ceil(EVENTS / BATCH);
  let next = 0;
  let accepted = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
    while (next < batches) {
      const url = to[next++ % to.length];
      const res = await json(`${url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body: body(random, targets, Date.now()) });
      accepted += Number(res.accepted);
    }
  }));
  return { accepted, ms: performance.now() - t0 };
}

/** The flush histogram's count and sum, and the main thread's heap, from /metrics. */
async function flushStats(url: string): Promise<{ count: number; sum: number; openWindows: number; heapUsedMiB: number; externalMiB: number }> {
  const res = await fetch(`${url}/metrics`);
  const text = await res.text();
  if (!res.ok) progress(`/metrics answered ${res.status}: ${text.slice(0, 300)}`);
  const value = (re: RegExp) => Number(re.exec(text)?.[1] ?? Number.NaN);
  return {
    count: value(/^shadowplane_flush_duration_seconds_count\{[^}]*\} (\S+)$/m),
    sum: value(/^shadowplane_flush_duration_seconds_sum\{[^}]*\} (\S+)$/m),
    openWindows: value(/^shadowplane_open_windows (\S+)$/m),
    heapUsedMiB: value(/^shadowplane_nodejs_heap_size_used_bytes (\S+)$/m) / 2 ** 20,
    externalMiB: value(/^shadowplane_nodejs_external_memory_bytes (\S+)$/m) / 2 ** 20,
  };
}

/** Median ms of `n` GETs of `path`. */
async function timeQuery(url: string, path: (i: number) => string, n = 20): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await json(`${url}${path(i)}`);
    times.push(performance.now() - t0);
  }
  return median(times);
}

interface Result {
  backend: string;
  targets: number;
  eventsPerSecond: number;
  accepted: number;
  peakRssMiB: number;
  healthIngestMs: number;
  healthFlushMs: number;
  flushes: number;
  flushMeanMs: number;
  openWindows: number;
  windows: number;
  bytesPerWindow: number;
  topMs: number;
  seriesMs: number;
  createMs: number;
}

async function run(backend: string, targets: number): Promise<Result> {
  const tag = `${backend}-${targets}-${Date.now().toString(36)}`;
  const dataDir = join(dir, tag);
  const schema = `sp_fleet_${process.pid}_${Date.now().toString(36)}`;
  const store = backend === 'postgres' ? `backend: postgres, postgres: { url: ${JSON.stringify(PG_URL)}, schema: ${schema} }, ` : '';
  const file = join(dir, `${tag}.yaml`);
  writeFileSync(file, `server: { port: 0, parseTimeout: 60s, requestTimeout: 120s }\nstore: { ${store}dataDir: ${JSON.stringify(dataDir)}, flushInterval: ${FLUSH_MS}ms }\n`);
  const profileDir = join(dir, `${tag}-profile`);
  if (args.profile) mkdirSync(profileDir);
  const serve: Serve = await startServe(file, args.profile ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []);
  const pid = serve.child.pid!;
  try {
    const c0 = performance.now();
    progress(`${tag}: creating ${targets} targets`);
    await createTargets(serve.url, targets);
    const createMs = performance.now() - c0;
    await sleep(FLUSH_MS); // one flush of the targets' own writes before the burst
    await untilSecondOfMinute(BURST_START_SECOND);
    const health = pollHealth(serve.url);
    progress(`${tag}: sending ${EVENTS} events`);
    const sent = await sendEvents(serve.url, targets);
    health.phase = 'flush';
    progress(`${tag}: ${sent.accepted} accepted in ${(sent.ms / 1000).toFixed(1)} s; letting ${SETTLE_FLUSHES} flushes run`);
    await sleep(SETTLE_FLUSHES * FLUSH_MS + 1000);
    const topMs = await timeQuery(serve.url, (i) => `/v1/targets/${targetName((i * 7919) % targets)}/top?dim=column&limit=10`);
    const seriesMs = await timeQuery(serve.url, (i) => `/v1/targets/${targetName((i * 7919) % targets)}/series?dim=table&key=t3&metric=p99&from=now-1h&step=1m`);
    const phases = await health.stop();
    const flush = await flushStats(serve.url);
    const peakRssMiB = procStatus(pid, 'VmHWM') / 1024;
    progress(`${tag}: at the end: RSS ${(procStatus(pid, 'VmRSS') / 1024).toFixed(0)} MiB (peak ${peakRssMiB.toFixed(0)}), main thread's heap used ${flush.heapUsedMiB.toFixed(0)} MiB, external ${flush.externalMiB.toFixed(0)} MiB`);
    serve.child.kill('SIGTERM');
    await exited(serve.child);
    if (args.profile) {
      for (const name of readdirSync(profileDir).filter((f) => f.endsWith('.cpuprofile'))) {
        console.error(`${tag}: top self time (${name}):\n${topSelfTime(join(profileDir, name)).join('\n')}`);
      }
    }
    const size = await storedSize(backend, join(dataDir, 'shadowplane.db'), PG_URL, schema);
    if (backend === 'postgres') await dropSchema(PG_URL, schema);
    return {
      backend, targets, createMs, accepted: sent.accepted, eventsPerSecond: sent.accepted / (sent.ms / 1000), peakRssMiB,
      healthIngestMs: Math.max(...(phases.get('ingest') ?? [Number.NaN])), healthFlushMs: Math.max(...(phases.get('flush') ?? [Number.NaN])),
      flushes: flush.count, flushMeanMs: (flush.sum / flush.count) * 1000, openWindows: flush.openWindows,
      windows: size.windows, bytesPerWindow: size.bytes / size.windows, topMs, seriesMs,
    };
  } finally {
    if (serve.child.exitCode === null && serve.child.signalCode === null) serve.child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Events the finest total windows of a schema count, final and open. */
async function storedEvents(client: pg.Client, schema: string): Promise<number> {
  const windows = `(SELECT series, granularity, count FROM "${schema}".windows UNION ALL SELECT series, granularity, count FROM "${schema}".open_windows)`;
  const { rows } = await client.query(`SELECT COALESCE(SUM(w.count), 0)::float8 AS n FROM ${windows} w JOIN "${schema}".series s ON s.id = w.series WHERE w.granularity = 60 AND s.dim = 'total'`);
  return Number(rows[0].n);
}

interface ReplicaResult {
  replicas: number;
  stream: boolean;
  eventsPerSecond: number;
  accepted: number;
  stored: number;
  drainMs: number;
  /** Takes of partitions over the run (16 when each was taken once; more when holds expired and moved). */
  takes: number;
}

/**
 * `replicas` serve processes on one PostgreSQL schema (with the ingest stream when `stream`):
 * targets created on the first, the others started after (they read the targets at start), then
 * the burst round-robin over all, then waiting until the stored windows count every acknowledged
 * event (at most DRAIN_LIMIT_MS).
 */
async function runReplicas(replicas: number, stream: boolean, targets: number): Promise<ReplicaResult> {
  const tag = `replicas-${replicas}-${stream ? 'stream' : 'direct'}-${Date.now().toString(36)}`;
  const schema = `sp_fleet_${process.pid}_${Date.now().toString(36)}`;
  const streamName = `SP_BENCH_${process.pid}_${Date.now().toString(36)}`;
  const jetstream = stream ? `, jetstream: { enabled: true, url: ${JSON.stringify(NATS_URL)}, stream: ${streamName}, partitions: 16 }` : '';
  const serves: Serve[] = [];
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    for (let i = 0; i < replicas; i++) {
      const file = join(dir, `${tag}-${i}.yaml`);
      writeFileSync(file, `server: { port: 0, parseTimeout: 60s, requestTimeout: 120s }
store: { backend: postgres, postgres: { url: ${JSON.stringify(PG_URL)}, schema: ${schema} }, dataDir: ${JSON.stringify(join(dir, `${tag}-${i}`))}, flushInterval: ${FLUSH_MS}ms }
ingest: { pseudonymKey: fleet-bench-pseudonym-key-0123456789abcdef${jetstream} }
`);
      serves.push(await startServe(file));
      if (i === 0) {
        progress(`${tag}: creating ${targets} targets`);
        await createTargets(serves[0].url, targets);
      }
    }
    if (stream) {
      progress(`${tag}: waiting for every replica to hold partitions`);
      for (;;) {
        const { rows } = await client.query(`SELECT COUNT(DISTINCT owner)::int AS owners, COUNT(*) FILTER (WHERE owner IS NULL)::int AS free FROM "${schema}".ingest_partitions`);
        if (rows[0].owners === replicas && rows[0].free === 0) break;
        await sleep(200);
      }
    }
    progress(`${tag}: sending ${EVENTS} events`);
    const sent = await sendEvents(serves.map((s) => s.url), targets);
    const t0 = performance.now();
    // Without the stream the owner alone writes; its stop flushes what is open.
    if (!stream) for (const s of serves) s.child.kill('SIGTERM');
    let stored = 0;
    let reported = t0;
    while (performance.now() - t0 < DRAIN_LIMIT_MS) {
      if (!stream) await Promise.all(serves.map((s) => exited(s.child)));
      stored = await storedEvents(client, schema);
      if (stored >= sent.accepted) break;
      if (performance.now() - reported > 10_000) {
        reported = performance.now();
        progress(`${tag}: ${stored} of ${sent.accepted} stored so far`);
      }
      await sleep(100);
    }
    const drainMs = performance.now() - t0;
    const takes = stream ? Number((await client.query(`SELECT SUM(token)::int AS n FROM "${schema}".ingest_partitions`)).rows[0].n) : 0;
    progress(`${tag}: ${sent.accepted} acknowledged in ${(sent.ms / 1000).toFixed(1)} s, ${stored} stored after ${(drainMs / 1000).toFixed(1)} s`);
    return { replicas, stream, accepted: sent.accepted, eventsPerSecond: sent.accepted / (sent.ms / 1000), stored, drainMs, takes };
  } finally {
    for (const s of serves) s.child.kill('SIGTERM');
    await Promise.all(serves.map((s) => exited(s.child)));
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => undefined);
    await client.end();
    if (stream) {
      const { nc, jsm } = await connectJetStream(NATS_URL);
      await jsm.streams.delete(streamName).catch(() => undefined);
      await nc.close();
    }
  }
}

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const loadLine = () => loadavg().map((l) => l.toFixed(2)).join(' ');
console.log(`load before: ${loadLine()}; ${EVENTS.toLocaleString('en-US')} events, ${BATCH}-line batches, ${IN_FLIGHT} in flight, flush every ${FLUSH_MS / 1000} s`);
try {
  if (REPLICAS !== undefined) {
    console.log('| replicas | ingest | targets | events/s acknowledged | acknowledged | stored | stored == acknowledged | drained s after the last ack | partition takes |');
    console.log('|--:|---|--:|--:|--:|--:|---|--:|--:|');
    for (const targets of TARGET_COUNTS) {
      for (const [replicas, stream] of [[1, false], [REPLICAS, true]] as const) {
        const r = await runReplicas(replicas, stream, targets);
        console.log(`| ${r.replicas} | ${r.stream ? 'JetStream' : 'direct'} | ${fmt(targets)} | ${fmt(r.eventsPerSecond)} | ${fmt(r.accepted)} | ${fmt(r.stored)} | ${r.stored === r.accepted ? 'yes' : 'NO'} | ${fmt(r.drainMs / 1000, 1)} | ${r.stream ? r.takes : '—'} |`);
      }
    }
  } else {
    console.log('| backend | targets | create targets s | events/s | peak RSS MiB | worst /healthz ingest ms | worst /healthz flush ms | flushes | mean flush ms | open windows | stored windows | B/window | /top ms | /series ms |');
    console.log('|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|');
    for (const targets of TARGET_COUNTS) {
      for (const backend of BACKENDS) {
        const r = await run(backend, targets);
        if (r.accepted !== EVENTS) console.error(`warning: ${r.accepted} of ${EVENTS} events accepted`);
        console.log(`| ${r.backend} | ${fmt(r.targets)} | ${fmt(r.createMs / 1000, 1)} | ${fmt(r.eventsPerSecond)} | ${fmt(r.peakRssMiB)} | ${fmt(r.healthIngestMs)} | ${fmt(r.healthFlushMs)} | ${r.flushes} | ${fmt(r.flushMeanMs)} | ${fmt(r.openWindows)} | ${fmt(r.windows)} | ${fmt(r.bytesPerWindow)} | ${fmt(r.topMs, 1)} | ${fmt(r.seriesMs, 1)} |`);
      }
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
  console.log(`load after: ${loadLine()}`);
}
