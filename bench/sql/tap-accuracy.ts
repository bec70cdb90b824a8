/**
 * Metadata of the tap against the proxy's on the same traffic: the 50-statement corpus
 * (test/shadows/sql/fixtures) sent `--rounds` times through a pg-proxy (native engine, 100 %
 * sampling) while a pg-tap (100 %) captures the proxy's upstream sessions on `lo`. Events are
 * compared as a multiset of (user, op, table, columns, route, bytes, rows, error) — request ids,
 * timestamps and latencies differ by nature — for precision (tap events the proxy also reported)
 * and recall (proxy events the tap also reported). Latency is compared separately: the median and
 * p99 of |tap − proxy| per query, matched by statement order within each session.
 *
 *   npx tsx bench/sql/tap-accuracy.ts [--rounds 10] [--tap-rate 1] [--window-ms 50]
 *
 * With `--tap-rate` below 0.25 the tap captures in windows (see docs/sql.md): its events are then a
 * sample, so precision is the figure (recall is about the rate by design), and `estimate` is the
 * number of proxy events the tap's events stand for (the sum of 1 / samplingRate) against the real one.
 *
 * Needs PostgreSQL at 127.0.0.1:5432 (trust) and CAP_NET_RAW. Creates and drops a role and a
 * database with a random suffix.
 */
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import pg from 'pg';
import type { RequestEvent } from '../../src/model/event.js';
import { initParser } from '../../src/shadows/sql/metadata.js';
import { PgProxy } from '../../src/shadows/sql/proxy.js';
import { PgTap } from '../../src/shadows/sql/tap.js';
import { catalogOf, corpusSchema, loadCorpus } from '../../test/shadows/sql/corpus.js';

const roundsAt = process.argv.indexOf('--rounds');
const ROUNDS = roundsAt > 0 ? Number(process.argv[roundsAt + 1]) : 10;
const option = (name: string, def: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const TAP_RATE = option('tap-rate', 1);
const WINDOW_MS = option('window-ms', 50);
const suffix = randomBytes(4).toString('hex');
const ROLE = `sp_tap_bench_${suffix}`;
const DB = `sp_sql_test_tapacc_${suffix}`;

async function admin(sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/postgres' });
  await c.connect();
  try { await c.query(sql); } finally { await c.end(); }
}

const keyOf = ({ requestId: _r, at: _a, latencyMs: _l, target: _t, samplingRate: _s, ...rest }: RequestEvent): string => JSON.stringify(rest);

function counts(events: RequestEvent[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const e of events) if (e.user === ROLE) m.set(keyOf(e), (m.get(keyOf(e)) ?? 0) + 1);
  return m;
}

async function main(): Promise<void> {
  await initParser();
  await admin(`CREATE ROLE ${ROLE} LOGIN`);
  await admin(`CREATE DATABASE ${DB} OWNER ${ROLE}`);
  const fromProxy: RequestEvent[] = [];
  const fromTap: RequestEvent[] = [];
  const catalog = catalogOf(corpusSchema());
  const proxy = new PgProxy({ upstreamHost: '127.0.0.1', upstreamPort: 5432, target: 'db', sampleRate: 1, events: { add: (e) => fromProxy.push(e) }, catalog });
  const tap = new PgTap({ interface: 'lo', port: 5432, sampleRate: TAP_RATE, windowMs: WINDOW_MS, target: 'db', events: { add: (e) => fromTap.push(e) }, catalog });
  const load = loadavg().map((x) => +x.toFixed(1));
  try {
    const setup = new pg.Client({ connectionString: `postgres://${ROLE}@127.0.0.1:5432/${DB}` });
    await setup.connect();
    await setup.query(corpusSchema());
    await setup.end();
    await tap.start();
    const port = await proxy.listen(0);
    for (let r = 0; r < ROUNDS; r++) {
      const c = new pg.Client({ connectionString: `postgres://${ROLE}@127.0.0.1:${port}/${DB}` });
      await c.connect();
      for (const item of loadCorpus()) {
        await c.query('BEGIN');
        await c.query(item.sql.replace(/\$\d+/g, 'NULL')).catch(() => undefined);
        await c.query('ROLLBACK');
      }
      await c.end();
    }
    // The tap hands queries over as the kernel retires ring blocks (every 10 ms at most).
    await new Promise((r) => setTimeout(r, 500));
  } finally {
    await proxy.close();
    await tap.close();
    await admin(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`);
    await admin(`DROP ROLE IF EXISTS ${ROLE}`);
  }
  const p = counts(fromProxy), t = counts(fromTap);
  let both = 0, nTap = 0, nProxy = 0;
  for (const [k, n] of t) { nTap += n; both += Math.min(n, p.get(k) ?? 0); }
  for (const n of p.values()) nProxy += n;
  const mine = (events: RequestEvent[]): RequestEvent[] => events.filter((e) => e.user === ROLE).sort((a, b) => a.at - b.at);
  const tapMine = mine(fromTap), proxyMine = mine(fromProxy);
  const deltas = tapMine.length === proxyMine.length ? tapMine.map((e, i) => Math.abs(e.latencyMs - proxyMine[i].latencyMs)).sort((a, b) => a - b) : [];
  const result = {
    rounds: ROUNDS, statements: loadCorpus().length, tapRate: TAP_RATE, windowMs: WINDOW_MS, loadBefore: load, proxyEvents: nProxy, tapEvents: nTap,
    precision: nTap ? both / nTap : 0, recall: nProxy ? both / nProxy : 0,
    estimate: fromTap.filter((e) => e.user === ROLE).reduce((sum, e) => sum + 1 / (e.samplingRate ?? 1), 0),
    latencyAbsDiffMs: deltas.length ? { median: deltas[deltas.length >> 1], p99: deltas[Math.floor(deltas.length * 0.99)] } : null,
    tap: tap.stats,
  };
  process.stdout.write(JSON.stringify(result, null, 1) + '\n');
}

main().catch((err) => { console.error(err); process.exitCode = 1; });
