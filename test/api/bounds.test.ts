/**
 * Bounds on what one client can make the service do: items per ingest request, connections that
 * stall, and requests the HTTP layer cannot read — each answered with a catalogued problem+json.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertSafeBind } from '../../src/api/app.js';
import { ERROR_CATALOGUE, type ErrorCode } from '../../src/core/errors.js';
import { stalledClient, stalledHttpClientsClosed } from '../helpers/sockets.js';
import { T0, ndjson, testService } from '../helpers/service.js';

const event = (over: Record<string, unknown> = {}) => ({ target: 'orders-db', op: 'read', bytes: 100, latencyMs: 4, at: T0 + 1000, ...over });

describe('bounded work per request', () => {
  let h: Awaited<ReturnType<typeof testService>>;
  before(async () => {
    h = await testService({ server: { maxItemsPerBatch: 50 } });
  });
  after(() => h.cleanup());

  test('a request over server.maxItemsPerBatch gets 413 naming the limit and nothing in it is ingested, in either framing', async () => {
    const items = Array.from({ length: 51 }, () => event());
    for (const [type, payload] of [['application/json', JSON.stringify(items)], ['application/x-ndjson', ndjson(items)]]) {
      const res = await h.service.api.inject({ method: 'POST', url: '/v1/events', headers: { 'content-type': type }, payload });
      assert.equal(res.statusCode, 413);
      assert.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8');
      assert.equal(res.json().code, 'SHADOWPLANE_ERR_PAYLOAD_TOO_LARGE');
      assert.match(res.json().detail, /server\.maxItemsPerBatch \(50\)/);
    }
    const live = await h.service.api.inject({ method: 'GET', url: '/v1/targets/orders-db/live' });
    assert.equal(live.json().windows.length, 0, 'nothing was ingested');
    const ok = await h.service.api.inject({ method: 'POST', url: '/v1/events', payload: items.slice(0, 50) });
    assert.equal(ok.json().accepted, 50);
  });

  test('other JSON routes still parse their bodies whole and refuse prototype keys', async () => {
    const created = await h.service.api.inject({ method: 'POST', url: '/v1/targets', payload: { name: 'billing', kind: 'service' } });
    assert.equal(created.statusCode, 201);
    const poisoned = await h.service.api.inject({ method: 'POST', url: '/v1/targets', headers: { 'content-type': 'application/json' }, payload: '{"name":"x","kind":"service","__proto__":{"a":1}}' });
    assert.equal(poisoned.statusCode, 400);
  });
});

describe('the service listener', () => {
  let h: Awaited<ReturnType<typeof testService>>;
  let port: number;
  before(async () => {
    h = await testService({ server: { port: 0, headersTimeout: '200ms', requestTimeout: '400ms', idleTimeout: '2s' } });
    port = Number(new URL(await h.service.start()).port);
  });
  after(() => h.cleanup());

  test('closes clients that send nothing, stop inside their headers or inside their body, while serving a real client', { timeout: 30_000 }, async () => {
    await stalledHttpClientsClosed(port, async () => {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`);
      assert.deepEqual(await res.json(), { status: 'ok' });
    });
  });

  /** Sends `text` on a fresh connection (then ends its side unless `stall`) and reads the answer until the server closes it. */
  const raw = async (text: string, stall = false) => {
    const { socket, closed } = await stalledClient(port, text);
    if (!stall) socket.end();
    const answer = (await closed).toString('utf8');
    const [head, body] = answer.split('\r\n\r\n');
    return { status: Number(head.split(' ')[1]), type: /content-type: ([^\r]*)/i.exec(head)?.[1], body: body ? JSON.parse(body) : undefined };
  };

  test('every error the HTTP layer raises is problem+json with a catalogued code and that code\'s status', async () => {
    const close = 'Host: x\r\nConnection: close\r\n';
    const cases: [string, string, ErrorCode][] = [
      ['a URL that does not decode', `GET /v1/targets/%E0%A4%A HTTP/1.1\r\n${close}\r\n`, 'SHADOWPLANE_ERR_VALIDATION'],
      ['a 100 KB URL', `GET /v1/targets?x=${'a'.repeat(100_000)} HTTP/1.1\r\n${close}\r\n`, 'SHADOWPLANE_ERR_HEADERS_TOO_LARGE'],
      ['an unknown method', `BREW /v1/targets HTTP/1.1\r\n${close}\r\n`, 'SHADOWPLANE_ERR_BAD_REQUEST'],
      ['a request line that is not HTTP', 'HELLO\r\n\r\n', 'SHADOWPLANE_ERR_BAD_REQUEST'],
      ['a control character in a header', `GET /healthz HTTP/1.1\r\nX-A: \x01\r\n${close}\r\n`, 'SHADOWPLANE_ERR_BAD_REQUEST'],
      ['a Content-Length that is not a number', `POST /v1/events HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: abc\r\n${close}\r\n[`, 'SHADOWPLANE_ERR_BAD_REQUEST'],
      ['an unknown route', `GET /nope HTTP/1.1\r\n${close}\r\n`, 'SHADOWPLANE_ERR_NOT_FOUND'],
      ['a path parameter over 100 characters', `GET /v1/targets/${'a'.repeat(101)} HTTP/1.1\r\n${close}\r\n`, 'SHADOWPLANE_ERR_URL_TOO_LONG'],
      ['a content type no route takes', `POST /v1/targets HTTP/1.1\r\nContent-Type: text/csv\r\nContent-Length: 3\r\n${close}\r\na,b`, 'SHADOWPLANE_ERR_UNSUPPORTED_MEDIA_TYPE'],
      ['a body without a content type', `POST /v1/events HTTP/1.1\r\nContent-Length: 2\r\n${close}\r\n[]`, 'SHADOWPLANE_ERR_UNSUPPORTED_MEDIA_TYPE'],
      ['a body that is not JSON', `POST /v1/targets HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 3\r\n${close}\r\n{x}`, 'SHADOWPLANE_ERR_VALIDATION'],
      ['an empty JSON body', `POST /v1/targets HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 0\r\n${close}\r\n`, 'SHADOWPLANE_ERR_VALIDATION'],
      ['an ingest array that is not JSON', `POST /v1/events HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 5\r\n${close}\r\n[{},]`, 'SHADOWPLANE_ERR_VALIDATION'],
      ['a body over server.bodyLimit', `POST /v1/events HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 99999999\r\n${close}\r\n[`, 'SHADOWPLANE_ERR_PAYLOAD_TOO_LARGE'],
      ['headers that never end', 'GET /healthz HTTP/1.1\r\nHost: x\r\n', 'SHADOWPLANE_ERR_REQUEST_TIMEOUT'],
    ];
    for (const [what, text, code] of cases) {
      const answer = await raw(text, what === 'headers that never end');
      assert.equal(answer.type, 'application/problem+json; charset=utf-8', what);
      assert.equal(answer.body.code, code, what);
      assert.equal(answer.status, ERROR_CATALOGUE[code].status, what);
      assert.equal(answer.body.status, answer.status, what);
      assert.equal(typeof answer.body.detail, 'string', what);
    }
  });
});

