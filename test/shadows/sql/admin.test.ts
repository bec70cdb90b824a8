import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { startAdmin } from '../../../src/shadows/sql/admin.js';
import { SHORT_TIMEOUTS, stalledHttpClientsClosed } from '../../helpers/sockets.js';
import { PgProxy } from '../../../src/shadows/sql/proxy.js';
import { EventSink } from '../../../src/shadows/sql/sink.js';

const json = { 'content-type': 'application/json' };

test('pg-proxy admin API: rates change at run time, bad bodies are named, the token guards changes, no wide bind without one', async () => {
  const sink = new EventSink({});
  const proxy = new PgProxy({ upstreamHost: '127.0.0.1', upstreamPort: 1, target: 't', sampleRate: 0.01, events: sink });
  const admin = await startAdmin({ proxy, sink }, { host: '127.0.0.1', port: 0 }, 'pg-admin-token');
  const base = `http://127.0.0.1:${(admin.server.address() as AddressInfo).port}`;
  try {
    const put = (body: unknown, headers: Record<string, string> = { ...json, authorization: 'Bearer pg-admin-token' }) =>
      fetch(`${base}/v1/rates`, { method: 'PUT', headers, body: JSON.stringify(body) });
    assert.equal((await put({ sampleRate: 0.5 }, json)).status, 401);
    assert.equal(proxy.getSampleRate(), 0.01, 'a refused change changes nothing');
    const ok = await put({ sampleRate: 0.5 });
    assert.deepEqual(await ok.json(), { sampleRate: 0.5 });
    const noShadow = await put({ readRate: 0.2 });
    assert.equal(noShadow.status, 400);
    assert.deepEqual(((await noShadow.json()) as { problems: unknown[] }).problems, [{ path: '/body/readRate', message: 'needs a shadow (--shadow)' }]);
    const outOfRange = await put({ sampleRate: -1 });
    assert.deepEqual(((await outOfRange.json()) as { problems: unknown[] }).problems, [{ path: '/body/sampleRate', message: 'must be a number between 0 and 1' }]);
    const status = (await (await fetch(`${base}/v1/status`)).json()) as { rates: { sampleRate: number }; mirror: unknown };
    assert.equal(status.rates.sampleRate, 0.5);
    assert.equal(status.mirror, null);
    await assert.rejects(startAdmin({ proxy, sink }, { host: '0.0.0.0', port: 0 }), (err: Error & { code?: string }) => err.code === 'SHADOWPLANE_ERR_INSECURE_BIND');
  } finally {
    await admin.close();
    await sink.close();
  }
});

test('pg-proxy admin API: stalled clients are closed after the header and body timeouts while a real client is answered', { timeout: 30_000 }, async () => {
  const sink = new EventSink({});
  const proxy = new PgProxy({ upstreamHost: '127.0.0.1', upstreamPort: 1, target: 't', sampleRate: 0.01, events: sink });
  const admin = await startAdmin({ proxy, sink }, { host: '127.0.0.1', port: 0 }, undefined, SHORT_TIMEOUTS);
  const port = (admin.server.address() as AddressInfo).port;
  try {
    await stalledHttpClientsClosed(port, async () => {
      assert.equal((await fetch(`http://127.0.0.1:${port}/v1/status`)).status, 200);
    });
  } finally {
    await admin.close();
    await sink.close();
  }
});
