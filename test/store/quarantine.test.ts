/**
 * A flush never stops on one bad row, and a stop never drops what it cannot write, on both
 * backends. The bad rows are real: each is one its backend refuses (SQLite: a NaN sum against
 * NOT NULL; PostgreSQL: a NUL in text), put into the rollups below the API's validation, as an
 * in-process caller could. The failing store is real too: another connection holds SQLite's write
 * lock, or the PostgreSQL windows table is renamed away.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import Database from 'better-sqlite3';
import pg from 'pg';
import { PostgresStore } from '../../src/store/postgres.js';
import { spillDir } from '../../src/store/spill.js';
import { TEST_PG_URL, postgresSkipReason, uniqueSchema } from '../helpers/postgres.js';
import { T0, testService } from '../helpers/service.js';

type Harness = Awaited<ReturnType<typeof testService>>;

interface Backend {
  name: 'sqlite' | 'postgres';
  /** A store for the service (undefined: SQLite in the data directory), opened on `schema`. */
  store(schema: string): PostgresStore | undefined;
  /** Adds a window the backend refuses; returns its dimension and key, and the requests it adds to the total. */
  poison(h: Harness, at: number): { dim: string; key: string; requests: number };
  refusal: RegExp;
  /** Makes the store in `dataDir` or `schema` refuse every write until the returned function is called. */
  block(dataDir: string, schema: string): Promise<() => Promise<void>>;
}

const backends: Backend[] = [
  {
    name: 'sqlite',
    store: () => undefined,
    poison(h, at) {
      h.service.engine.addSample('orders-db', 'm', at, Number.NaN);
      return { dim: 'metric', key: 'm', requests: 0 };
    },
    refusal: /NOT NULL constraint failed: windows\.sum/,
    async block(dataDir) {
      const db = new Database(join(dataDir, 'shadowplane.db'));
      db.exec('BEGIN EXCLUSIVE');
      return async () => {
        db.exec('ROLLBACK');
        db.close();
      };
    },
  },
  {
    name: 'postgres',
    store: (schema) => new PostgresStore({ url: TEST_PG_URL, schema }),
    poison(h, at) {
      h.service.engine.addEvent('orders-db', { op: 'read', table: 'a\u0000b', bytes: 1, latencyMs: 1, at }, 1);
      return { dim: 'table', key: 'a\u0000b', requests: 1 };
    },
    refusal: /invalid byte sequence for encoding "UTF8": 0x00/,
    async block(_dataDir, schema) {
      const client = new pg.Client({ connectionString: TEST_PG_URL });
      await client.connect();
      // Final windows and open ones: a flush may write either.
      for (const table of ['windows', 'open_windows']) await client.query(`ALTER TABLE "${schema}".${table} RENAME TO ${table}_away`);
      return async () => {
        for (const table of ['windows', 'open_windows']) await client.query(`ALTER TABLE "${schema}".${table}_away RENAME TO ${table}`);
        await client.end();
      };
    },
  },
];

const event = (at: number, i: number) => ({ target: 'orders-db', op: 'read', table: 'orders', bytes: 10, latencyMs: 1, requestId: `r-${i}`, at });

async function storedCount(h: Harness, from: number, to: number): Promise<number> {
  const windows = await h.service.store.queryWindows({ target: 'orders-db', granularity: 60, dim: 'total', key: '', from, to });
  return windows.reduce((sum, w) => sum + w.count, 0);
}

