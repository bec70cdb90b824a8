/**
 * Ingest spread across replicas through NATS JetStream (`ingest.jetstream`): two real `serve`
 * processes on one PostgreSQL store split the stream's partitions; events are sent to both, one is
 * killed with -9 mid-stream, the other takes its partitions over, and the windows stored per target
 * count exactly the events acknowledged, none lost and none twice. Each test uses a stream name and
 * a schema of its own. PostgreSQL or NATS unreachable: skipped locally, a failure under CI=true.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import pg from 'pg';
import { validateConfig } from '../../src/config.js';
import type { ShadowplaneError } from '../../src/core/errors.js';
import { connectJetStream } from '../../src/core/nats.js';
import { PartitionLeases } from '../../src/store/partitions.js';
import { PostgresStore } from '../../src/store/postgres.js';
import { TEST_PG_URL, postgresSkipReason, uniqueSchema } from '../helpers/postgres.js';
import { exited, startServe, type Serve } from '../helpers/serve.js';
import { testService } from '../helpers/service.js';
import { configProblems } from '../helpers/config.js';
import { waitFor } from '../helpers/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'sp-jetstream-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Why the suite cannot run here, or undefined; under CI=true a missing service throws instead. */
async function skipReason(): Promise<string | undefined> {
  const pgReason = await postgresSkipReason();
  if (pgReason) return pgReason;
  try {
    const { nc } = await connectJetStream(undefined, 1500);
    await nc.close();
    return undefined;
  } catch (err) {
    if (process.env.CI === 'true') throw new Error(`NATS JetStream is unreachable (CI=true: integration tests must run): ${(err as Error).message}`);
    return `NATS JetStream unreachable at 127.0.0.1:4222: ${(err as Error).message}`;
  }
}

/** A stream name no other test run uses. */
const uniqueStream = (prefix: string) => `${prefix}_${process.pid}_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e6)}`;

/** Deletes the stream `name` from NATS. */
async function deleteStream(name: string): Promise<void> {
  const { nc, jsm } = await connectJetStream();
  await jsm.streams.delete(name).catch(() => undefined);
  await nc.close();
}

const TARGETS = Array.from({ length: 12 }, (_, i) => `svc-${i}`);

function replicaYaml(name: string, schema: string, stream: string): string {
  return `server: { port: 0 }
store:
  backend: postgres
  dataDir: ${JSON.stringify(join(dir, name))}
  flushInterval: 300ms
  postgres: { url: ${JSON.stringify(TEST_PG_URL)}, schema: ${schema}, leaseCheck: 300ms }
ingest:
  pseudonymKey: jetstream-test-key-0123456789abcdef0123
  jetstream: { enabled: true, stream: ${stream}, partitions: 8, lease: 2s }
targets:
${TARGETS.map((t) => `  - { name: ${t}, kind: service }`).join('\n')}
`;
}

function serveReplica(name: string, schema: string, stream: string): Promise<Serve> {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, replicaYaml(name, schema, stream));
  return startServe(file);
}

/** One NDJSON batch: `n` events spread over the targets, each counted in `perTarget`. */
function batch(round: number, n: number, perTarget: Map<string, number>): string {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const target = TARGETS[(round * 7 + i * 5) % TARGETS.length];
    perTarget.set(target, (perTarget.get(target) ?? 0) + 1);
    lines.push(JSON.stringify({ target, op: i % 3 ? 'read' : 'write', table: `t${i % 4}`, bytes: 100 + i, latencyMs: 1 + (i % 9), requestId: `r-${round}-${i}`, at: Date.now() }));
  }
  return lines.join('\n') + '\n';
}

/** POSTs a batch to one replica; true when it was acknowledged (200). */
async function send(url: string, body: string, key: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson', 'idempotency-key': key }, body, signal: AbortSignal.timeout(10_000) });
    const answer = (await res.json()) as { accepted?: number };
    return res.status === 200 && typeof answer.accepted === 'number';
  } catch {
    return false;
  }
}

/** Events stored per target: the sum of the finest total windows, final and open. */
async function storedCounts(client: pg.Client, schema: string): Promise<Map<string, number>> {
  const windows = `(SELECT series, granularity, count FROM "${schema}".windows UNION ALL SELECT series, granularity, count FROM "${schema}".open_windows)`;
  const { rows } = await client.query<{ target: string; n: number }>(`SELECT s.target, SUM(w.count)::float8 AS n FROM ${windows} w JOIN "${schema}".series s ON s.id = w.series
     WHERE w.granularity = 60 AND s.dim = 'total' GROUP BY s.target`);
  return new Map(rows.map((r) => [r.target, r.n]));
}

