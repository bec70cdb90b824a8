import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { buildAdmin, mergePatch } from '../../../src/shadows/traffic/admin.js';
import type { TrafficProxy } from '../../../src/shadows/traffic/proxy.js';
import { SHORT_TIMEOUTS, stalledHttpClientsClosed } from '../../helpers/sockets.js';
import { request, startProxy, upstream, type TestUpstream } from './helpers.js';

describe('admin API', () => {
  let primary: TestUpstream;
  let shadow: TestUpstream;
  let proxy: TrafficProxy;
  let url: string;
  let app: FastifyInstance;

  before(async () => {
    primary = await upstream((_s, res) => res.end('p'));
    shadow = await upstream((_s, res) => res.end('s'));
    ({ proxy, url } = await startProxy({ routes: [{ name: 'r', primary: primary.origin, shadow: shadow.origin }] }));
    app = buildAdmin(proxy, 'sekrit');
  });
  after(async () => {
    await app.close();
    await proxy.close(0);
    await primary.close();
    await shadow.close();
  });
  const auth = { authorization: 'Bearer sekrit' };

  test('lists routes with their state', async () => {
    const res = await app.inject({ method: 'GET', url: '/v1/routes' });
    assert.equal(res.statusCode, 200);
    const body = res.json();
    assert.equal(body.routes[0].config.name, 'r');
    assert.equal(body.routes[0].weight, 0);
    assert.equal(body.routes[0].upstreams.primary.available, true);
  });

  test('mutations need the bearer token', async () => {
    const res = await app.inject({ method: 'PATCH', url: '/v1/routes/r', payload: { weight: 0.5 } });
    assert.equal(res.statusCode, 401);
    assert.equal(res.json().code, 'SHADOWPLANE_ERR_UNAUTHORIZED');
  });

  test('PATCH changes the mirror fraction and weight at runtime; the data path follows', async () => {
    const res = await app.inject({ method: 'PATCH', url: '/v1/routes/r', headers: auth, payload: { weight: 1, mirror: { fraction: 0.5 } } });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().config.mirror.fraction, 0.5);
    assert.equal(res.json().config.mirror.timeoutMs, 1000);
    assert.equal((await request(`${url}/x`)).body, 's');
    await app.inject({ method: 'PATCH', url: '/v1/routes/r', headers: auth, payload: { weight: 0, mirror: { fraction: 0 } } });
    assert.equal((await request(`${url}/x`)).body, 'p');
  });

  test('bad input: problem+json naming each field and rule; the old route stays', async () => {
    const res = await app.inject({ method: 'PATCH', url: '/v1/routes/r', headers: auth, payload: { mirror: { fraction: 2, bogus: 1 } } });
    assert.equal(res.statusCode, 400);
    assert.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8');
    const body = res.json();
    assert.equal(body.code, 'SHADOWPLANE_ERR_CONFIG_INVALID');
    const paths = body.problems.map((p: { path: string }) => p.path);
    assert.ok(paths.includes('/routes/0/mirror/fraction'), JSON.stringify(body.problems));
    assert.ok(paths.some((p: string) => p.startsWith('/routes/0/mirror')));
    assert.equal(proxy.route('r')!.cfg.mirror.fraction, 0);
    const notJson = await app.inject({ method: 'PUT', url: '/v1/routes/r', headers: { ...auth, 'content-type': 'application/json' }, payload: '{oops' });
    assert.equal(notJson.statusCode, 400);
    assert.equal(notJson.json().code, 'SHADOWPLANE_ERR_VALIDATION');
  });

  test('PUT adds a route; DELETE removes it; unknown routes are 404', async () => {
    const put = await app.inject({ method: 'PUT', url: '/v1/routes/extra', headers: auth, payload: { pathPrefix: '/extra', primary: shadow.origin } });
    assert.equal(put.statusCode, 200, put.body);
    assert.equal((await request(`${url}/extra/1`)).body, 's');
    assert.equal((await app.inject({ method: 'DELETE', url: '/v1/routes/extra', headers: auth })).statusCode, 204);
    assert.equal((await request(`${url}/extra/1`)).body, 'p');
    const missing = await app.inject({ method: 'GET', url: '/v1/routes/nope' });
    assert.equal(missing.statusCode, 404);
    assert.equal(missing.json().code, 'SHADOWPLANE_ERR_NOT_FOUND');
  });

  test('migrations: start with a policy override, pause, promote, abort; bad commands and states refused', async () => {
    const bad = await app.inject({ method: 'POST', url: '/v1/routes/r/migrations', headers: auth, payload: { policy: { steps: [0.5, 0.1] } } });
    assert.equal(bad.statusCode, 400);
    assert.deepEqual(bad.json().problems, [{ path: '/policy/steps', message: 'must be strictly ascending' }]);
    const start = await app.inject({ method: 'POST', url: '/v1/routes/r/migrations', headers: auth, payload: { reason: 'risk 0.9', policy: { steps: [0.1, 1], minRequests: 1000 } } });
    assert.equal(start.statusCode, 201, start.body);
    assert.equal(start.json().weight, 0.1);
    assert.equal(proxy.route('r')!.weight, 0.1);
    const again = await app.inject({ method: 'POST', url: '/v1/routes/r/migrations', headers: auth, payload: {} });
    assert.equal(again.statusCode, 409);
    assert.equal((await app.inject({ method: 'POST', url: '/v1/routes/r/migration/pause', headers: auth })).json().status, 'paused');
    const promoted = await app.inject({ method: 'POST', url: '/v1/routes/r/migration/promote', headers: auth });
    assert.equal(promoted.json().weight, 1);
    assert.equal(promoted.json().status, 'running');
    const aborted = await app.inject({ method: 'POST', url: '/v1/routes/r/migration/abort', headers: auth });
    assert.equal(aborted.json().status, 'aborted');
    assert.equal(proxy.route('r')!.weight, 0);
    const events = (await app.inject({ method: 'GET', url: '/v1/routes/r/migration' })).json().history.map((h: { event: string }) => h.event);
    assert.deepEqual(events, ['start', 'step', 'pause', 'promote', 'step', 'abort']);
    const cmd = await app.inject({ method: 'POST', url: '/v1/routes/r/migration/explode', headers: auth });
    assert.equal(cmd.statusCode, 400);
    const late = await app.inject({ method: 'POST', url: '/v1/routes/r/migration/promote', headers: auth });
    assert.equal(late.statusCode, 409);
    assert.equal(late.json().code, 'SHADOWPLANE_ERR_MIGRATION_STATE');
  });

  test('comparison view and Prometheus metrics', async () => {
    const cmp = await app.inject({ method: 'GET', url: '/v1/routes/r/comparison' });
    assert.equal(cmp.statusCode, 200);
    assert.ok('dropped_inflight' in cmp.json().mirror);
    const metrics = await app.inject({ method: 'GET', url: '/metrics' });
    assert.match(metrics.headers['content-type'] as string, /^text\/plain/);
    assert.match(metrics.body, /# TYPE shadowplane_proxy_requests_total counter/);
    assert.match(metrics.body, /shadowplane_proxy_requests_total\{code="2xx",route="r",upstream="primary"\} \d+/);
    assert.match(metrics.body, /shadowplane_proxy_upstream_available\{upstream="http:\/\/127.0.0.1:\d+"\} 1/);
  });

  test('mergePatch merges objects, replaces arrays, null deletes', () => {
    assert.deepEqual(mergePatch({ a: { b: 1, c: [1] }, d: 1 }, { a: { c: [2] }, d: null }), { a: { b: 1, c: [2] }, d: undefined });
  });
});

test('traffic proxy admin API: stalled clients are closed after the header and body timeouts while a real client is answered', { timeout: 30_000 }, async () => {
  const primary = await upstream((_s, res) => res.end('p'));
  const { proxy } = await startProxy({ routes: [{ name: 'r', primary: primary.origin }] });
  const app = buildAdmin(proxy, undefined, SHORT_TIMEOUTS);
  try {
    await app.listen({ host: '127.0.0.1', port: 0 });
    const port = (app.server.address() as { port: number }).port;
    await stalledHttpClientsClosed(port, async () => {
      assert.equal((await fetch(`http://127.0.0.1:${port}/v1/routes`)).status, 200);
    });
  } finally {
    await app.close();
    await proxy.close(0);
    await primary.close();
  }
});
