/**
 * Inputs the Shadow Store cannot hold are refused at the door, on both backends: numbers beyond
 * ±1e300 (whose sums overflowed to ±Infinity and NaN and then stopped every SQLite flush), NUL and
 * unpaired surrogates in any string (which stopped every PostgreSQL flush), numbers sent where a
 * string is expected, and query or path values outside what the store can compare. What is accepted
 * is written: totals saturate at 1e300 instead of overflowing.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MAX_MAGNITUDE } from '../../src/core/schema.js';
import { PostgresStore } from '../../src/store/postgres.js';
import { TEST_PG_URL, postgresSkipReason, uniqueSchema } from '../helpers/postgres.js';
import { T0, testService } from '../helpers/service.js';

type Harness = Awaited<ReturnType<typeof testService>>;

const TEXT_RULE = 'must not contain a NUL character (\\u0000) or an unpaired UTF-16 surrogate';

/** Runs `fn` on a fresh service over the backend, dropping the PostgreSQL schema afterwards. */
async function onBackend(backend: 'sqlite' | 'postgres', t: { skip(reason: string): void }, fn: (h: Harness) => Promise<void>): Promise<void> {
  let store: PostgresStore | undefined;
  if (backend === 'postgres') {
    const skip = await postgresSkipReason();
    if (skip) return t.skip(skip);
    store = new PostgresStore({ url: TEST_PG_URL, schema: uniqueSchema('sp_limits') });
  }
  const h = await testService({}, store);
  try {
    await fn(h);
  } finally {
    if (store) await store.dropSchema();
    await h.cleanup();
  }
}

const event = (over: Record<string, unknown> = {}) => ({ target: 'orders-db', op: 'read', table: 'orders', bytes: 10, latencyMs: 1, at: T0 + 1000, ...over });

