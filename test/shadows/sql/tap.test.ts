/**
 * The tap against the real PostgreSQL on 127.0.0.1:5432, captured on `lo`: the same events as the
 * proxy for the same traffic (the corpus sent through a pg-proxy, whose upstream connection the tap
 * sees), a session open before the tap started picked up at a proven boundary, kernel drops counted
 * with a deliberately small ring, and a clear refusal without CAP_NET_RAW. Other tenants use the same
 * server: every session here logs in as a role of its own and events are filtered by it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import pg from 'pg';
import type { RequestEvent } from '../../../src/model/event.js';
import { initParser } from '../../../src/shadows/sql/metadata.js';
import { PgProxy } from '../../../src/shadows/sql/proxy.js';
import { PgTap, tapBinding } from '../../../src/shadows/sql/tap.js';
import { cli } from '../../helpers/cli.js';
import { catalogOf, corpusSchema, loadCorpus } from './corpus.js';
import { PG_HOST, PG_PORT, pgUrl, postgresAvailable, settled } from './helpers.js';

const exec = promisify(execFile);
const suffix = randomBytes(4).toString('hex');
const ROLE = `sp_tap_${suffix}`;
const DB = `sp_sql_test_tap_${suffix}`;

async function admin(sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: pgUrl('postgres') });
  await c.connect();
  try { await c.query(sql); } finally { await c.end(); }
}

/** Events of this file's role only, without the fields that differ between two observers. */
const comparable = (events: RequestEvent[]): string[] =>
  events.filter((e) => e.user === ROLE).map(({ requestId: _r, at: _a, latencyMs: _l, ...rest }) => JSON.stringify(rest)).sort();

const built = !(tapBinding() instanceof Error);

test('the tap is built (npm ci compiles it; CI requires it)', { skip: process.env.CI !== 'true' && !built }, () => {
  const native = tapBinding();
  assert.ok(!(native instanceof Error), native instanceof Error ? native.message : '');
});

test('without CAP_NET_RAW pg-tap refuses, naming the capability', { skip: !built && process.env.CI !== 'true' }, async () => {
  // setpriv drops the capability from this root process's child: socket(AF_PACKET) then fails.
  const run = exec('setpriv', ['--inh-caps=-net_raw', '--bounding-set=-net_raw', process.execPath, ...cli('pg-tap', '--interface', 'lo', '--port', String(PG_PORT))]);
  const err = await run.then(() => undefined, (e: { code: number; stderr: string }) => e);
  assert.ok(err, 'pg-tap must fail without CAP_NET_RAW');
  assert.equal(err.code, 1);
  assert.match(err.stderr, /Operation not permitted — capturing packets needs CAP_NET_RAW/);
});

test('an unknown interface and a ring smaller than two blocks are refused', { skip: !built }, async () => {
  const events = { add: () => undefined };
  await assert.rejects(new PgTap({ interface: `nope${suffix.slice(0, 4)}`, port: PG_PORT, sampleRate: 1, target: 't', events }).start(), { code: 'ENODEV' });
  await assert.rejects(new PgTap({ interface: 'lo', port: PG_PORT, sampleRate: 1, target: 't', events, ringBytes: 4096, blockBytes: 4096 }).start(), { code: 'EINVAL' });
});

test('a session that switches to TLS is counted and skipped', { skip: !built }, async () => {
  // The shared server runs without SSL, so a stand-in on a private port answers SSLRequest with
  // 'S' as PostgreSQL with ssl=on does; the pg client then starts its TLS handshake.
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.once('data', () => s.write('S'));
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const tap = new PgTap({ interface: 'lo', port, sampleRate: 1, target: 'db', events: { add: () => undefined } });
  await tap.start();
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'u', database: 'd', ssl: { rejectUnauthorized: false } });
  const connecting = client.connect().catch(() => undefined);
  try {
    await settled(() => tap.stats.tlsSkipped > 0);
  } finally {
    for (const s of sockets) s.destroy();
    await connecting;
    await tap.close();
    await new Promise<void>((r) => server.close(() => r()));
  }
  assert.equal(tap.stats.tlsSkipped, 1);
  assert.equal(tap.stats.queries, 0);
});

