/**
 * Shadow Store costs on both backends, in one run: the time to flush a realistic batch of windows
 * (one minute of a busy target: total plus 100 keys in each of five dimensions, for 10 targets),
 * and the time to read a 30-day series at 5-minute steps.
 *
 *   npm run build && node dist/bench/ingest/store.js [runs=7]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PostgresStore } from '../../src/store/postgres.js';
import { readSeries } from '../../src/store/query.js';
import { sketchIndex } from '../../src/store/sketch.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import type { ShadowStore } from '../../src/store/store.js';
import { Window, type Dimension, type WindowRow } from '../../src/store/window.js';
import { median } from '../util.js';

const RUNS = Number(process.argv[2] ?? 7);
const PG_URL = process.env.SHADOWPLANE_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const DAY = 86_400_000;
const T0 = Date.UTC(2026, 0, 1);

function window(start: number, granularity: number, n: number): Window {
  const w = new Window(start, granularity);
  for (let i = 0; i < n; i++) {
    const latency = 1 + ((i * 37) % 200);
    w.addRequest(start + ((i * 997) % (granularity * 1000)), latency, sketchIndex(latency), 500, 1, i % 50 === 0, 10, 0.1);
  }
  return w;
}

function flushBatch(minute: number): WindowRow[] {
  const rows: WindowRow[] = [];
  const start = T0 + minute * 60_000;
  for (let t = 0; t < 10; t++) {
    rows.push(window(start, 60, 200).toRow(`target-${t}`, 'total', '', true));
    for (const dim of ['table', 'column', 'user', 'route', 'op'] as Dimension[]) {
      for (let k = 0; k < (dim === 'op' ? 2 : 100); k++) rows.push(window(start, 60, 20).toRow(`target-${t}`, dim, `${dim}-${k}`, true));
    }
  }
  return rows;
}

async function measure(name: string, store: ShadowStore): Promise<Record<string, number | string>> {
  await store.init();
  const flush: number[] = [];
  let rows = 0;
  for (let r = 0; r < RUNS; r++) {
    const batch = flushBatch(r);
    rows = batch.length;
    const t = performance.now();
    await store.writeWindows(batch);
    flush.push(performance.now() - t);
  }
  // 30 days of 5-minute total windows for one target.
  const month: WindowRow[] = [];
  for (let s = T0; s < T0 + 30 * DAY; s += 300_000) month.push(window(s, 300, 50).toRow('month', 'total', '', true));
  for (let i = 0; i < month.length; i += 2000) await store.writeWindows(month.slice(i, i + 2000));
  const query: number[] = [];
  let points = 0;
  for (let r = 0; r < RUNS; r++) {
    const t = performance.now();
    const series = await readSeries(store, [60, 300, 3600], { target: 'month', dim: 'total', key: '', stat: 'p99', from: T0, to: T0 + 30 * DAY, stepMs: 300_000 });
    query.push(performance.now() - t);
    points = series.points.length;
  }
  return {
    backend: name, rowsPerFlush: rows, flushMedianMs: median(flush), flushRowsPerSecond: rows / (median(flush) / 1000),
    seriesPoints: points, queryMedianMs: median(query),
  };
}

const dir = mkdtempSync(join(tmpdir(), 'sp-bench-store-'));
const results = [];
try {
  const sqlite = new SqliteStore(join(dir, 'bench.db'));
  results.push(await measure('sqlite', sqlite));
  await sqlite.close();
  const pg = new PostgresStore({ url: PG_URL, schema: `sp_bench_${process.pid}` });
  try {
    results.push(await measure('postgres', pg));
  } finally {
    await pg.dropSchema();
    await pg.close();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.log('| backend | rows per flush | flush median | rows/s | 30-day 5-min series (points) | query median |');
console.log('|---|---|---|---|---|---|');
for (const r of results) {
  console.log(`| ${r.backend} | ${r.rowsPerFlush} | ${(r.flushMedianMs as number).toFixed(1)} ms | ${Math.round(r.flushRowsPerSecond as number).toLocaleString('en-US')} | ${r.seriesPoints} | ${(r.queryMedianMs as number).toFixed(1)} ms |`);
}
console.log(JSON.stringify({ bench: 'store', runs: RUNS, results }));
