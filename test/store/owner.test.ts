/**
 * One owner per store: a second instance on a data directory is refused with the holder named
 * (in process and as real `serve` processes, including after the holder was killed with -9), and
 * on PostgreSQL a second `serve` runs as a standby that refuses writes and takes over the loops
 * when the holder is killed.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import pg from 'pg';
import { PostgresStore } from '../../src/store/postgres.js';
import { thisProcess } from '../../src/store/owner.js';
import { Window } from '../../src/store/window.js';
import { TEST_PG_URL, postgresSkipReason, uniqueSchema } from '../helpers/postgres.js';
import { exited, startServe, type Serve } from '../helpers/serve.js';
import { testService } from '../helpers/service.js';

const dir = mkdtempSync(join(tmpdir(), 'sp-owner-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Starts `shadowplane serve` with the configuration `yaml` (written to a file named after `name`). */
function serve(name: string, yaml: string): Promise<Serve> {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, yaml);
  return startServe(file);
}

const sqliteYaml = (dataDir: string) => `server: { port: 0 }\nstore: { dataDir: ${JSON.stringify(dataDir)}, flushInterval: 500ms }\ntargets:\n  - { name: orders-db, kind: database }\n`;

describe('data directory lock', () => {
  test('a second service on a data directory is refused with the holder named; the directory is free once the holder stops', async () => {
    const a = await testService();
    try {
      await assert.rejects(testService({ store: { dataDir: a.dataDir } }), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'SHADOWPLANE_ERR_STORE_LOCKED');
        assert.match(err.message, new RegExp(`in use by pid ${process.pid} on host ${hostname()} \\(started 2026-01-05T12:00:00.000Z\\)`));
        return true;
      });
      await a.service.stop();
      const b = await testService({ store: { dataDir: a.dataDir } });
      await b.service.stop();
    } finally {
      await a.cleanup();
    }
  });

  test('a second `serve` on the directory exits naming the holder; after kill -9 of the holder a new one starts', { timeout: 120_000 }, async () => {
    const dataDir = join(dir, 'sqlite-data');
    const first = await serve('a', sqliteYaml(dataDir));
    try {
      await assert.rejects(serve('b', sqliteYaml(dataDir)), (err: Error & { exitCode?: number; stderr?: string }) => {
        assert.notEqual(err.exitCode, 0);
        assert.match(err.stderr ?? '', new RegExp(`SHADOWPLANE_ERR_STORE_LOCKED|in use by pid ${first.child.pid} on host`));
        assert.match(err.stderr ?? '', new RegExp(`pid ${first.child.pid} on host ${hostname()}`));
        return true;
      });
      first.child.kill('SIGKILL');
      await exited(first.child);
      const again = await serve('c', sqliteYaml(dataDir));
      again.child.kill('SIGTERM');
      await exited(again.child);
    } finally {
      first.child.kill('SIGKILL');
    }
  });
});

describe('PostgreSQL lease', () => {
  test('a holder whose lease session ended cannot write windows once another instance took the lease', async (t) => {
    const skip = await postgresSkipReason();
    if (skip) return t.skip(skip);
    const schema = uniqueSchema('sp_fence');
    const a = new PostgresStore({ url: TEST_PG_URL, schema });
    const b = new PostgresStore({ url: TEST_PG_URL, schema });
    const admin = new pg.Client({ connectionString: TEST_PG_URL });
    try {
      await a.init();
      await admin.connect();
      const lost: string[] = [];
      const leaseA = a.openLease(thisProcess(Date.now()), (reason) => lost.push(reason));
      const leaseB = b.openLease(thisProcess(Date.now()), () => undefined);
      assert.equal(await leaseA.tryAcquire(), true);
      assert.equal(await leaseB.tryAcquire(), false);
      const row = new Window(60_000, 60).toRow('orders-db', 'total', '', false);
      await a.writeWindows([row]);
      // A's lease session ends (as when its connection drops); A's pool still works.
      await admin.query(
        `SELECT pg_terminate_backend(l.pid) FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
           AND ((l.classid::bigint << 32) | l.objid::bigint) = hashtextextended($1, 0)`,
        [`shadowplane:${schema}`],
      );
      while ((await leaseB.tryAcquire()) === false) await new Promise((r) => setTimeout(r, 20));
      while (lost.length === 0) await new Promise((r) => setTimeout(r, 20));
      await assert.rejects(a.writeWindows([row]), /no longer holds the store's lease/);
      await b.writeWindows([row]);
      await leaseB.release();
      await leaseA.release();
    } finally {
      await admin.end();
      await b.close();
      await a.dropSchema();
      await a.close();
    }
  });

  test('a second `serve` on one schema is a standby that refuses writes; it takes over the loops when the holder is killed with -9', { timeout: 180_000 }, async (t) => {
    const skip = await postgresSkipReason();
    if (skip) return t.skip(skip);
    const schema = uniqueSchema('sp_lease');
    const yaml = (name: string) =>
      `server: { port: 0 }\nstore:\n  backend: postgres\n  dataDir: ${JSON.stringify(join(dir, `pg-${name}`))}\n  flushInterval: 500ms\n  postgres: { url: ${JSON.stringify(TEST_PG_URL)}, schema: ${schema}, leaseCheck: 200ms }\ntargets:\n  - { name: orders-db, kind: database }\n`;
    const post = (url: string, n: number, tag: string) =>
      fetch(`${url}/v1/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-ndjson' },
        body: Array.from({ length: n }, (_, i) => JSON.stringify({ target: 'orders-db', op: 'read', bytes: 1, latencyMs: 1, requestId: `${tag}-${i}`, at: Date.now() })).join('\n'),
      });
    const stored = async (url: string) => {
      const res = await fetch(`${url}/v1/targets/orders-db/series?metric=count&from=now-15m&to=${Date.now() + 120_000}&step=1m`);
      return ((await res.json()) as { points: { v: number }[] }).points.reduce((sum, p) => sum + p.v, 0);
    };
    const holder = await serve('holder', yaml('holder'));
    let standby: Serve | undefined;
    try {
      standby = await serve('standby', yaml('standby'));
      assert.match(standby.stderr(), new RegExp(`standby: the store's lease is held by pid ${holder.child.pid} on host ${hostname()}`));
      const refused = await post(standby.url, 5, 's');
      assert.equal(refused.status, 503);
      assert.equal(((await refused.json()) as { code: string }).code, 'SHADOWPLANE_ERR_STANDBY');
      assert.equal((await fetch(`${standby.url}/readyz`)).status, 503);

      assert.equal(((await (await post(holder.url, 40, 'h')).json()) as { accepted: number }).accepted, 40);
      while ((await stored(standby.url)) < 40) await new Promise((r) => setTimeout(r, 100)); // the standby reads what the holder flushed
      holder.child.kill('SIGKILL');
      await exited(holder.child);

      while ((await fetch(`${standby.url}/readyz`)).status !== 200) await new Promise((r) => setTimeout(r, 100));
      assert.match(standby.stderr(), /took over the store/);
      assert.equal(((await (await post(standby.url, 7, 'n')).json()) as { accepted: number }).accepted, 7);
      while ((await stored(standby.url)) < 47) await new Promise((r) => setTimeout(r, 100)); // its flush loop runs
      assert.equal(await stored(standby.url), 47);
    } finally {
      holder.child.kill('SIGKILL');
      if (standby) {
        standby.child.kill('SIGTERM');
        await exited(standby.child);
      }
      await new PostgresStore({ url: TEST_PG_URL, schema }).dropSchema();
    }
  });
});
