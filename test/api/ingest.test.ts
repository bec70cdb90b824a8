import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseBatch } from '../../src/ingest/batch.js';
import { keepSample } from '../../src/ingest/sampler.js';
import { PostgresStore } from '../../src/store/postgres.js';
import { TEST_PG_URL, postgresSkipReason, uniqueSchema } from '../helpers/postgres.js';
import { T0, ndjson, testService } from '../helpers/service.js';

const event = (over: Record<string, unknown> = {}) => ({ target: 'orders-db', op: 'read', table: 'orders', columns: ['id', 'total'], bytes: 100, latencyMs: 4, at: T0 + 1000, ...over });

describe('ingest API', () => {
  let h: Awaited<ReturnType<typeof testService>>;
  before(async () => {
    h = await testService();
  });
  after(() => h.cleanup());

  test('a JSON array with bad items accepts the good ones and lists each bad one by index, field and rule', async () => {
    const res = await h.service.api.inject({
      method: 'POST',
      url: '/v1/events',
      payload: [event(), event({ bytes: -1 }), event({ sql: 'SELECT secret' }), event({ op: 'delete' }), event({ target: 'nope' }), event({ at: 'yesterday' })],
    });
    assert.equal(res.statusCode, 200);
    const body = res.json();
    assert.equal(body.accepted, 1);
    assert.equal(body.rejectedCount, 5);
    const byIndex = Object.fromEntries(body.rejected.map((r: { index: number; problems: { path: string; message: string }[] }) => [r.index, r.problems]));
    assert.deepEqual(byIndex[1], [{ path: '/bytes', message: 'must be >= 0' }]);
    assert.deepEqual(byIndex[2], [{ path: '/sql', message: 'is not a known key' }]);
    assert.deepEqual(byIndex[3], [{ path: '/op', message: 'must be one of: read, write' }]);
    assert.match(byIndex[4][0].message, /declared target/);
    assert.equal(byIndex[5][0].path, '/at');
  });

  test('NDJSON lines are ingested one by one; a broken line is rejected by its index', async () => {
    const body = ndjson([event(), event()]) + '{not json\n' + ndjson([event()]);
    const res = await h.service.api.inject({ method: 'POST', url: '/v1/events', headers: { 'content-type': 'application/x-ndjson' }, payload: body });
    assert.equal(res.statusCode, 200);
    assert.equal(res.json().accepted, 3);
    assert.deepEqual(res.json().rejected.map((r: { index: number }) => r.index), [2]);
  });

  test('a batch whose every item is bad gets 400 problem+json; events too old or in the future are refused', async () => {
    const res = await h.service.api.inject({ method: 'POST', url: '/v1/events', payload: [event({ at: T0 - 3_600_000 }), event({ at: T0 + 3_600_000 })] });
    assert.equal(res.statusCode, 400);
    assert.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8');
    assert.deepEqual(res.json().rejected.map((r: { reason: string }) => r.reason), ['late', 'future']);
  });

  test('user ids never reach the store or the API in clear', async () => {
    await h.service.api.inject({ method: 'POST', url: '/v1/events', payload: [event({ user: 'alice@example.com' })] });
    const live = await h.service.api.inject({ method: 'GET', url: '/v1/targets/orders-db/live' });
    assert.ok(!live.body.includes('alice'));
    assert.match(live.body, /"key":"u_[A-Za-z0-9_-]{22}"/);
    await h.service.flush();
    for (const file of readdirSync(h.dataDir)) assert.ok(!readFileSync(join(h.dataDir, file)).includes('alice@example.com'), file);
    const key = readdirSync(h.dataDir).find((f) => f === 'pseudonym.key');
    assert.ok(key, 'a pseudonym key was created');
  });

  test('samples are validated and rolled up per series', async () => {
    const res = await h.service.api.inject({
      method: 'POST',
      url: '/v1/samples',
      payload: [
        { target: 'orders-db', metric: 'cpu_utilisation', labels: { core: '0' }, at: T0 + 1000, value: 0.5 },
        { target: 'orders-db', metric: 'cpu_utilisation', labels: { core: '0' }, at: T0 + 2000, value: 0.7 },
        { target: 'orders-db', metric: 'bad metric', at: T0, value: 1 },
        { target: 'orders-db', metric: 'x', at: T0, value: 'high' },
      ],
    });
    assert.equal(res.json().accepted, 2);
    assert.deepEqual(res.json().rejected.map((r: { problems: { path: string }[] }) => r.problems[0].path), ['/metric', '/value']);
    h.clock.advance(121_000);
    await h.service.flush();
    const series = await h.service.api.inject({ method: 'GET', url: `/v1/targets/orders-db/series?dim=metric&key=${encodeURIComponent('cpu_utilisation{core="0"}')}&metric=max&from=${T0}&to=${T0 + 120_000}` });
    assert.deepEqual(series.json().points.map((p: { v: number }) => p.v), [0.7]);
  });
});

