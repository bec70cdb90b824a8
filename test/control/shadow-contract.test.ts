/**
 * The service checks every answer of a shadow component against the component's contract: a real
 * HTTP server answering off the contract is refused with the field named, whatever the kind.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { act, readStatus } from '../../src/control/shadows/components.js';
import type { Endpoint } from '../../src/control/shadows/adapter.js';

describe('shadow component answers off the contract', () => {
  const answers = new Map<string, unknown>();
  let server: http.Server;
  let ep: Endpoint;
  before(async () => {
    server = http.createServer((req, res) => {
      const key = `${req.method} ${req.url}`;
      if (!answers.has(key)) return res.writeHead(404, { 'content-type': 'application/json' }).end('{"code":"SHADOWPLANE_ERR_NOT_FOUND","detail":"no such route"}');
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answers.get(key)));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    ep = { name: 'odd', url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, timeoutMs: 2000 };
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  const refused = (field: string) => (err: Error & { code?: string; problems?: { path: string }[] }) => {
    assert.equal(err.code, 'SHADOWPLANE_ERR_SHADOW_REFUSED');
    assert.match(err.message, new RegExp(`shadow "odd" answered .* off its contract: ${field} `));
    assert.ok(err.problems?.some((p) => p.path === field), JSON.stringify(err.problems));
    return true;
  };

  test('a traffic proxy whose route weight is not a number', async () => {
    const upstream = { origin: 'http://p', healthy: true, ejected: false, available: true, lastProbeMs: 0 };
    answers.set('GET /v1/routes', { routes: [{ config: { name: 'r' }, weight: 'half', mirror: null, upstreams: { primary: upstream, shadow: null, secondary: null }, migration: null }] });
    await assert.rejects(readStatus('traffic', ep), refused('/routes/0/weight'));
  });

  test('a stream service whose routing table lacks its owners', async () => {
    answers.set('GET /v1/partitions', []);
    answers.set('GET /v1/routing', { version: 3 });
    await assert.rejects(readStatus('partitions', ep), refused('/owners'));
  });

  test('a volume service whose list is not a list', async () => {
    answers.set('GET /v1/volumes', { volumes: [] });
    await assert.rejects(readStatus('volumes', ep), refused('/'));
  });

  test('an interceptor that answers a rate change with a rate above 1', async () => {
    answers.set('PUT /v1/rates', { sampleRate: 2 });
    await assert.rejects(act(ep, { op: 'rates', sampleRate: 0.5 }, 'test'), refused('/sampleRate'));
  });

  test('fields beyond the contract pass', async () => {
    answers.set('GET /v1/status', { rates: { sampleRate: 0.1 }, engine: 'js', proxy: {}, sink: {}, mirror: null, extra: { added: 'later' } });
    assert.equal(((await readStatus('sql', ep)) as { engine: string }).engine, 'js');
  });
});
