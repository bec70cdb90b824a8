import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { keepSample } from '../../../src/ingest/sampler.js';
import { request, startProxy, until, upstream } from './helpers.js';
import { seriesValue } from '../../../src/shadows/traffic/stats.js';

/** A real control-plane stand-in: records every NDJSON POST to /v1/events and answers `status`. */
async function controlPlane(status = 202) {
  const posts: { contentType: string | undefined; lines: Record<string, unknown>[] }[] = [];
  const srv = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      if (req.method === 'POST' && req.url === '/v1/events') {
        posts.push({ contentType: req.headers['content-type'], lines: body.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>) });
      }
      res.statusCode = status;
      res.end();
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
  const close = () =>
    new Promise<void>((r) => {
      srv.closeAllConnections();
      srv.close(() => r());
    });
  return { url, posts, events: () => posts.flatMap((p) => p.lines), close };
}

const ALLOWED = new Set(['target', 'op', 'route', 'bytes', 'latencyMs', 'status', 'error', 'user', 'requestId', 'samplingRate', 'at']);

describe('request telemetry to the control plane', () => {
  test('every request at rate 1 becomes an NDJSON event with exactly the contract fields', async (t) => {
    const cp = await controlPlane();
    t.after(() => cp.close());
    const primary = await upstream((s, res) => {
      res.statusCode = s.url.startsWith('/fail') ? 500 : 200;
      res.end('hello');
    });
    t.after(() => primary.close());
    const { proxy, url } = await startProxy({
      control: { url: cp.url, target: 'orders-api', sampleRate: 1, userHeader: 'x-user', flushIntervalMs: 50 },
      routes: [{ name: 'r', primary: primary.origin, templates: ['/orders/:id/items'] }],
    });
    t.after(() => proxy.close(0));
    const before = Date.now();
    await request(`${url}/orders/42/items?x=1`, { headers: { 'x-request-id': 'req-1', 'x-user': 'alice@example.com' } });
    await request(`${url}/users/123/profile`, { method: 'POST', body: 'abc' });
    await request(`${url}/fail`);
    await until(() => cp.events().length === 3, 5000, 'three events');
    const [a, b, c] = cp.events() as [Record<string, unknown>, Record<string, unknown>, Record<string, unknown>];
    assert.equal(cp.posts[0]!.contentType, 'application/x-ndjson');
    for (const e of [a, b, c]) for (const k of Object.keys(e)) assert.ok(ALLOWED.has(k), `unexpected field ${k}`);
    assert.deepEqual({ ...a, latencyMs: 0, at: 0 }, { target: 'orders-api', op: 'read', route: 'GET /orders/:id/items', bytes: 5, latencyMs: 0, status: 200, requestId: 'req-1', samplingRate: 1, user: 'alice@example.com', at: 0 });
    assert.ok((a.at as number) >= before - 5 && (a.latencyMs as number) >= 0);
    assert.equal(b.op, 'write');
    assert.equal(b.route, 'POST /users/:id/profile');
    assert.equal(b.bytes, 8);
    assert.match(b.requestId as string, /^[0-9a-f-]{36}$/);
    assert.equal(primary.seen[1]!.headers['x-request-id'], b.requestId, 'the generated id is propagated upstream');
    assert.equal(c.status, 500);
    assert.equal(c.error, 'http_500');
    await until(async () => (await seriesValue(proxy.metrics.events, { outcome: 'sent' })) === 3, 5000, 'sent counter');
  });

  test('pre-sampling keeps exactly the requests keepSample keeps', async (t) => {
    const cp = await controlPlane();
    t.after(() => cp.close());
    const primary = await upstream();
    t.after(() => primary.close());
    const { proxy, url } = await startProxy({ control: { url: cp.url, target: 't', sampleRate: 0.3, flushIntervalMs: 50 }, routes: [{ name: 'r', primary: primary.origin }] });
    t.after(() => proxy.close(0));
    const ids = Array.from({ length: 60 }, (_, i) => `id-${i}`);
    for (const id of ids) await request(`${url}/x`, { headers: { 'x-request-id': id } });
    const expected = ids.filter((id) => keepSample(0.3, id));
    await until(() => cp.events().length === expected.length, 5000, 'sampled events');
    await proxy.close(0);
    assert.deepEqual(cp.events().map((e) => e.requestId).sort(), [...expected].sort());
    assert.ok(expected.length > 5 && expected.length < 40);
  });

  test('a full buffer drops events and a failing control plane drops batches, both counted; requests are unaffected', async (t) => {
    const cp = await controlPlane(400);
    t.after(() => cp.close());
    const primary = await upstream();
    t.after(() => primary.close());
    const { proxy, url } = await startProxy({ control: { url: cp.url, target: 't', sampleRate: 1, bufferLimit: 2, batchSize: 100, flushIntervalMs: 60_000 }, routes: [{ name: 'r', primary: primary.origin }] });
    t.after(() => proxy.close(0));
    for (let i = 0; i < 5; i++) assert.equal((await request(`${url}/x`)).status, 200);
    assert.equal(await seriesValue(proxy.metrics.events, { outcome: 'queued' }), 2);
    assert.equal(await seriesValue(proxy.metrics.events, { outcome: 'dropped_buffer' }), 3);
    await proxy.sink!.drain();
    assert.equal(await seriesValue(proxy.metrics.events, { outcome: 'dropped_send' }), 2);
  });
});
