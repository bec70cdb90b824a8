import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import { hungServer, refusedOrigin, request, startProxy, until, upstream, type TestUpstream } from './helpers.js';
import type { TrafficProxy } from '../../../src/shadows/traffic/proxy.js';
import { seriesValue } from '../../../src/shadows/traffic/stats.js';

describe('reverse proxy data path', () => {
  let primary: TestUpstream;
  let other: TestUpstream;
  let proxy: TrafficProxy;
  let url: string;

  before(async () => {
    primary = await upstream((s, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ from: 'primary', url: s.url, sha: createHash('sha256').update(s.body).digest('hex') }));
    });
    other = await upstream((_s, res) => res.end('other\n'));
    ({ proxy, url } = await startProxy({
      routes: [
        { name: 'main', primary: primary.origin },
        { name: 'api-host', host: 'api.example.test', pathPrefix: '/v2', primary: other.origin },
      ],
    }));
  });
  after(async () => {
    await proxy.close(0);
    await primary.close();
    await other.close();
  });

  test('forwards a GET, strips hop-by-hop headers and adds X-Forwarded-*', async () => {
    const a = await request(`${url}/items/7?q=1`, { headers: { connection: 'keep-alive, x-secret', 'x-secret': 'drop me', 'keep-alive': 'timeout=5', te: 'trailers', 'x-keep': 'yes', host: 'shop.test' } });
    assert.equal(a.status, 200);
    assert.equal(JSON.parse(a.body).url, '/items/7?q=1');
    const h = primary.seen.at(-1)!.headers;
    assert.equal(h['x-secret'], undefined);
    assert.equal(h['keep-alive'], undefined);
    assert.equal(h.te, undefined);
    assert.equal(h['x-keep'], 'yes');
    assert.equal(h['x-forwarded-for'], '127.0.0.1');
    assert.equal(h['x-forwarded-proto'], 'http');
    assert.equal(h['x-forwarded-host'], 'shop.test');
    assert.equal(h.host, 'shop.test');
  });

  test('appends to an existing X-Forwarded-For', async () => {
    await request(`${url}/x`, { headers: { 'x-forwarded-for': '10.0.0.1' } });
    assert.equal(primary.seen.at(-1)!.headers['x-forwarded-for'], '10.0.0.1, 127.0.0.1');
  });

  test('streams a 2 MiB chunked request body intact', async () => {
    const body = Buffer.alloc(2 * 1024 * 1024, 'abcdefgh');
    const a = await new Promise<string>((resolve, reject) => {
      const req = http.request(`${url}/upload`, { method: 'POST', agent: false }, (res) => {
        let t = '';
        res.on('data', (c) => (t += c));
        res.on('end', () => resolve(t));
      });
      req.on('error', reject);
      for (let i = 0; i < body.length; i += 65536) req.write(body.subarray(i, i + 65536));
      req.end();
    });
    assert.equal(JSON.parse(a).sha, createHash('sha256').update(body).digest('hex'));
  });

  test('routes by host and path prefix, most specific first', async () => {
    assert.equal((await request(`${url}/v2/things`, { headers: { host: 'api.example.test:8080' } })).body, 'other\n');
    assert.equal(JSON.parse((await request(`${url}/v2x`, { headers: { host: 'api.example.test' } })).body).from, 'primary');
    assert.equal(JSON.parse((await request(`${url}/v2/things`, { headers: { host: 'elsewhere.test' } })).body).from, 'primary');
  });

  test('answers 404 with a clear body when no route matches', async () => {
    const { proxy: p2, url: u2 } = await startProxy({ routes: [{ name: 'only', host: 'a.test', primary: primary.origin }] });
    const a = await request(`${u2}/zzz`, { headers: { host: 'b.test' } });
    await p2.close(0);
    assert.equal(a.status, 404);
    assert.match(a.body, /no route for host "b.test" and path "\/zzz"/);
  });

  test('applies a new route table without dropping an open keep-alive connection', async () => {
    let connections = 0;
    const onConn = () => connections++;
    proxy.server.on('connection', onConn);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    assert.equal(JSON.parse((await request(`${url}/a`, { agent })).body).from, 'primary');
    proxy.setRoutes([{ name: 'main', primary: other.origin }]);
    assert.equal((await request(`${url}/a`, { agent })).body, 'other\n');
    proxy.setRoutes([{ name: 'main', primary: primary.origin }, { name: 'api-host', host: 'api.example.test', pathPrefix: '/v2', primary: other.origin }]);
    assert.equal(JSON.parse((await request(`${url}/a`, { agent })).body).from, 'primary');
    agent.destroy();
    proxy.server.off('connection', onConn);
    assert.equal(connections, 1);
  });

  test('rejects a bad route table and keeps the old one', () => {
    assert.throws(() => proxy.setRoutes([{ name: 'main', primary: 'ftp://x' }]), (e: Error & { code?: string }) => e.code === 'SHADOWPLANE_ERR_CONFIG_INVALID');
    assert.equal(proxy.route('main')!.cfg.primary, primary.origin);
  });
});