for (const backend of ['sqlite', 'postgres'] as const) {
  describe(`store limits (${backend})`, () => {
    test('samples of ±1.7e308 in one window are refused by field and rule; flushes go on', async (t) => {
      await onBackend(backend, t, async (h) => {
        const at = T0 + 120_000;
        h.clock.advance(120_000);
        const poison = [1.7e308, 1.7e308, -1.7e308, -1.7e308].map((value, i) => ({ target: 'orders-db', metric: 'm', at: i < 2 ? at - 60_000 : at, value }));
        const res = await h.service.api.inject({ method: 'POST', url: '/v1/samples', payload: poison });
        assert.equal(res.statusCode, 400);
        const rule = (bound: string) => [{ path: '/value', message: bound }];
        assert.deepEqual(res.json().rejected.map((r: { problems: unknown[] }) => r.problems), [rule('must be <= 1e+300'), rule('must be <= 1e+300'), rule('must be >= -1e+300'), rule('must be >= -1e+300')]);
        // The largest accepted values saturate their sums instead of overflowing.
        const edge = [1e300, 1e300, -1e300, -1e300].map((value, i) => ({ target: 'orders-db', metric: 'm', at: i < 2 ? at - 60_000 : at, value }));
        assert.equal((await h.service.api.inject({ method: 'POST', url: '/v1/samples', payload: edge })).json().accepted, 4);
        await h.service.api.inject({ method: 'POST', url: '/v1/events', payload: [event({ at }), event({ at, bytes: 1e300 }), event({ at, bytes: 1e300 })] });
        h.clock.advance(10 * 60_000);
        await h.service.flush();
        const windows = await h.service.store.queryWindows({ target: 'orders-db', granularity: 60, dim: 'metric', key: 'm', from: 0, to: at + 60_000 });
        assert.deepEqual(windows.map((w) => w.sum), [MAX_MAGNITUDE, -MAX_MAGNITUDE]);
        const top = (await h.service.api.inject({ method: 'GET', url: `/v1/targets/orders-db/top?dim=op&by=bytes&from=${T0}&to=${at + 60_000}` })).json();
        assert.deepEqual(top.keys.map((k: { bytes: number }) => k.bytes), [MAX_MAGNITUDE], 'a byte total saturates, never null');
        assert.equal((await h.service.api.inject({ method: 'GET', url: '/readyz' })).statusCode, 200);
      });
    });

    test('NUL and unpaired surrogates are refused in every string of an event; the rest of the batch and later flushes go on', async (t) => {
      await onBackend(backend, t, async (h) => {
        const res = await h.service.api.inject({
          method: 'POST',
          url: '/v1/events',
          payload: [event({ table: 'a\u0000b' }), event({ columns: ['id', 'x\ud800'] }), event({ route: '\udc00/x' }), event({ user: 'u\u0000' }), event({ table: 'emoji_\u{1F600}' }), event()],
        });
        assert.equal(res.statusCode, 200);
        const body = res.json();
        assert.equal(body.accepted, 2);
        assert.deepEqual(
          body.rejected.map((r: { index: number; problems: unknown[] }) => [r.index, r.problems]),
          [[0, [{ path: '/table', message: TEXT_RULE }]], [1, [{ path: '/columns/1', message: TEXT_RULE }]], [2, [{ path: '/route', message: TEXT_RULE }]], [3, [{ path: '/user', message: TEXT_RULE }]]],
        );
        const sample = await h.service.api.inject({ method: 'POST', url: '/v1/samples', payload: { target: 'orders-db', metric: 'm', labels: { a: 'x\u0000' }, at: T0 + 1000, value: 1 } });
        assert.deepEqual(sample.json().rejected[0].problems, [{ path: '/labels/a', message: TEXT_RULE }]);
        h.clock.advance(3 * 60_000);
        await h.service.flush();
        const tables = (await h.service.api.inject({ method: 'GET', url: `/v1/targets/orders-db/top?dim=table&from=${T0}&to=${T0 + 60_000}` })).json();
        assert.deepEqual(tables.keys.map((k: { key: string }) => k.key).sort(), ['emoji_\u{1F600}', 'orders']);
      });
    });

    test('query strings and path ids the store cannot compare are 400 naming the parameter, never 503', async (t) => {
      await onBackend(backend, t, async (h) => {
        const cases: [string, string][] = [
          ['/v1/targets/orders-db/top?to=1e23', '/querystring/to'],
          ['/v1/targets/orders-db/top?to=100000000000000000000000', '/querystring/to'],
          ['/v1/targets/orders-db/series?from=99999999999999999999', '/querystring/from'],
          ['/v1/targets/orders-db/series?dim=table&key=a%00b', '/querystring/key'],
          ['/v1/targets/orders-db/decisions?before=100000000000000000000000', '/querystring/before'],
          ['/v1/decisions/a%00b', '/params/id'],
          ['/v1/anomalies/a%00b', '/params/id'],
          ['/v1/targets/orders-db/anomalies?before=100000000000000000000000', '/querystring/before'],
        ];
        for (const [url, path] of cases) {
          const res = await h.service.api.inject({ method: 'GET', url });
          assert.equal(res.statusCode, 400, `${url}: ${res.body}`);
          assert.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8', url);
          assert.ok(res.json().problems.some((p: { path: string }) => p.path === path), `${url} names ${path}: ${res.body}`);
        }
      });
    });
  });
}

describe('strings are strings', () => {
  test('a number or boolean sent where a string is expected is refused, not turned into a name', async () => {
    const h = await testService();
    try {
      for (const name of [12345, 2 ** 53, true]) {
        const res = await h.service.api.inject({ method: 'POST', url: '/v1/targets', payload: { name, kind: 'database' } });
        assert.equal(res.statusCode, 400, String(name));
        assert.deepEqual(res.json().problems.map((p: { path: string }) => p.path), ['/body/name']);
      }
      assert.deepEqual((await h.service.api.inject({ method: 'GET', url: '/v1/targets' })).json().targets.map((x: { name: string }) => x.name), ['orders-db']);
      const labels = await h.service.api.inject({ method: 'POST', url: '/v1/targets', payload: { name: 'x', kind: 'database', labels: { team: 'a\u0000' } } });
      assert.deepEqual(labels.json().problems, [{ path: '/body/labels/team', message: TEXT_RULE }]);
      // Query strings are still read as text and converted: ?limit=5 is the number 5.
      assert.equal((await h.service.api.inject({ method: 'GET', url: '/v1/targets/orders-db/top?limit=5' })).statusCode, 200);
    } finally {
      await h.cleanup();
    }
  });
});
