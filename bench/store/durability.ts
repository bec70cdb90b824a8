/**
 * Acknowledged vs stored through crashes and stops, with real `shadowplane serve` processes:
 *
 * - `kill -9` while events arrive at a steady rate (several rounds): what was acknowledged, what
 *   the restarted service has stored, and the bound (events of one flush interval);
 * - SIGTERM: everything acknowledged must be stored;
 * - SIGTERM while the store cannot be written (SQLite: another connection holds the write lock;
 *   PostgreSQL: the windows tables renamed away): the windows go to a spill file, the next start
 *   writes them;
 * - the poison pills of issue 18 (samples of ±1.7e308 in one window; an event whose table holds a
 *   NUL): refused, and the events after them stored;
 * - PostgreSQL only: the hand-over time from `kill -9` of the lease holder to the standby answering
 *   `/readyz` 200.
 *
 *   npm run build && node dist/bench/store/durability.js [backend=both|sqlite|postgres] [rate=200] [seconds=8] [rounds=3]
 *
 * PostgreSQL comes from SHADOWPLANE_PG_URL (default postgres://postgres@127.0.0.1:5432/test).
 */
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { exited, startServe, type Serve } from '../../test/helpers/serve.js';
import { median } from '../util.js';

const BACKENDS = process.argv[2] === 'sqlite' || process.argv[2] === 'postgres' ? [process.argv[2]] : ['sqlite', 'postgres'];
const RATE = Number(process.argv[3] ?? 200);
const SECONDS = Number(process.argv[4] ?? 8);
const ROUNDS = Number(process.argv[5] ?? 3);
const FLUSH_MS = 5000;
const PG_URL = process.env.SHADOWPLANE_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const dir = mkdtempSync(join(tmpdir(), 'sp-durability-'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function yaml(backend: string, dataDir: string, schema: string): string {
  const store = backend === 'postgres' ? `backend: postgres, postgres: { url: ${JSON.stringify(PG_URL)}, schema: ${schema}, leaseCheck: 200ms }, ` : '';
  return `server: { port: 0 }\nstore: { ${store}dataDir: ${JSON.stringify(dataDir)}, flushInterval: ${FLUSH_MS}ms }\ntargets:\n  - { name: orders-db, kind: database }\n`;
}

function serve(config: string): Promise<Serve> {
  const file = join(dir, `${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, config);
  return startServe(file);
}

let seq = 0;
/** Sends RATE events per second in batches of RATE/10 for `ms`; returns how many were acknowledged. */
async function send(url: string, ms: number): Promise<number> {
  let acked = 0;
  const end = Date.now() + ms;
  let next = Date.now();
  while (Date.now() < end) {
    next += 100;
    const body = Array.from({ length: RATE / 10 }, () => JSON.stringify({ target: 'orders-db', op: 'read', table: 'orders', bytes: 10, latencyMs: 1, requestId: `e-${seq++}`, at: Date.now() })).join('\n');
    try {
      const res = await fetch(`${url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body });
      if (res.ok) acked += ((await res.json()) as { accepted: number }).accepted;
    } catch {
      return acked; // the process is gone: this request was never acknowledged
    }
    await sleep(Math.max(0, next - Date.now()));
  }
  return acked;
}

async function stored(url: string, from: number): Promise<number> {
  const res = await fetch(`${url}/v1/targets/orders-db/series?metric=count&from=${from - 60_000}&to=${Date.now() + 120_000}&step=1m`);
  return ((await res.json()) as { points: { v: number }[] }).points.reduce((sum, p) => sum + p.v, 0);
}

async function waitReady(url: string): Promise<number> {
  const t0 = Date.now();
  while ((await fetch(`${url}/readyz`).catch(() => undefined))?.status !== 200) await sleep(20);
  return Date.now() - t0;
}