describe('upstream failures', () => {
  test('primary down: 502 naming the route and the refusal', async () => {
    const origin = await refusedOrigin();
    const { proxy, url } = await startProxy({ routes: [{ name: 'down', primary: origin }] });
    const a = await request(`${url}/x`);
    await proxy.close(0);
    assert.equal(a.status, 502);
    assert.match(a.body, /bad gateway: the primary of route "down" .* refused \(ECONNREFUSED\)/);
    assert.equal(await seriesValue(proxy.metrics.upstreamErrors, { route: 'down', upstream: 'primary', kind: 'refused' }), 1);
    assert.equal(await seriesValue(proxy.metrics.requests, { route: 'down', upstream: 'primary', code: '5xx' }), 1);
  });

  test('primary hung: 504 after the upstream timeout', async () => {
    const hung = await hungServer();
    const { proxy, url } = await startProxy({ upstreamTimeoutMs: 200, routes: [{ name: 'hung', primary: hung.origin }] });
    const a = await request(`${url}/x`);
    await proxy.close(0);
    await hung.close();
    assert.equal(a.status, 504);
    assert.match(a.body, /upstream timeout: the primary of route "hung" .* did not answer within 200 ms/);
  });

  test('client abort: the upstream request is cancelled and counted', async () => {
    let upstreamClosed = false;
    let received = false;
    const slow = await upstream((_s, res, req) => {
      received = true;
      req.socket.on('close', () => (upstreamClosed = true));
      res.on('close', () => (upstreamClosed = true));
    });
    const { proxy, url } = await startProxy({ routes: [{ name: 'abort', primary: slow.origin }] });
    const req = http.request(`${url}/wait`, { agent: false });
    req.on('error', () => {});
    req.end();
    await until(() => received, 5000, 'upstream to receive the request');
    req.destroy();
    await until(() => upstreamClosed, 5000, 'upstream request to be cancelled');
    await until(async () => (await seriesValue(proxy.metrics.clientAborts, { route: 'abort' })) === 1, 5000, 'abort counter');
    await proxy.close(0);
    await slow.close();
  });

  test('passive outlier detection ejects a failing primary and failover serves the shadow', async () => {
    const bad = await upstream((_s, res) => { res.statusCode = 503; res.end('down\n'); });
    const good = await upstream((_s, res) => res.end('shadow\n'));
    const { proxy, url } = await startProxy({
      routes: [{ name: 'fo', primary: bad.origin, shadow: good.origin, failover: true, health: { outlierConsecutiveFailures: 3, outlierEjectMs: 60_000 } }],
    });
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await request(`${url}/x`)).status);
    assert.deepEqual(statuses, [503, 503, 503, 200, 200]);
    assert.equal(proxy.route('fo')!.primary.ejected, true);
    await proxy.close(0);
    await bad.close();
    await good.close();
  });

  test('active health checks mark an upstream unhealthy and healthy again', async () => {
    let healthy = false;
    const u = await upstream((s, res) => {
      if (s.url === '/health') res.statusCode = healthy ? 200 : 500;
      res.end();
    });
    const { proxy } = await startProxy({ routes: [{ name: 'hc', primary: u.origin, health: { path: '/health', intervalMs: 20, unhealthyThreshold: 2, healthyThreshold: 2 } }] });
    const up = proxy.route('hc')!.primary;
    await until(() => !up.healthy, 5000, 'unhealthy');
    healthy = true;
    await until(() => up.healthy, 5000, 'healthy again');
    await proxy.close(0);
    await u.close();
  });
});