describe('ingest through JetStream across replicas', () => {
  test('two replicas, one killed with -9 mid-stream: the stored counts per target equal what was acknowledged', { timeout: 180_000 }, async (t) => {
    const skip = await skipReason();
    if (skip) return t.skip(skip);
    const schema = uniqueSchema('sp_js');
    const stream = uniqueStream('SPT_INGEST');
    const client = new pg.Client({ connectionString: TEST_PG_URL });
    await client.connect();
    const a = await serveReplica('a', schema, stream);
    let b: Serve | undefined;
    try {
      b = await serveReplica('b', schema, stream);
      const holders = async () => (await client.query<{ owner: string | null }>(`SELECT owner FROM "${schema}".ingest_partitions WHERE stream = $1`, [stream])).rows.map((r) => r.owner);
      // Both replicas hold a share before the stream starts: each consumes its partitions.
      await waitFor('both replicas to hold partitions', async () => {
        const owners = await holders();
        return owners.every((o) => o !== null) && new Set(owners).size === 2;
      }, 30_000);

      const acked = new Map<string, number>();
      const replicas = [a, b];
      for (let round = 0; round < 40; round++) {
        if (round === 15) a.child.kill('SIGKILL'); // mid-stream: A may have unflushed windows and requests in flight
        const perTarget = new Map<string, number>();
        const body = batch(round, 300, perTarget);
        const key = `round-${round}`;
        // A client retries a request that was not acknowledged, with the same key, on the other
        // replica: what the dead one had already published is then stored once.
        let ok = false;
        for (let attempt = 0; !ok && attempt < 20; attempt++) {
          ok = await send(replicas[(round + attempt) % 2].url, body, key);
          if (!ok) await new Promise((r) => setTimeout(r, 200));
        }
        assert.ok(ok, `round ${round} was never acknowledged`);
        for (const [target, n] of perTarget) acked.set(target, (acked.get(target) ?? 0) + n);
      }
      await exited(a.child);

      // B takes A's partitions after their holds expire, replays from their marks and flushes.
      await waitFor('B to hold every partition', async () => new Set(await holders()).size === 1 && !(await holders()).includes(null), 30_000);
      const expected = Object.fromEntries([...acked].sort());
      let stored: Record<string, number> = {};
      await waitFor('the stored counts to reach the acknowledged ones', async () => {
        stored = Object.fromEntries([...(await storedCounts(client, schema))].sort());
        return TARGETS.every((tg) => (stored[tg] ?? 0) >= (expected[tg] ?? 0));
      }, 60_000).catch(() => undefined);
      // Several flushes later, still exactly what was acknowledged: nothing lost, nothing twice.
      await new Promise((r) => setTimeout(r, 1500));
      stored = Object.fromEntries([...(await storedCounts(client, schema))].sort());
      assert.deepEqual(stored, expected);
      assert.equal(Object.values(stored).reduce((s, n) => s + n, 0), 40 * 300);
    } finally {
      a.child.kill('SIGKILL');
      if (b) {
        b.child.kill('SIGTERM');
        await exited(b.child);
      }
      await client.end();
      const store = new PostgresStore({ url: TEST_PG_URL, schema });
      await store.dropSchema();
      await store.close();
      await deleteStream(stream);
    }
  });

  test('a replica with another partition count than the stream has in the store is refused, naming the field', async (t) => {
    const skip = await skipReason();
    if (skip) return t.skip(skip);
    const schema = uniqueSchema('sp_js_count');
    const store = new PostgresStore({ url: TEST_PG_URL, schema });
    await store.init();
    const leases = (partitions: number) => new PartitionLeases({ url: TEST_PG_URL, schema, stream: 'S', partitions, member: `m${partitions}`, leaseMs: 2000 });
    const first = leases(8);
    const second = leases(4);
    try {
      await first.init();
      await assert.rejects(second.init(), (err: ShadowplaneError) => {
        assert.equal(err.code, 'SHADOWPLANE_ERR_CONFIG_INVALID');
        assert.equal(err.problems[0].path, '/ingest/jetstream/partitions');
        assert.match(err.problems[0].message, /must be 8/);
        return true;
      });
    } finally {
      await first.close();
      await second.close();
      await store.dropSchema();
      await store.close();
    }
  });
});

describe('ingest.jetstream configuration', () => {
  test('off by default, with 16 partitions', () => {
    const config = validateConfig({});
    assert.equal(config.ingest.jetstream.enabled, false);
    assert.equal(config.ingest.jetstream.partitions, 16);
  });

  test('bad values are refused naming the field and the rule', () => {
    const p = configProblems({ ingest: { jetstream: { enabled: true, url: 'http://x', stream: 'a.b', partitions: 0, lease: 'soon' } } });
    assert.match(p['/ingest/jetstream/url'], /nats:\/\/ URL/);
    assert.match(p['/ingest/jetstream/stream'], /letters, digits/);
    assert.match(p['/ingest/jetstream/partitions'], />= 1/);
    assert.match(p['/ingest/jetstream/lease'], /duration/);
  });

  test('it needs the PostgreSQL store, no demo and a lease of at least 1s', () => {
    assert.match(configProblems({ ingest: { jetstream: { enabled: true } } })['/ingest/jetstream/enabled'], /store\.backend: postgres/);
    assert.match(configProblems({ store: { backend: 'postgres' }, demo: { enabled: true }, ingest: { jetstream: { enabled: true } } })['/ingest/jetstream/enabled'], /demo\.enabled/);
    assert.match(configProblems({ store: { backend: 'postgres' }, ingest: { jetstream: { enabled: true, lease: '500ms' } } })['/ingest/jetstream/lease'], /at least 1s/);
    assert.deepEqual(configProblems({ store: { backend: 'postgres' }, ingest: { jetstream: { enabled: true } } }), {});
  });
});

test('a bad Idempotency-Key is refused naming the header, and nothing of the request is ingested', async () => {
  const h = await testService({ targets: [{ name: 'orders-db', kind: 'database' }] });
  try {
    const res = await h.service.api.inject({
      method: 'POST', url: '/v1/events', headers: { 'content-type': 'application/json', 'idempotency-key': 'has a space' },
      payload: [{ target: 'orders-db', op: 'read', bytes: 1, latencyMs: 1, at: h.clock.now() }],
    });
    assert.equal(res.statusCode, 400);
    const body = res.json() as { code: string; problems: { path: string; message: string }[] };
    assert.equal(body.code, 'SHADOWPLANE_ERR_VALIDATION');
    assert.equal(body.problems[0].path, 'headers/idempotency-key');
    assert.equal(h.service.engine.openRows('orders-db').length, 0);
  } finally {
    await h.cleanup();
  }
});