describe('binding', () => {
  test('start() reports the address actually bound: 0.0.0.0 and the port picked for port 0', async () => {
    const h = await testService({ server: { host: '0.0.0.0', port: 0, token: 'a-token-of-enough-length' } });
    try {
      const address = await h.service.start();
      const url = new URL(address);
      assert.equal(url.hostname, '0.0.0.0');
      assert.notEqual(url.port, '0');
      assert.equal((await fetch(`http://127.0.0.1:${url.port}/healthz`)).status, 200);
    } finally {
      await h.cleanup();
    }
  });

  test('beyond loopback, a token shorter than 16 characters (spaces not counted) is refused, naming the rule', async () => {
    // Shorter tokens break server.token's schema already; these pass it, or come from SHADOWPLANE_API_TOKEN.
    for (const token of [' '.repeat(20), `x${' '.repeat(15)}`]) {
      await assert.rejects(testService({ server: { host: '0.0.0.0', token } }), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'SHADOWPLANE_ERR_INSECURE_BIND');
        assert.match(err.message, /at least 16 characters/);
        return true;
      });
    }
    assert.throws(() => assertSafeBind('the stream API', '0.0.0.0', 'x', 'SHADOWPLANE_STREAM_TOKEN'), /SHADOWPLANE_STREAM_TOKEN must be at least 16 characters/);
    assert.doesNotThrow(() => assertSafeBind('the stream API', '127.0.0.1', 'x', 'SHADOWPLANE_STREAM_TOKEN'));
  });
});