test('an NDJSON body over many decode pieces yields every line once, in order', async () => {
  // Lines cross the 64 KiB piece boundaries, one line is longer than a piece, others are blank,
  // broken, or hold multi-byte characters: the Buffer path must number and parse them all alike.
  const lines: string[] = [];
  for (let i = 0; i < 3000; i++) {
    if (i % 97 === 0) lines.push('   ');
    else if (i % 389 === 0) lines.push('{broken');
    else if (i === 1500) lines.push(JSON.stringify({ i, pad: 'x'.repeat(100_000) }));
    else lines.push(JSON.stringify({ i, route: `GET /é/ü/${'€'.repeat(i % 7)}` }));
  }
  const text = lines.join('\n') + '\n\n';
  const items = await parseBatch({ format: 'ndjson', bytes: Buffer.from(text) }, { maxItems: 1e6, parseTimeoutMs: 60_000 });
  const fromBuffer = items.map((item, index) => `${index}:${item instanceof Error ? 'error' : JSON.stringify(item)}`);
  assert.ok(Buffer.byteLength(text) > 3 * 64 * 1024);
  const expected = lines.filter((l) => l.trim() !== '').map((l, index) => `${index}:${l.startsWith('{broken') ? 'error' : JSON.stringify(JSON.parse(l))}`);
  assert.deepEqual(fromBuffer, expected);
});

describe('service limits', () => {
  test('a body over server.bodyLimit gets 413, a flood gets 429 with Retry-After, and the service keeps serving', async () => {
    const h = await testService({ server: { bodyLimit: 4096, maxEventsPerSecond: 10 } });
    try {
      const big = await h.service.api.inject({ method: 'POST', url: '/v1/events', payload: Array.from({ length: 100 }, () => event()) });
      assert.equal(big.statusCode, 413);
      assert.equal(big.json().code, 'SHADOWPLANE_ERR_PAYLOAD_TOO_LARGE');
      const ok = await h.service.api.inject({ method: 'POST', url: '/v1/events', payload: Array.from({ length: 8 }, () => event()) });
      assert.equal(ok.json().accepted, 8);
      const flood = await h.service.api.inject({ method: 'POST', url: '/v1/events', payload: Array.from({ length: 8 }, () => event()) });
      assert.equal(flood.statusCode, 429);
      assert.equal(flood.headers['retry-after'], '1');
      h.clock.advance(1000);
      const later = await h.service.api.inject({ method: 'POST', url: '/v1/events', payload: [event({ at: T0 + 1500 })] });
      assert.equal(later.json().accepted, 1);
      const live = await h.service.api.inject({ method: 'GET', url: '/v1/targets/orders-db/live' });
      assert.equal(live.json().windows[0].total.count, 9, 'nothing accepted was lost');
    } finally {
      await h.cleanup();
    }
  });

  test('with a token, every mutating request needs it and reads stay open', async () => {
    const h = await testService({ server: { token: 'a-very-long-secret-token' } });
    try {
      const denied = await h.service.api.inject({ method: 'POST', url: '/v1/events', payload: [event()] });
      assert.equal(denied.statusCode, 401);
      assert.equal(denied.json().code, 'SHADOWPLANE_ERR_UNAUTHORIZED');
      const wrong = await h.service.api.inject({ method: 'PUT', url: '/v1/targets/orders-db/sampling', headers: { authorization: 'Bearer nope' }, payload: { rate: 0.1 } });
      assert.equal(wrong.statusCode, 401);
      const ok = await h.service.api.inject({ method: 'POST', url: '/v1/events', headers: { authorization: 'Bearer a-very-long-secret-token' }, payload: [event()] });
      assert.equal(ok.json().accepted, 1);
      assert.equal((await h.service.api.inject({ method: 'GET', url: '/v1/targets' })).statusCode, 200);
    } finally {
      await h.cleanup();
    }
  });

  test('listening beyond loopback without a token is refused at start', async () => {
    await assert.rejects(testService({ server: { host: '0.0.0.0' } }), (err: Error & { code?: string }) => err.code === 'SHADOWPLANE_ERR_INSECURE_BIND');
  });
});

