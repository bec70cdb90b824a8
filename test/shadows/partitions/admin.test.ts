import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { StreamClient } from '../../../src/shadows/partitions/client.js';
import { SHORT_TIMEOUTS, stalledHttpClientsClosed } from '../../helpers/sockets.js';
import { buildAdmin, startAdmin } from '../../../src/shadows/partitions/admin.js';
import { SegmentLog } from '../../../src/shadows/partitions/segment-log.js';
import { StreamService } from '../../../src/shadows/partitions/service.js';

describe('stream HTTP API', () => {
  let dir: string;
  let log: SegmentLog;
  let svc: StreamService;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sp-stream-http-'));
    log = new SegmentLog({ dir });
    svc = await StreamService.start({ log, partitions: 2, workers: 2, capacity: 1000 });
  });
  after(async () => {
    await svc.stop();
    await log.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('appends NDJSON through the client and reports bad lines while keeping good ones', async () => {
    const app = await startAdmin(svc, { host: '127.0.0.1', port: 0 });
    try {
      const addr = app.server.address() as { port: number };
      const client = new StreamClient(`http://127.0.0.1:${addr.port}`);
      const ok = await client.append([{ key: 'a', value: '1', id: 'r1' }, { key: 'b', value: '2' }]);
      assert.equal(ok.accepted.length, 2);
      assert.equal(ok.accepted[0].id, 'r1');
      const res = await fetch(`http://127.0.0.1:${addr.port}/v1/records`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body: '{"key":"c","value":"3"}\nnot json\n{"key":"","value":"x"}\n{"key":"d","value":"4","extra":1}\n' });
      const body = (await res.json()) as { accepted: unknown[]; rejected: { path: string; message: string }[] };
      assert.equal(res.status, 200);
      assert.equal(body.accepted.length, 1);
      assert.deepEqual(body.rejected.map((r) => r.path), ['line 2', 'line 3/key', 'line 4/extra']);
      await assert.rejects(client.append([{ key: '', value: 'x' }]), /SHADOWPLANE_ERR_VALIDATION/);
    } finally {
      await app.close();
    }
  });

  it('closes stalled clients after the header and body timeouts while a real client is answered', { timeout: 30_000 }, async () => {
    const app = await startAdmin(svc, { host: '127.0.0.1', port: 0 }, undefined, SHORT_TIMEOUTS);
    try {
      const port = (app.server.address() as { port: number }).port;
      await stalledHttpClientsClosed(port, async () => {
        assert.equal((await fetch(`http://127.0.0.1:${port}/v1/partitions`)).status, 200);
      });
    } finally {
      await app.close();
    }
  });

  it('answers problem+json for bodies that are not records and for bad operator commands', async () => {
    const app = buildAdmin(svc);
    const bad = await app.inject({ method: 'POST', url: '/v1/records', headers: { 'content-type': 'application/json' }, payload: '{"key":"a"}' });
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().code, 'SHADOWPLANE_ERR_VALIDATION');
    const broken = await app.inject({ method: 'POST', url: '/v1/records', headers: { 'content-type': 'application/json' }, payload: '[{"key":' });
    assert.equal(broken.statusCode, 400);
    const arr = await app.inject({ method: 'POST', url: '/v1/records', payload: [{ key: 'k', value: 7 }] });
    assert.equal(arr.statusCode, 400);
    assert.equal(arr.json().problems[0].path, '/0/value');
    const pin = await app.inject({ method: 'POST', url: '/v1/partitions/0/pin', payload: { pinned: 'yes' } });
    assert.equal(pin.statusCode, 400);
    assert.deepEqual(pin.json().problems, [{ path: '/body/pinned', message: 'must be boolean' }]);
    const negative = await app.inject({ method: 'POST', url: '/v1/partitions/-1/move', payload: { worker: 0 } });
    assert.deepEqual(negative.json().problems, [{ path: '/params/p', message: 'must be a partition number (an integer >= 0)' }]);
    const unknown = await app.inject({ method: 'POST', url: '/v1/partitions/9/pin', payload: { pinned: true } });
    assert.equal(unknown.statusCode, 404);
    const self = await app.inject({ method: 'POST', url: '/v1/partitions/0/move', payload: { worker: svc.table.owners[0] } });
    assert.equal(self.statusCode, 409);
    const routing = await app.inject({ method: 'GET', url: '/v1/routing' });
    assert.equal(routing.json().owners.length, 2);
    await app.close();
  });

  it('with a token, operator commands and appends need it; reads do not', async () => {
    const app = buildAdmin(svc, 'stream-token');
    const refused = await app.inject({ method: 'POST', url: '/v1/partitions/0/pin', payload: { pinned: true } });
    assert.equal(refused.statusCode, 401);
    assert.equal(refused.json().code, 'SHADOWPLANE_ERR_UNAUTHORIZED');
    assert.equal(svc.partitions()[0].pinned, false, 'a refused command changes nothing');
    assert.equal((await app.inject({ method: 'POST', url: '/v1/records', payload: [{ key: 'k', value: 'v' }] })).statusCode, 401);
    assert.equal((await app.inject({ method: 'GET', url: '/v1/partitions' })).statusCode, 200);
    await app.close();
    await assert.rejects(startAdmin(svc, { host: '0.0.0.0', port: 0 }), (err: Error & { code?: string }) => err.code === 'SHADOWPLANE_ERR_INSECURE_BIND');
  });
});