async function run(backend: string): Promise<void> {
  const schema = `sp_durability_${process.pid}_${Date.now().toString(36)}`;
  const dataDir = join(dir, `${backend}-data`);
  const config = yaml(backend, dataDir, schema);
  const from = Date.now();
  const row = (what: string, acked: number, kept: number, note = '') => console.log(`| ${backend} | ${what} | ${acked} | ${kept} | ${acked - kept} | ${note} |`);
  let s = await serve(config);
  let before = 0;
  try {
    for (let r = 1; r <= ROUNDS; r++) {
      // Kill at a point that does not line up with the flush interval.
      const acked = await send(s.url, SECONDS * 1000 + Math.floor(Math.random() * FLUSH_MS));
      s.child.kill('SIGKILL');
      await exited(s.child);
      s = await serve(config);
      const now = await stored(s.url, from);
      row(`kill -9, round ${r}`, acked, now - before, `bound: one flush interval = ${(RATE * FLUSH_MS) / 1000} events`);
      before = now;
    }
    let acked = await send(s.url, SECONDS * 1000);
    s.child.kill('SIGTERM');
    await exited(s.child);
    s = await serve(config);
    let now = await stored(s.url, from);
    row('SIGTERM', acked, now - before);
    before = now;

    acked = await send(s.url, SECONDS * 1000);
    const unblock = await block(backend, dataDir, schema);
    s.child.kill('SIGTERM');
    await exited(s.child);
    await unblock();
    s = await serve(config);
    now = await stored(s.url, from);
    row('SIGTERM, store unwritable (spill file)', acked, now - before);
    before = now;

    const at = Date.now();
    const samples = [1.7e308, 1.7e308, -1.7e308, -1.7e308].map((value, i) => ({ target: 'orders-db', metric: 'm', at: i < 2 ? at - 60_000 : at, value }));
    const pills = [
      await fetch(`${s.url}/v1/samples`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(samples) }),
      await fetch(`${s.url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ target: 'orders-db', op: 'read', table: 'a\u0000b', bytes: 1, latencyMs: 1, at }) }),
    ].map((res) => res.status);
    acked = await send(s.url, SECONDS * 1000);
    s.child.kill('SIGTERM');
    await exited(s.child);
    s = await serve(config);
    now = await stored(s.url, from);
    row('after the poison pills', acked, now - before, `pills answered ${pills.join(', ')}`);
    before = now;

    if (backend === 'postgres') {
      const times: number[] = [];
      for (let r = 0; r < ROUNDS; r++) {
        const standby = await serve(yaml(backend, join(dir, `standby-${r}`), schema));
        await send(s.url, 1000);
        s.child.kill('SIGKILL');
        await exited(s.child);
        times.push(await waitReady(standby.url));
        s = standby;
      }
      console.log(`\npostgres hand-over, kill -9 of the holder to the standby's /readyz 200 (leaseCheck 200ms): median ${median(times)} ms, runs ${times.join(', ')} ms\n`);
    }
  } finally {
    s.child.kill('SIGTERM');
    await exited(s.child);
    if (backend === 'postgres') {
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await client.end();
    }
  }
}

/** Makes the store refuse writes until the returned function is called. */
async function block(backend: string, dataDir: string, schema: string): Promise<() => Promise<void>> {
  if (backend === 'sqlite') {
    const db = new Database(join(dataDir, 'shadowplane.db'));
    db.exec('BEGIN EXCLUSIVE');
    return async () => {
      db.exec('ROLLBACK');
      db.close();
    };
  }
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  // Final windows and open ones: a flush may write either.
  for (const table of ['windows', 'open_windows']) await client.query(`ALTER TABLE ${schema}.${table} RENAME TO ${table}_away`);
  return async () => {
    for (const table of ['windows', 'open_windows']) await client.query(`ALTER TABLE ${schema}.${table}_away RENAME TO ${table}`);
    await client.end();
  };
}

console.log(`rate ${RATE} events/s, ${SECONDS} s per phase, flush interval ${FLUSH_MS} ms\n`);
console.log('| backend | run | acknowledged | stored | lost | note |\n|---|---|---|---|---|---|');
try {
  for (const backend of BACKENDS) await run(backend);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