describe('pg-tap against PostgreSQL on lo', { skip: !built && process.env.CI !== 'true' }, async () => {
  const available = await postgresAvailable();
  const url = `postgres://${ROLE}@${PG_HOST}:${PG_PORT}/${DB}`;

  before(async () => {
    if (!available) return;
    await initParser();
    await admin(`CREATE ROLE ${ROLE} LOGIN`);
    await admin(`CREATE DATABASE ${DB} OWNER ${ROLE}`);
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try { await c.query(corpusSchema()); } finally { await c.end(); }
  });

  after(async () => {
    if (!available) return;
    await admin(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`);
    await admin(`DROP ROLE IF EXISTS ${ROLE}`);
  });

  test('the corpus through pg-proxy: the tap reports the very events the proxy does', { skip: !available }, async () => {
    const catalog = catalogOf(corpusSchema());
    const fromProxy: RequestEvent[] = [];
    const fromTap: RequestEvent[] = [];
    const proxy = new PgProxy({ upstreamHost: PG_HOST, upstreamPort: PG_PORT, target: 'db', sampleRate: 1, events: { add: (e) => fromProxy.push(e) }, catalog });
    const tap = new PgTap({ interface: 'lo', port: PG_PORT, sampleRate: 1, target: 'db', events: { add: (e) => fromTap.push(e) }, catalog });
    await tap.start();
    const port = await proxy.listen(0);
    const corpus = loadCorpus();
    try {
      const c = new pg.Client({ connectionString: `postgres://${ROLE}@127.0.0.1:${port}/${DB}` });
      await c.connect();
      try {
        for (const item of corpus) {
          // Simple protocol with literals, then the extended protocol with parameters where it has any.
          await c.query('BEGIN');
          await c.query(item.sql.replace(/\$\d+/g, 'NULL')).catch(() => undefined);
          await c.query('ROLLBACK');
        }
        await c.query('SELECT o_orderkey FROM orders WHERE o_orderkey = $1', [7]);
        await c.query('SELECT nope FROM orders').catch(() => undefined);
      } finally { await c.end(); }
      await settled(() => comparable(fromTap).length >= comparable(fromProxy).length && comparable(fromProxy).length > 0);
    } finally {
      await proxy.close();
      await tap.close();
    }
    const expected = comparable(fromProxy);
    assert.ok(expected.length >= corpus.length, `the proxy reported ${expected.length} events`);
    assert.deepEqual(comparable(fromTap), expected);
    assert.ok(fromTap.every((e) => e.samplingRate === 1), 'every event carries the rate it was kept at');
    assert.ok(fromTap.some((e) => e.user === ROLE && e.error === '42703'), 'the SQLSTATE of a failed query');
    const stats = tap.stats;
    assert.equal(stats.gaps, 0);
    assert.equal(stats.kernelDrops, 0);
    assert.equal(stats.windows, 0, 'at 100 % the capture is continuous');
    assert.equal(stats.captureShare, 1);
  });

  test('below 25 % the capture runs in windows: whole queries only, their sampling rate, no false gaps', { skip: !available }, async () => {
    const events: RequestEvent[] = [];
    // 20 % in 100 ms windows: one gate per 500 ms period, the capture on 50 ms before it.
    const tap = new PgTap({ interface: 'lo', port: PG_PORT, sampleRate: 0.2, windowMs: 100, target: 'db', events: { add: (e) => events.push(e) } });
    await tap.start();
    const fast = new pg.Client({ connectionString: url });
    const slow = new pg.Client({ connectionString: url });
    await fast.connect();
    await slow.connect();
    await fast.query("INSERT INTO region VALUES (0, 'AFRICA', ''), (1, 'AMERICA', ''), (2, 'ASIA', ''), (3, 'EUROPE', ''), (4, 'MIDDLE EAST', '')");
    await fast.query("INSERT INTO nation VALUES (0, 'ALGERIA', 0, '')");
    let fastSent = 0;
    try {
      const until = Date.now() + 3000;
      await Promise.all([
        (async () => { while (Date.now() < until) { await fast.query(`SELECT r_name AS ${ROLE} FROM region`); fastSent++; } })(),
        (async () => { while (Date.now() < until) await slow.query(`SELECT pg_sleep(0.03), n_name AS ${ROLE} FROM nation LIMIT 1`); })(),
      ]);
      await settled(() => tap.stats.windows >= 4 && events.some((e) => e.table === 'nation' && e.route?.includes(ROLE)));
    } finally {
      await fast.query('DELETE FROM region; DELETE FROM nation');
      await fast.end();
      await slow.end();
      await tap.close();
    }
    const stats = tap.stats;
    assert.ok(stats.windows >= 4, JSON.stringify(stats));
    assert.equal(stats.gaps, 0, 'time the capture was off is not a gap');
    assert.equal(stats.kernelDrops + stats.truncated, 0);
    assert.ok(stats.captureShare > 0 && stats.captureShare <= 0.25, `captureShare ${stats.captureShare}`);
    // Other tenants' sessions on the server are captured too: this test's queries carry its role as an alias.
    const mine = events.filter((e) => e.route?.includes(ROLE));
    const region = mine.filter((e) => e.table === 'region');
    const nation = mine.filter((e) => e.table === 'nation');
    assert.ok(region.length > 0 && region.length < fastSent / 2, `${region.length} of ${fastSent} reported`);
    assert.ok(region.every((e) => e.rows === 5), 'each reported query was seen from its start to its end');
    // A query still running when its window closes is followed to its end: its latency is whole.
    assert.ok(nation.length > 0 && nation.every((e) => e.rows === 1 && e.latencyMs >= 30), JSON.stringify(nation.map((e) => e.latencyMs)));
    for (const e of [...region, ...nation]) assert.ok(e.samplingRate! > 0 && e.samplingRate! <= 0.2 + 1e-9, `samplingRate ${e.samplingRate}`);
    // Both sessions began after the tap: their startup packets pass the filter even between windows.
    assert.ok(mine.every((e) => e.user === ROLE), JSON.stringify(mine.find((e) => e.user !== ROLE)));
  });

  test('a session open before the tap started is followed from the first boundary it proves', { skip: !available }, async () => {
    const events: RequestEvent[] = [];
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    const tap = new PgTap({ interface: 'lo', port: PG_PORT, sampleRate: 1, target: 'db', events: { add: (e) => events.push(e) } });
    try {
      await c.query('SELECT 1 FROM customer');
      await tap.start();
      // The first exchange after the start only proves the boundary (the server's ReadyForQuery).
      for (let i = 0; i < 3; i++) await c.query('SELECT c_name FROM customer WHERE c_custkey = $1', [i]);
      await c.query('SELECT n_name FROM nation');
      await settled(() => events.some((e) => e.table === 'nation'));
    } finally {
      await c.end();
      await tap.close();
    }
    // Picked up mid-stream there is no startup packet, so no user: the events carry an empty one.
    const mine = events.filter((e) => e.table === 'nation' || e.table === 'customer');
    assert.ok(mine.some((e) => e.table === 'nation' && e.user === '' && e.op === 'read'), JSON.stringify(mine));
    assert.ok(mine.some((e) => e.table === 'customer' && e.rows === 0 && e.columns?.includes('c_custkey')));
    const stats = tap.stats;
    assert.ok(stats.midstream >= 1);
    assert.ok(stats.resynced >= 1);
  });

  test('with a deliberately small ring, kernel drops are counted and the session is followed again after its gap', { skip: !available }, async () => {
    const events: RequestEvent[] = [];
    const tap = new PgTap({ interface: 'lo', port: PG_PORT, sampleRate: 1, target: 'db', events: { add: (e) => events.push(e) }, ringBytes: 2 << 16, blockBytes: 1 << 16 });
    await tap.start();
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      // 30 MB in one result: two 64 KiB blocks cannot hold it while the capture thread sleeps.
      for (let i = 0; i < 5 && tap.stats.kernelDrops + tap.stats.truncated === 0; i++) {
        await c.query("SELECT repeat('x', 1000) FROM generate_series(1, 30000)");
        await settled(() => tap.stats.kernelDrops > 0);
      }
      // The capture thread may still be behind the flood (and drop again) when the first small queries
      // go by: query until one is reported after a proven boundary, as a client's later work would be.
      for (let i = 0; i < 30 && !events.some((e) => e.table === 'region'); i++) {
        await c.query('SELECT r_name FROM region');
        await new Promise((r) => setTimeout(r, 100));
      }
      await settled(() => events.some((e) => e.table === 'region'));
    } finally {
      await c.end();
      await tap.close();
    }
    const stats = tap.stats;
    assert.ok(stats.kernelDrops + stats.truncated > 0, JSON.stringify(stats));
    assert.ok(stats.gaps > 0, 'a lost packet is a gap in its stream');
    assert.ok(stats.resynced > 0);
    assert.ok(events.some((e) => e.table === 'region' && e.user === ROLE), 'queries after the gap are reported again');
    assert.ok(!events.some((e) => e.user === ROLE && e.route?.includes('generate_series') && e.rows !== 30000), 'nothing reported across a gap');
  });
});