/** Estimated counts are sampled / rate, right across a rate change, on both backends. */
for (const backend of ['sqlite', 'postgres'] as const) {
  test(`estimated counts follow the rate in force across a change (${backend})`, async (t) => {
    let store;
    if (backend === 'postgres') {
      const skip = await postgresSkipReason();
      if (skip) return t.skip(skip);
      store = new PostgresStore({ url: TEST_PG_URL, schema: uniqueSchema('sp_api') });
    }
    const h = await testService({}, store);
    try {
      const ids = (prefix: string, n: number, minute: number) => Array.from({ length: n }, (_, i) => event({ requestId: `${prefix}-${i}`, at: T0 + minute * 60_000 + i }));
      const put = (rate: number) => h.service.api.inject({ method: 'PUT', url: '/v1/targets/orders-db/sampling', payload: { rate } });
      assert.equal((await put(0.25)).json().rate, 0.25);
      h.clock.advance(10_000);
      const first = (await h.service.api.inject({ method: 'POST', url: '/v1/events', payload: ids('a', 4000, 0) })).json();
      assert.equal(first.accepted + first.sampledOut, 4000);
      assert.ok(Math.abs(first.accepted - 1000) < 120, `about a quarter kept: ${first.accepted}`);
      await put(1);
      h.clock.advance(60_000);
      const second = (await h.service.api.inject({ method: 'POST', url: '/v1/events', payload: ids('b', 500, 1) })).json();
      assert.equal(second.accepted, 500);
      h.clock.advance(600_000);
      await h.service.flush();
      const series = (await h.service.api.inject({ method: 'GET', url: `/v1/targets/orders-db/series?metric=estimatedCount&from=${T0}&to=${T0 + 300_000}&step=1m` })).json();
      assert.equal(series.points.length, 2);
      assert.equal(series.points[0].v, first.accepted * 4);
      assert.equal(series.points[1].v, 500);
      const fiveMin = (await h.service.api.inject({ method: 'GET', url: `/v1/targets/orders-db/series?metric=estimatedCount&from=${T0}&to=${T0 + 300_000}&step=5m` })).json();
      assert.equal(fiveMin.granularity, 300);
      assert.deepEqual(fiveMin.points.map((p: { v: number }) => p.v), [first.accepted * 4 + 500]);
      const top = (await h.service.api.inject({ method: 'GET', url: `/v1/targets/orders-db/top?dim=column&from=${T0}&to=${T0 + 300_000}` })).json();
      assert.deepEqual(top.keys.map((k: { key: string }) => k.key).sort(), ['orders.id', 'orders.total']);
      // The rate persists: a new service on the same store still has it.
      assert.equal((await h.service.store.getTarget('orders-db'))?.samplingRate, 1);
    } finally {
      if (store) await store.dropSchema();
      await h.cleanup();
    }
  });
}

/**
 * Every event carries the rate its sender sampled at, and weighs 1 / min(that, the target's rate):
 * a sender at 1 % feeding a target left at 100 % is not under-counted 100x, senders at different
 * rates add up, and changing the target's rate does not bend the estimate. Both backends.
 */
for (const backend of ['sqlite', 'postgres'] as const) {
  test(`events weigh by the rate their sender sampled at, mixed rates and a target rate change (${backend})`, async (t) => {
    let store;
    if (backend === 'postgres') {
      const skip = await postgresSkipReason();
      if (skip) return t.skip(skip);
      store = new PostgresStore({ url: TEST_PG_URL, schema: uniqueSchema('sp_rate') });
    }
    const h = await testService({}, store);
    try {
      /** What a sender at `rate` sends of `n` requests in `minute`: the ones its verdict keeps. */
      const sent = (prefix: string, n: number, rate: number, minute: number) => Array.from({ length: n }, (_, i) => `${prefix}-${i}`)
        .filter((id) => keepSample(rate, id))
        .map((id, i) => event({ requestId: id, samplingRate: rate, at: T0 + minute * 60_000 + i }));
      const post = async (items: unknown[]) => (await h.service.api.inject({ method: 'POST', url: '/v1/events', headers: { 'content-type': 'application/x-ndjson' }, payload: ndjson(items) })).json();
      h.clock.advance(10_000);
      const proxy = sent('pg', 20_000, 0.01, 0);
      const mirror = sent('http', 2_000, 0.5, 0);
      assert.equal((await post([...proxy, ...mirror])).accepted, proxy.length + mirror.length, 'the target at 100 % keeps every pre-sampled event');

      await h.service.api.inject({ method: 'PUT', url: '/v1/targets/orders-db/sampling', payload: { rate: 0.1 } });
      h.clock.advance(60_000);
      const proxy2 = sent('pg2', 20_000, 0.01, 1);
      const mirror2 = sent('http2', 2_000, 0.5, 1);
      const second = await post([...proxy2, ...mirror2]);
      const keptMirror2 = mirror2.filter((e) => keepSample(0.1, (e as { requestId?: string }).requestId)).length;
      assert.equal(second.accepted, proxy2.length + keptMirror2, 'at 10 % the service keeps all of the 1 % sender and a fifth of the 50 % one');

      h.clock.advance(600_000);
      await h.service.flush();
      const points = (await h.service.api.inject({ method: 'GET', url: `/v1/targets/orders-db/series?metric=estimatedCount&from=${T0}&to=${T0 + 300_000}&step=1m` })).json().points as { v: number }[];
      assert.deepEqual(points.map((p) => Math.round(p.v)), [proxy.length * 100 + mirror.length * 2, proxy2.length * 100 + keptMirror2 * 10]);
      for (const p of points) assert.ok(Math.abs(p.v - 22_000) < 0.25 * 22_000, `the estimate ${p.v} is near the 22,000 requests sent`);
      const bad = await post([event({ samplingRate: 0 }), event({ samplingRate: 1.5 }), event({ samplingRate: '0.5' })]);
      assert.equal(bad.accepted, 0);
      assert.deepEqual(bad.rejected.map((r: { problems: { path: string }[] }) => r.problems[0].path), ['/samplingRate', '/samplingRate', '/samplingRate']);
    } finally {
      if (store) await store.dropSchema();
      await h.cleanup();
    }
  });
}
