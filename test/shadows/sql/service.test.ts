/**
 * End to end: queries through pg-proxy reach the real Shadowplane service (its HTTP ingest and
 * store) as sampled metadata, with tables and fingerprints and without any literal or user name
 * in clear.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { realClock } from '../../../src/core/clock.js';
import { validateConfig } from '../../../src/config.js';
import { ShadowplaneService } from '../../../src/service.js';
import { PgProxy } from '../../../src/shadows/sql/proxy.js';
import { EventSink } from '../../../src/shadows/sql/sink.js';
import { dropDatabase, freshDatabase, postgresAvailable, PG_HOST, PG_SKIP, PG_PORT, settled } from './helpers.js';

const DB = 'sp_sql_test_service';

describe('pg-proxy → Shadowplane service', async () => {
  const available = await postgresAvailable();
  let service: ShadowplaneService;
  let dataDir: string;

  before(async () => {
    if (!available) return;
    const url = await freshDatabase(DB);
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    await c.query('CREATE TABLE pgbench_accounts (aid int, abalance int, filler text); CREATE TABLE pgbench_tellers (tid int, tbalance int)');
    await c.end();
    dataDir = mkdtempSync(join(tmpdir(), 'sp-sql-svc-'));
    const cfg = validateConfig({ store: { dataDir }, targets: [{ name: 'orders-db', kind: 'database', sampling: { rate: 1 } }] });
    service = await ShadowplaneService.create(cfg, { clock: realClock });
    await service.api.listen({ port: 0, host: '127.0.0.1' });
  });

  after(async () => {
    if (!available) return;
    await service.stop();
    rmSync(dataDir, { recursive: true, force: true });
    await dropDatabase(DB);
  });

  test('sampled metadata arrives in the Shadow Store without literals or clear user names', { skip: available ? false : PG_SKIP }, async () => {
    const port = (service.api.server.address() as AddressInfo).port;
    const sink = new EventSink({ controlUrl: `http://127.0.0.1:${port}`, flushMs: 100 });
    const proxy = new PgProxy({ upstreamHost: PG_HOST, upstreamPort: PG_PORT, target: 'orders-db', sampleRate: 1, events: sink });
    const proxyPort = await proxy.listen(0);
    try {
      const c = new pg.Client({ host: '127.0.0.1', port: proxyPort, user: 'postgres', database: DB });
      await c.connect();
      for (let i = 0; i < 5; i++) await c.query(`SELECT abalance FROM pgbench_accounts WHERE aid = ${424242 + i} OR filler = 'literal-Qx81'`);
      await c.query('UPDATE pgbench_tellers SET tbalance = tbalance + $1 WHERE tid = $2', [31337, 2]);
      await c.end();
      await settled(() => proxy.stats.sampled >= 6);
      await sink.flush();
      assert.equal(sink.stats.sent, 6);
      assert.equal(sink.stats.droppedSendFailed, 0);
      const live = await service.api.inject({ method: 'GET', url: '/v1/targets/orders-db/live' });
      assert.equal(live.statusCode, 200);
      assert.match(live.body, /pgbench_accounts/);
      assert.match(live.body, /pgbench_tellers/);
      for (const secret of ['424242', 'literal-Qx81', '31337', '"postgres"']) assert.ok(!live.body.includes(secret), `live view leaks ${secret}`);
      await service.flush();
    } finally {
      await proxy.close();
      await sink.close();
    }
  });
});
