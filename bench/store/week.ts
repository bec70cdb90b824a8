/**
 * A week of 1-minute windows in the Shadow Store, written and read through the store API (no
 * service): N targets, each with the fleet bench's working set (1 total, 2 ops, 4 tables, 12
 * columns, 8 users: 27 series), one final window per series and minute over `--days` days, each
 * holding 1–6 requests with log-uniform latencies (0.25–100 ms). Rows go to writeWindows a batch of
 * whole minutes at a time (about 20,000 rows, at least one minute), oldest first, as flushes would
 * write them. Then, per backend:
 *
 * - write rate (rows/s) and bytes per stored window (SQLite: pages of the windows and series tables
 *   and their indexes, from dbstat; PostgreSQL: pg_total_relation_size of both);
 * - medians of 20 calls on different targets: topKeys of the column dimension over the last hour
 *   and the last day (what `/top` runs), queryWindows of one table key over the last hour and day
 *   (what `/series` reads);
 * - compaction: deleteWindowsBefore for a 3-day retention of the 1-minute windows, its time and
 *   the windows it deleted; then deleteEmptySeries, which finds none (every series keeps 3 days)
 *   but looks at every series: its time.
 *
 *   npm run build && node dist/bench/store/week.js [--backend both|sqlite|postgres] [--targets 10] [--days 7]
 *
 * PostgreSQL comes from SHADOWPLANE_PG_URL (default postgres://postgres@127.0.0.1:5432/test); each
 * run uses a schema of its own and drops it. The SQLite file lives in a temporary directory,
 * removed at the end.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { mulberry32 } from '../../src/core/random.js';
import { PostgresStore } from '../../src/store/postgres.js';
import { sketchIndex } from '../../src/store/sketch.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import type { ShadowStore } from '../../src/store/store.js';
import { Window, WindowValues, type Dimension, type WindowRow } from '../../src/store/window.js';
import { median } from '../util.js';
import { historyArgs, storedSize } from './stored.js';

const { backends: BACKENDS, targets: TARGETS, days: DAYS, pgUrl: PG_URL } = historyArgs();
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const ROWS_PER_WRITE = 20_000;
const progress = (line: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);

const targetName = (i: number) => `week-${String(i).padStart(6, '0')}`;

/** The 27 series of target `t`: its working set within a fleet of 40 tables, 23 columns and 500 users. */
function seriesOf(t: number): [Dimension, string][] {
  const tables = [0, 1, 2, 3].map((j) => (t + j * 10) % 40);
  return [
    ['total', ''],
    ['op', 'read'],
    ['op', 'write'],
    ...tables.map((table): [Dimension, string] => ['table', `t${table}`]),
    ...tables.flatMap((table) => [0, 1, 2].map((c): [Dimension, string] => ['column', `t${table}.c${(t + table + c * 7) % 23}`])),
    ...[0, 1, 2, 3, 4, 5, 6, 7].map((u): [Dimension, string] => ['user', `user-${(t * 7 + u * 61) % 500}`]),
  ];
}

/** The final windows of every target's series for the minutes [from, to). */
function minutes(random: () => number, from: number, to: number): WindowRow[] {
  const rows: WindowRow[] = [];
  const scratch = new WindowValues(1); // each window is read into a row, then released
  for (let start = from; start < to; start += MINUTE) {
    for (let t = 0; t < TARGETS; t++) {
      for (const [dim, key] of seriesOf(t)) {
        const w = new Window(start, 60, scratch);
        const requests = 1 + Math.floor(random() * 6);
        for (let r = 0; r < requests; r++) {
          const latency = Math.exp(random() * 6) / 4;
          const [at, bytes, n, failed] = [start + Math.floor(random() * MINUTE), Math.floor(random() * 4000), Math.floor(random() * 50), random() < 0.01];
          w.addRequest(at, latency, sketchIndex(latency), bytes, n, failed, 1, 1);
        }
        rows.push(w.toRow(targetName(t), dim, key, true));
        w.release();
      }
    }
  }
  return rows;
}

/** Median ms of 20 calls of `fn` (call i gets i). */
async function timed(fn: (i: number) => Promise<unknown>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < 20; i++) {
    const t0 = performance.now();
    await fn(i);
    times.push(performance.now() - t0);
  }
  return median(times);
}

async function run(backend: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'sp-week-'));
  const file = join(dir, 'shadowplane.db');
  const schema = `sp_week_${process.pid}_${Date.now().toString(36)}`;
  const store: ShadowStore = backend === 'sqlite' ? new SqliteStore(file) : new PostgresStore({ url: PG_URL, schema });
  try {
    await store.init();
    const end = Math.floor(Date.now() / MINUTE) * MINUTE;
    const start = end - DAYS * DAY;
    const step = Math.max(1, Math.floor(ROWS_PER_WRITE / (TARGETS * 27))) * MINUTE;
    const random = mulberry32(7);
    let written = 0;
    let writeMs = 0;
    for (let from = start; from < end; from += step) {
      const rows = minutes(random, from, Math.min(from + step, end));
      const t0 = performance.now();
      await store.writeWindows(rows);
      writeMs += performance.now() - t0;
      written += rows.length;
      if ((from - start) % (6 * HOUR) < step) progress(`${backend}: ${new Date(from).toISOString().slice(0, 16)} ${written.toLocaleString('en-US')} windows`);
    }
    const size = await storedSize(backend, file, PG_URL, schema);
    const target = (i: number) => targetName((i * 7919) % TARGETS);
    const top = (range: number) => timed((i) => store.topKeys({ target: target(i), granularity: 60, dim: 'column', from: end - range, to: end, by: 'count', limit: 10 }));
    const series = (range: number) => timed((i) => store.queryWindows({ target: target(i), granularity: 60, dim: 'table', key: seriesOf((i * 7919) % TARGETS)[3][1], from: end - range, to: end }));
    const top1h = await top(HOUR);
    const top1d = await top(DAY);
    const series1h = await series(HOUR);
    const series1d = await series(DAY);
    const c0 = performance.now();
    const deleted = await store.deleteWindowsBefore(60, end - 3 * DAY);
    const compactMs = performance.now() - c0;
    // Nothing is emptied here (every series keeps its last 3 days): the cost of looking at every series.
    const s0 = performance.now();
    const emptied = await store.deleteEmptySeries();
    const sweepMs = performance.now() - s0;
    const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
    return `| ${backend} | ${fmt(TARGETS)} | ${DAYS} | ${fmt(size.windows)} | ${fmt(written / (writeMs / 1000))} | ${fmt(size.bytes / size.windows, 1)} | ${fmt(top1h, 1)} | ${fmt(top1d, 1)} | ${fmt(series1h, 1)} | ${fmt(series1d, 1)} | ${fmt(deleted)} in ${fmt(compactMs / 1000, 1)} s | ${fmt(emptied)} in ${fmt(sweepMs)} ms |`;
  } finally {
    if (store instanceof PostgresStore) await store.dropSchema().catch(() => undefined);
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

console.log(`load before: ${loadavg().map((l) => l.toFixed(2)).join(' ')}; ${TARGETS} targets × 27 series × ${DAYS} days of 1-minute windows`);
console.log('| backend | targets | days | windows | rows/s written | B/window | top 1h ms | top 1d ms | series 1h ms | series 1d ms | compaction to 3 days | empty series deleted |');
console.log('|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|');
for (const backend of BACKENDS) console.log(await run(backend));
console.log(`load after: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
