/**
 * The shadow instance against the real PostgreSQL: created from a primary (schema + sample),
 * fed through the proxy's mirror, driven by the captured mix, and the primary unaffected when the
 * shadow is down or stalls.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { PgProxy } from '../../../src/shadows/sql/proxy.js';
import { ShadowMirror } from '../../../src/shadows/sql/mirror.js';
import { extractMetadata, initParser } from '../../../src/shadows/sql/metadata.js';
import { sampleUnit } from '../../../src/ingest/sampler.js';
import { createShadow } from '../../../src/shadows/sql/schema.js';
import { WorkloadDriver, findKnee } from '../../../src/shadows/sql/workload.js';
import { recommendCapacity } from '../../../src/shadows/sql/capacity.js';
import { EventSink } from '../../../src/shadows/sql/sink.js';
import { startAdmin } from '../../../src/shadows/sql/admin.js';
import { dropDatabase, freshDatabase, pgbenchInit, pgUrl, postgresAvailable, PG_HOST, PG_SKIP, PG_PORT, settled } from './helpers.js';

const exec = promisify(execFile);
const PRIMARY = 'sp_sql_test_primary';
const SHADOW = 'sp_sql_test_shadow';

const count = async (url: string, sql: string): Promise<number> => {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try { return Number((await c.query(sql)).rows[0].n); } finally { await c.end(); }
};

test('queries a windowed tap pre-selected are thinned at the scale of its capture share', async () => {
  await initParser();
  const metas = extractMetadata('SELECT abalance FROM pgbench_accounts WHERE aid = 1');
  // The tap pre-selected at readRate / captureShare inside its windows: the shares nest at that scale.
  const mirror = new ShadowMirror({ shadowUrl: pgUrl(SHADOW), writeRate: 0.01, readRate: 0.01, maxQueue: 100_000 });
  const ids = Array.from({ length: 2000 }, (_, i) => `tap-${i}`);
  for (const requestId of ids) {
    mirror.offer({ requestId, user: 'u', sql: 'SELECT abalance FROM pgbench_accounts WHERE aid = 1', at: 0, latencyMs: 1, bytes: 1, sampled: false, mirror: true, captureShare: 0.02 }, metas);
  }
  const expected = ids.filter((id) => sampleUnit(`m:${id}`) < 0.5).length;
  assert.ok(expected > 800 && expected < 1200);
  assert.equal(mirror.stats.offered, expected);
});

describe('shadow instance', async () => {
  const available = await postgresAvailable();

  before(async () => {
    if (!available) return;
    await freshDatabase(PRIMARY);
    await freshDatabase(SHADOW);
    await pgbenchInit(PRIMARY, 1);
    // A foreign key the row sample could not satisfy.
    await exec('psql', ['-X', '-q', '-d', pgUrl(PRIMARY), '-c', 'ALTER TABLE pgbench_accounts ADD CONSTRAINT acc_branch FOREIGN KEY (bid) REFERENCES pgbench_branches (bid)']);
  });

  after(async () => {
    if (!available) return;
    await dropDatabase(PRIMARY);
    await dropDatabase(SHADOW);
  });

  test('is created with the schema and a sample of rows, without foreign keys', { skip: available ? false : PG_SKIP }, async () => {
    const made = await createShadow(pgUrl(PRIMARY), pgUrl(SHADOW), 0.05);
    assert.equal(made.skippedForeignKeys, 1);
    const accounts = made.tables.find((t) => t.table === 'public.pgbench_accounts')!;
    assert.ok(accounts.rows > 3000 && accounts.rows < 7000, `about 5 % of 100000 rows, got ${accounts.rows}`);
    assert.equal(await count(pgUrl(SHADOW), 'SELECT count(*) AS n FROM pgbench_accounts'), accounts.rows);
    // The primary key came over in post-data.
    assert.equal(await count(pgUrl(SHADOW), "SELECT count(*) AS n FROM pg_indexes WHERE indexname = 'pgbench_accounts_pkey'"), 1);
    await assert.rejects(createShadow(pgUrl(PRIMARY), pgUrl(SHADOW), 0), RangeError);
  });

  test('is fed writes and reads through the proxy, then driven to a knee and sized', { skip: available ? false : PG_SKIP }, async () => {
    const mirror = new ShadowMirror({ shadowUrl: pgUrl(SHADOW), writeRate: 1, readRate: 1 });
    mirror.start();
    const sink = new EventSink();
    const proxy = new PgProxy({ upstreamHost: PG_HOST, upstreamPort: PG_PORT, target: 'p', sampleRate: 0.5, events: sink, mirror });
    const port = await proxy.listen(0);
    const admin = await startAdmin({ proxy, sink, mirror }, { host: '127.0.0.1', port: 0 });
    try {
      const c = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: PRIMARY });
      await c.connect();
      for (let i = 0; i < 20; i++) {
        await c.query('INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ($1, 1, $2, $3, now())', [i % 10 + 1, i + 1, 777]);
        await c.query(`SELECT abalance FROM pgbench_accounts WHERE aid = ${i * 97 + 1}`);
      }
      await c.end();
      while (mirror.queued() > 0 || mirror.stats.executed + mirror.stats.failed < mirror.stats.queued) await new Promise((r) => setTimeout(r, 50));
      assert.equal(await count(pgUrl(SHADOW), 'SELECT count(*) AS n FROM pgbench_history WHERE delta = 777'), 20);
      assert.equal(mirror.stats.droppedFull, 0);

      // Rates change at run time through the API.
      const base = `http://127.0.0.1:${(admin.server.address() as AddressInfo).port}`;
      const put = await fetch(`${base}/v1/rates`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ writeRate: 0, readRate: 0.5, sampleRate: 0.1 }) });
      assert.equal(put.status, 200);
      assert.deepEqual(mirror.rates(), { writeRate: 0, readRate: 0.5 });
      assert.equal(proxy.getSampleRate(), 0.1);
      const bad = await fetch(`${base}/v1/rates`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ writeRate: 2, color: 'red' }) });
      assert.equal(bad.status, 400);
      const problems = ((await bad.json()) as { problems: { path: string }[] }).problems.map((p) => p.path).sort();
      assert.deepEqual(problems, ['/body/color', '/body/writeRate']);
      const status = (await (await fetch(`${base}/v1/status`)).json()) as { mirror: { executed: number } };
      assert.ok(status.mirror.executed >= 40, JSON.stringify(status));

      const mix = mirror.mix.list();
      assert.deepEqual(mix.map((e) => [e.fingerprint, e.count]).sort(), [
        ['insert into pgbench_history (tid, bid, aid, delta, mtime) values ($1, $4, $2, $3, now())', 20],
        ['select abalance from pgbench_accounts where aid = $1', 20],
      ].sort());

      const driver = new WorkloadDriver({ url: pgUrl(SHADOW), connections: 2 });
      await driver.prepare(mix);
      const coverage = driver.coverage(mix);
      assert.equal(coverage.share, 1);
      const knee = await findKnee(driver, { slo: { quantile: 'p95', ms: 1000 }, startRate: 20, maxRate: 40, stepMs: 400 });
      await driver.close();
      assert.ok(knee.steps.length >= 1);
      for (const s of knee.steps) assert.equal(s.errors, 0);
      assert.ok(Number.isFinite(knee.steps[0].stat.xactCommit) && knee.steps[0].achievedRate > 0, JSON.stringify(knee.steps[0]));
      const rec = recommendCapacity({ knee, forecastPeakRate: 100, currentInstances: 1 });
      assert.equal(rec.kind, 'sql-capacity');
      assert.equal(rec.evidence.steps, knee.steps);
      if (knee.kneeRate > 0) assert.equal(rec.instancesNeeded, Math.ceil(130 / knee.kneeRate));
    } finally {
      await admin.close();
      await proxy.close();
      await mirror.stop();
      await sink.close();
    }
  });

  test('the primary is unaffected when the shadow is down or stalls', { skip: available ? false : PG_SKIP }, async () => {
    // A shadow that accepts connections and never answers, and one where nothing listens.
    const stalled = net.createServer(() => undefined);
    await new Promise<void>((r) => stalled.listen(0, '127.0.0.1', () => r()));
    const stalledPort = (stalled.address() as AddressInfo).port;
    const closedPort = await new Promise<number>((resolve) => {
      const s = http.createServer().listen(0, '127.0.0.1', () => { const p = (s.address() as AddressInfo).port; s.close(() => resolve(p)); });
    });
    for (const shadowPort of [stalledPort, closedPort]) {
      const mirror = new ShadowMirror({ shadowUrl: `postgres://postgres@127.0.0.1:${shadowPort}/x`, writeRate: 1, readRate: 1, maxQueue: 10 });
      mirror.start();
      const proxy = new PgProxy({ upstreamHost: PG_HOST, upstreamPort: PG_PORT, target: 'p', sampleRate: 0, events: { add: () => undefined }, mirror });
      const port = await proxy.listen(0);
      const c = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: PRIMARY });
      await c.connect();
      for (let i = 0; i < 50; i++) assert.equal((await c.query('SELECT bid FROM pgbench_branches WHERE bid = $1', [1])).rows[0].bid, 1);
      await c.end();
      await settled(() => mirror.stats.offered >= 50);
      assert.equal(mirror.stats.offered, 50);
      assert.ok(mirror.stats.droppedFull >= 40, `bounded queue drops: ${JSON.stringify(mirror.stats)}`);
      await proxy.close();
      await mirror.stop();
    }
    stalled.close();
  });
});