for (const b of backends) {
  describe(`quarantine and spill (${b.name})`, () => {
    test('a window the store refuses is quarantined, counted and listed; every other window is written', async (t) => {
      if (b.name === 'postgres') {
        const skip = await postgresSkipReason();
        if (skip) return t.skip(skip);
      }
      const schema = uniqueSchema('sp_quar');
      const store = b.store(schema);
      const h = await testService({}, store);
      try {
        const at = T0 + 1000;
        const { requests, ...bad } = b.poison(h, at);
        const res = await h.service.api.inject({ method: 'POST', url: '/v1/events', payload: Array.from({ length: 20 }, (_, i) => event(at + i, i)) });
        assert.equal(res.json().accepted, 20);
        await h.service.flush(); // open windows: the refused one is quarantined now
        h.clock.advance(10 * 60_000);
        await h.service.flush(); // closed and rolled up: refused again at each granularity
        await h.service.api.inject({ method: 'POST', url: '/v1/events', payload: [event(h.clock.now(), 99)] });
        await h.service.flush(); // later flushes go on
        assert.equal(await storedCount(h, T0, h.clock.now() + 60_000), 21 + requests);

        const list = (await h.service.api.inject({ method: 'GET', url: '/v1/store/quarantine' })).json();
        const fine = list.windows.filter((q: { window: { granularity: number } }) => q.window.granularity === 60);
        assert.equal(fine.length, 1, JSON.stringify(list));
        assert.deepEqual({ dim: fine[0].window.dim, key: fine[0].window.key, target: fine[0].window.target, start: fine[0].window.start }, { ...bad, target: 'orders-db', start: T0 });
        assert.match(fine[0].error, b.refusal);
        assert.ok(fine[0].attempts >= 2, 'refused while open, then closed');
        assert.ok(list.count >= 2, 'the 5-minute parent it rolled into is refused and kept too');
        const metrics = (await h.service.api.inject({ method: 'GET', url: '/metrics' })).body;
        assert.equal(Number(/^shadowplane_store_quarantine_windows (\d+)/m.exec(metrics)?.[1]), list.count);
        assert.ok(Number(/^shadowplane_store_quarantined_writes_total (\d+)/m.exec(metrics)?.[1]) >= list.count);
        assert.equal((await h.service.api.inject({ method: 'GET', url: '/readyz' })).statusCode, 200);
      } finally {
        if (store) await new PostgresStore({ url: TEST_PG_URL, schema }).dropSchema();
        await h.cleanup();
      }
    });

    test('a store that takes no flush makes /readyz fail; a stop keeps the windows on disk and the next start writes them', { timeout: 120_000 }, async (t) => {
      if (b.name === 'postgres') {
        const skip = await postgresSkipReason();
        if (skip) return t.skip(skip);
      }
      const schema = uniqueSchema('sp_spill');
      const dataDir = mkdtempSync(join(tmpdir(), 'sp-spill-'));
      const first = await testService({ store: { dataDir } }, b.store(schema));
      let second: Harness | undefined;
      let unblock: (() => Promise<void>) | undefined;
      try {
        const at = T0 + 1000;
        await first.service.api.inject({ method: 'POST', url: '/v1/events', payload: Array.from({ length: 30 }, (_, i) => event(at + i, i)) });
        unblock = await b.block(dataDir, schema);
        await assert.rejects(first.service.flush(), (err: Error & { code?: string }) => err.code === 'SHADOWPLANE_ERR_STORE_UNAVAILABLE');
        const ready = await first.service.api.inject({ method: 'GET', url: '/readyz' });
        assert.equal(ready.statusCode, 503);
        assert.match(ready.json().detail, /has failed every flush since/);

        const report = await first.service.stop();
        assert.ok(report.spilled, 'the stop says it kept the windows');
        assert.equal(readdirSync(spillDir(dataDir)).filter((n) => n.endsWith('.ndjson')).length, 1);
        assert.ok(report.spilled.path.startsWith(spillDir(dataDir)));
        await unblock();
        unblock = undefined;

        second = await testService({ store: { dataDir } }, b.store(schema));
        assert.deepEqual(readdirSync(spillDir(dataDir)), [], 'the spill file is written and removed');
        assert.equal(await storedCount(second, T0, T0 + 60_000), 30, 'nothing acknowledged was lost');
        assert.equal((await second.service.api.inject({ method: 'GET', url: '/readyz' })).statusCode, 200);
      } finally {
        await unblock?.();
        await second?.service.stop();
        if (b.name === 'postgres') await new PostgresStore({ url: TEST_PG_URL, schema }).dropSchema();
        await first.cleanup();
        rmSync(dataDir, { recursive: true, force: true });
      }
    });
  });
}
