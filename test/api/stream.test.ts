/**
 * GET /v1/stream over a real socket: notifications of target, audit and shadow changes arrive as
 * server-sent events, and an open stream does not keep the service from stopping. Also the
 * sampling route's optional reason, recorded in the audit trail.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { testService } from '../helpers/service.js';
import { until } from '../helpers/wait.js';

/** A connected SSE client that collects events. */
async function connect(url: string) {
  const res = await fetch(url, { headers: { accept: 'text/event-stream' } });
  const events: { type: string; data: Record<string, unknown> }[] = [];
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  const ended = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let cut;
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const type = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (type && data) events.push({ type, data: JSON.parse(data) });
      }
    }
  })();
  return { res, events, ended };
}

describe('live stream and audited sampling', () => {
  let env: Awaited<ReturnType<typeof testService>>;
  let base: string;
  before(async () => {
    env = await testService({ server: { host: '127.0.0.1', port: 0 } });
    base = await env.service.start();
  });
  after(() => env.cleanup());

  test('a sampling change with a reason is audited; without one it is audited as such; a bad reason names the field', async () => {
    const put = (payload: unknown) => env.service.api.inject({ method: 'PUT', url: '/v1/targets/orders-db/sampling', payload: payload as never });
    assert.equal((await put({ rate: 0.5, why: 'storage is filling up', actor: 'bob' })).json().rate, 0.5);
    let audit = (await env.service.api.inject({ method: 'GET', url: '/v1/targets/orders-db/audit' })).json().audit;
    assert.deepEqual([audit[0].action, audit[0].actor, audit[0].why, audit[0].detail], ['sampling', 'bob', 'storage is filling up', { from: 1, to: 0.5 }]);
    env.clock.advance(1000);
    assert.equal((await put({ rate: 0.25 })).statusCode, 200);
    audit = (await env.service.api.inject({ method: 'GET', url: '/v1/targets/orders-db/audit' })).json().audit;
    assert.deepEqual([audit[0].why, audit[0].actor, audit[0].detail], ['no reason given', 'local:127.0.0.1', { from: 0.5, to: 0.25 }]);
    const bad = await put({ rate: 0.3, why: '' });
    assert.equal(bad.statusCode, 400);
    assert.deepEqual(bad.json().problems, [{ path: '/body/why', message: 'must say why (1 to 1024 characters)' }]);
  });

  test('changes arrive as server-sent events; stopping the service ends the open stream', async () => {
    const s = await connect(`${base}/v1/stream`);
    assert.equal(s.res.status, 200);
    assert.match(String(s.res.headers.get('content-type')), /^text\/event-stream/);
    await until('the subscription', () => env.service.events.size === 1);
    await fetch(`${base}/v1/targets/orders-db/sampling`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ rate: 0.9, why: 'more detail' }) });
    await until('the audit event', () => s.events.some((e) => e.type === 'audit'));
    assert.deepEqual(s.events.map((e) => e.type), ['target', 'audit']);
    assert.deepEqual([s.events[1].data.target, s.events[1].data.action], ['orders-db', 'sampling']);
    await fetch(`${base}/v1/shadows`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'p', kind: 'traffic', url: 'http://127.0.0.1:1' }) });
    await until('the shadow event', () => s.events.some((e) => e.type === 'shadow'));
    assert.equal(s.events.find((e) => e.type === 'shadow')!.data.shadow, 'p');

    await env.service.stop();
    await s.ended;
    assert.equal(env.service.events.size, 0, 'the subscription is gone');
  });
});
