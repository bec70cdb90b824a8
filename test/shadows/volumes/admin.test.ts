import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { buildAdmin } from '../../../src/shadows/volumes/admin.js';
import { SHORT_TIMEOUTS, stalledHttpClientsClosed } from '../../helpers/sockets.js';
import { testVolume } from './helpers.js';

test('API: write and read bytes, stats, fault injection triggers failover, fail back, bad input', async () => {
  const vol = await testVolume();
  const app = buildAdmin(new Map([['vol1', vol]]));
  try {
    const data = randomBytes(6000);
    const put = await app.inject({ method: 'PUT', url: '/v1/volumes/vol1/data?offset=1000', payload: data, headers: { 'content-type': 'application/octet-stream' } });
    assert.equal(put.statusCode, 204);
    const got = await app.inject({ method: 'GET', url: '/v1/volumes/vol1/data?offset=1000&length=6000' });
    assert.equal(got.statusCode, 200);
    assert.deepEqual(got.rawPayload, data);
    const list = await app.inject({ method: 'GET', url: '/v1/volumes' });
    assert.deepEqual(list.json(), [{ name: 'vol1', size: vol.size, state: 'live' }]);

    const faults = await app.inject({ method: 'PUT', url: '/v1/volumes/vol1/faults', payload: { addedLatencyMs: 0, eio: true } });
    assert.equal(faults.statusCode, 200);
    const again = await app.inject({ method: 'GET', url: '/v1/volumes/vol1/data?offset=1000&length=6000' });
    assert.deepEqual(again.rawPayload, data, 'served from the shadow despite EIO on live');
    const stats = (await app.inject({ method: 'GET', url: '/v1/volumes/vol1' })).json();
    assert.equal(stats.state, 'failed-over');
    assert.ok(stats.liveErrors >= 1);
    assert.equal(stats.tiers.length, 3);

    await app.inject({ method: 'PUT', url: '/v1/volumes/vol1/faults', payload: { addedLatencyMs: 0, eio: false } });
    const back = await app.inject({ method: 'POST', url: '/v1/volumes/vol1/failback' });
    assert.equal(back.json().state, 'live');
    const shadowFaults = await app.inject({ method: 'PUT', url: '/v1/volumes/vol1/faults', payload: { addedLatencyMs: 0, eio: true, device: 'shadow' } });
    assert.equal(shadowFaults.json().device, 'shadow');
    const written = await app.inject({ method: 'PUT', url: '/v1/volumes/vol1/data?offset=0', headers: { 'content-type': 'application/octet-stream' }, payload: Buffer.alloc(4096, 7) });
    assert.equal(written.statusCode, 204, 'durable on live: acknowledged');
    assert.equal((await app.inject({ method: 'GET', url: '/v1/volumes/vol1' })).json().shadowStaleBlocks, 1);
    await app.inject({ method: 'PUT', url: '/v1/volumes/vol1/faults', payload: { addedLatencyMs: 0, eio: false, device: 'shadow' } });
    const manual = await app.inject({ method: 'POST', url: '/v1/volumes/vol1/failover', payload: { reason: 'drill' } });
    assert.equal(manual.json().failoverReason, 'drill');

    const bad = await app.inject({ method: 'GET', url: '/v1/volumes/vol1/data?offset=-5&length=1' });
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().code, 'SHADOWPLANE_ERR_VALIDATION');
    const outside = await app.inject({ method: 'GET', url: `/v1/volumes/vol1/data?offset=${vol.size}&length=1` });
    assert.equal(outside.statusCode, 400);
    assert.equal(outside.json().problems[0].path, 'offset');
    const badFaults = await app.inject({ method: 'PUT', url: '/v1/volumes/vol1/faults', payload: { addedLatencyMs: 'x', eio: true, extra: 1 } });
    assert.equal(badFaults.statusCode, 400);
    const badDevice = await app.inject({ method: 'PUT', url: '/v1/volumes/vol1/faults', payload: { addedLatencyMs: 0, eio: true, device: 'disk' } });
    assert.equal(badDevice.statusCode, 400);
    assert.ok(badDevice.json().problems.some((p: { path: string }) => p.path.includes('device')), JSON.stringify(badDevice.json()));
    const missing = await app.inject({ method: 'GET', url: '/v1/volumes/nope' });
    assert.equal(missing.statusCode, 404);
    assert.equal(missing.json().code, 'SHADOWPLANE_ERR_NOT_FOUND');
  } finally {
    await app.close();
    await vol.close();
  }
});

test('API with a token: reads are open, every change needs the bearer token', async () => {
  const vol = await testVolume();
  const app = buildAdmin(new Map([['vol1', vol]]), 's3cret');
  try {
    const put = (headers: Record<string, string>) =>
      app.inject({ method: 'PUT', url: '/v1/volumes/vol1/data?offset=0', payload: Buffer.alloc(512, 1), headers: { 'content-type': 'application/octet-stream', ...headers } });
    const refused = await put({});
    assert.equal(refused.statusCode, 401);
    assert.equal(refused.json().code, 'SHADOWPLANE_ERR_UNAUTHORIZED');
    assert.equal((await put({ authorization: 'Bearer wrong' })).statusCode, 401);
    assert.equal((await app.inject({ method: 'POST', url: '/v1/volumes/vol1/failover', payload: {} })).statusCode, 401);
    assert.equal(vol.failover, 'live', 'a refused failover changes nothing');
    assert.equal((await put({ authorization: 'Bearer s3cret' })).statusCode, 204);
    assert.equal((await app.inject({ method: 'GET', url: '/v1/volumes/vol1' })).statusCode, 200);
  } finally {
    await app.close();
    await vol.close();
  }
});

test('volume API: stalled clients are closed after the header and body timeouts while a real client is answered', { timeout: 30_000 }, async () => {
  const vol = await testVolume();
  const app = buildAdmin(new Map([['vol1', vol]]), undefined, SHORT_TIMEOUTS);
  try {
    await app.listen({ host: '127.0.0.1', port: 0 });
    const port = (app.server.address() as { port: number }).port;
    await stalledHttpClientsClosed(port, async () => {
      assert.equal((await fetch(`http://127.0.0.1:${port}/v1/volumes`)).status, 200);
    });
  } finally {
    await app.close();
    await vol.close();
  }
});
