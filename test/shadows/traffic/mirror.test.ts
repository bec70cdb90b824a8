import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { hungServer, refusedOrigin, request, startProxy, until, upstream } from './helpers.js';

const json = (body: unknown) => (_s: unknown, res: http.ServerResponse) => {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify(body));
};

describe('mirroring to the shadow', () => {
  test('fast shadow: reads are mirrored with the -shadow host and compared as a match', async () => {
    const primary = await upstream(json({ id: 1, name: 'a' }));
    const shadow = await upstream(json({ id: 1, name: 'a' }));
    const { proxy, url } = await startProxy({ routes: [{ name: 'r', primary: primary.origin, shadow: shadow.origin, mirror: { fraction: 1, shadowHostSuffix: true } }] });
    for (let i = 0; i < 5; i++) assert.equal((await request(`${url}/users/${i}`, { headers: { host: 'users.test:80' } })).status, 200);
    await until(() => proxy.route('r')!.comparison.summary().compared === 5, 5000, 'comparisons');
    assert.deepEqual(shadow.seen.map((s) => s.url), ['/users/0', '/users/1', '/users/2', '/users/3', '/users/4']);
    assert.equal(shadow.seen[0]!.headers.host, 'users.test-shadow:80');
    assert.equal(primary.seen[0]!.headers.host, 'users.test:80');
    assert.equal(proxy.route('r')!.comparison.summary().matches, 5);
    assert.equal(proxy.route('r')!.mirror!.count('ok'), 5);
    await proxy.close(0);
    await primary.close();
    await shadow.close();
  });

  test('slow shadow: the primary answer arrives while the shadow still holds the mirror, which then times out', async () => {
    const primary = await upstream();
    const held: http.ServerResponse[] = [];
    const shadow = await upstream((_s, res) => held.push(res));
    const { proxy, url } = await startProxy({ routes: [{ name: 'r', primary: primary.origin, shadow: shadow.origin, mirror: { fraction: 1, timeoutMs: 300 } }] });
    const a = await request(`${url}/slow`);
    assert.equal(a.status, 200);
    assert.equal(a.body, 'ok\n');
    // The primary answered although the shadow had received the mirror and not answered it.
    await until(() => held.length === 1, 5000, 'shadow to receive the mirror');
    assert.equal(held[0]!.writableEnded, false);
    await until(() => proxy.route('r')!.mirror!.count('timeout') === 1, 5000, 'mirror timeout');
    assert.equal(proxy.route('r')!.mirror!.inFlight, 0);
    await proxy.close(0);
    await primary.close();
    await shadow.close();
  });

  test('refusing shadow: refusals counted, the breaker opens, the primary is unaffected', async () => {
    const primary = await upstream();
    const { proxy, url } = await startProxy({ routes: [{ name: 'r', primary: primary.origin, shadow: await refusedOrigin(), mirror: { fraction: 1, breaker: { failureThreshold: 3, cooldownMs: 60_000 } } }] });
    const m = proxy.route('r')!.mirror!;
    for (let i = 0; i < 10; i++) {
      assert.equal((await request(`${url}/x`)).status, 200);
      await until(() => m.inFlight === 0, 5000, 'mirror settled');
    }
    assert.equal(m.count('refused'), 3);
    assert.equal(m.count('breaker_open'), 7);
    assert.equal(m.breaker.open, true);
    assert.match(await proxy.metrics.render(), /shadowplane_proxy_mirror_total\{outcome="refused",route="r"\} 3/);
    await proxy.close(0);
    await primary.close();
  });

  test('hung shadow: in-flight bound drops extra mirrors, the rest time out, all primary answers succeed', async () => {
    const primary = await upstream();
    const hung = await hungServer();
    const { proxy, url } = await startProxy({ routes: [{ name: 'r', primary: primary.origin, shadow: hung.origin, mirror: { fraction: 1, maxInFlight: 2, timeoutMs: 400, breaker: { failureThreshold: 100 } } }] });
    const answers = await Promise.all(Array.from({ length: 10 }, () => request(`${url}/h`)));
    assert.deepEqual(answers.map((a) => a.status), Array(10).fill(200));
    const m = proxy.route('r')!.mirror!;
    assert.equal(m.count('sent'), 2);
    assert.equal(m.count('dropped_inflight'), 8);
    await until(() => m.count('timeout') === 2, 5000, 'mirror timeouts');
    assert.equal(m.inFlight, 0);
    await proxy.close(0);
    await primary.close();
    await hung.close();
  });

  test('erroring shadow: 5xx counted, status mismatch recorded, breaker opens on repeated 5xx', async () => {
    const primary = await upstream(json({ ok: true }));
    const shadow = await upstream((_s, res) => {
      res.statusCode = 500;
      res.setHeader('content-type', 'application/json');
      res.end('{"error":"boom"}');
    });
    const { proxy, url } = await startProxy({ routes: [{ name: 'r', primary: primary.origin, shadow: shadow.origin, mirror: { fraction: 1, breaker: { failureThreshold: 3, cooldownMs: 60_000 } } }] });
    const r = proxy.route('r')!;
    for (let i = 0; i < 4; i++) {
      assert.equal((await request(`${url}/e`)).status, 200);
      await until(() => r.mirror!.inFlight === 0, 5000, 'mirror settled');
    }
    await until(() => r.comparison.summary().compared === 3, 5000, 'comparisons');
    const s = r.comparison.summary();
    assert.equal(s.mismatches, 3);
    assert.equal(s.kinds.status, 3);
    assert.equal(r.mirror!.count('shadow_5xx'), 3);
    assert.equal(r.mirror!.count('breaker_open'), 1);
    assert.doesNotMatch(JSON.stringify(s), /boom/);
    await proxy.close(0);
    await primary.close();
    await shadow.close();
  });

  test('oversized bodies are not mirrored (declared and chunked), the primary gets the whole body', async () => {
    const primary = await upstream((s, res) => res.end(String(s.body.length)));
    const shadow = await upstream();
    const { proxy, url } = await startProxy({ routes: [{ name: 'r', primary: primary.origin, shadow: shadow.origin, mirror: { fraction: 1, maxBodyBytes: 1000, writes: { enabled: true, perSecond: 1000 } } }] });
    const big = Buffer.alloc(5000, 'x');
    assert.equal((await request(`${url}/w`, { method: 'POST', body: big })).body, '5000');
    const chunked = await new Promise<string>((resolve) => {
      const req = http.request(`${url}/w`, { method: 'POST', agent: false }, (res) => {
        let t = '';
        res.on('data', (c) => (t += c));
        res.on('end', () => resolve(t));
      });
      req.write(big.subarray(0, 800));
      req.end(big.subarray(800));
    });
    assert.equal(chunked, '5000');
    assert.equal((await request(`${url}/w`, { method: 'POST', body: 'small' })).body, '5');
    const m = proxy.route('r')!.mirror!;
    await until(() => m.count('ok') === 1, 5000, 'small write mirrored');
    assert.equal(m.count('oversized'), 2);
    assert.deepEqual(shadow.seen.map((s) => s.body.toString()), ['small']);
    assert.equal(m.inFlight, 0);
    await proxy.close(0);
    await primary.close();
    await shadow.close();
  });

  test('writes are mirrored only when enabled, then rate-limited', async () => {
    const primary = await upstream();
    const shadow = await upstream();
    const { proxy, url } = await startProxy({ routes: [{ name: 'r', primary: primary.origin, shadow: shadow.origin, mirror: { fraction: 1 } }] });
    await request(`${url}/w`, { method: 'POST', body: 'a' });
    await request(`${url}/w`, { method: 'DELETE' });
    assert.equal(proxy.route('r')!.mirror!.count('sent'), 0);
    proxy.upsertRoute({ name: 'r', primary: primary.origin, shadow: shadow.origin, mirror: { fraction: 1, writes: { enabled: true, perSecond: 0.001 } } });
    for (let i = 0; i < 4; i++) await request(`${url}/w`, { method: 'PUT', body: 'b' });
    const m = proxy.route('r')!.mirror!;
    assert.equal(m.count('sent'), 1);
    assert.equal(m.count('dropped_rate'), 3);
    await until(() => shadow.seen.length === 1, 5000, 'one write on the shadow');
    assert.equal(shadow.seen[0]!.method, 'PUT');
    await proxy.close(0);
    await primary.close();
    await shadow.close();
  });

  test('client abort during an upload: the mirror is not sent and counted as aborted', async () => {
    const primary = await upstream();
    const shadow = await upstream();
    const { proxy, url } = await startProxy({ routes: [{ name: 'r', primary: primary.origin, shadow: shadow.origin, mirror: { fraction: 1, writes: { enabled: true, perSecond: 100 } } }] });
    const req = http.request(`${url}/up`, { method: 'POST', agent: false, headers: { 'content-length': '1000' } });
    req.on('error', () => {});
    req.write(Buffer.alloc(100, 'y'));
    const m = proxy.route('r')!.mirror!;
    await until(() => m.inFlight === 1, 5000, 'mirror admitted');
    req.destroy();
    await until(() => m.count('aborted') === 1, 5000, 'aborted mirror');
    assert.equal(m.count('sent'), 0);
    assert.equal(m.inFlight, 0);
    assert.equal(shadow.seen.length, 0);
    await proxy.close(0);
    await primary.close();
    await shadow.close();
  });

  test('mirror fraction 0 mirrors nothing; the admin-style update to 1 takes effect at once', async () => {
    const primary = await upstream();
    const shadow = await upstream();
    const { proxy, url } = await startProxy({ routes: [{ name: 'r', primary: primary.origin, shadow: shadow.origin }] });
    await request(`${url}/a`);
    proxy.upsertRoute({ name: 'r', primary: primary.origin, shadow: shadow.origin, mirror: { fraction: 1 } });
    await request(`${url}/b`);
    await until(() => shadow.seen.length === 1, 5000, 'mirror');
    assert.equal(shadow.seen[0]!.url, '/b');
    await proxy.close(0);
    await primary.close();
    await shadow.close();
  });
});
