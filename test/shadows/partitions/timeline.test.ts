/**
 * One timeline: a real `shadowplane stream serve` process started with `--control-url` and
 * `--target` sends its partition figures to the service as samples of that target and reports the
 * actions it takes on its own (here an operator's move, which creates a shadow, switches to it and
 * releases the old owner) as decisions on the target's timeline, beside the loop's own.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import type { DecisionRecord } from '../../../src/model/decision.js';
import { timelineFixture } from '../../helpers/timeline.js';
import { freePort, waitFor } from '../../helpers/wait.js';

const env = timelineFixture({ name: 'orders-stream', kind: 'stream' });

test('a stream service started with --target puts its samples and its own actions on that target\'s timeline', { timeout: 120_000 }, async () => {
  const port = await freePort();
  env.start(['stream', 'serve', '--listen', `127.0.0.1:${port}`, '--dir', join(env.dir, 'stream'), '--partitions', '2', '--workers', '2', '--window-ms', '500',
    '--control-url', env.url, '--target', 'orders-stream', '--name', 'orders-stream-svc']);
  const api = `http://127.0.0.1:${port}`;
  await waitFor(`the stream service to answer (${env.stderr})`, async () => (await fetch(`${api}/v1/partitions`).catch(() => undefined))?.ok, 30_000);

  const metrics = await env.metricKeys();
  assert.ok(metrics.some((k) => k.startsWith('partition_utilisation')), `samples of the target: ${metrics.join(', ')}`);

  const before = ((await (await fetch(`${api}/v1/partitions`)).json()) as { partition: number; worker: number }[])[0];
  const to = before.worker === 0 ? 1 : 0;
  const moved = await fetch(`${api}/v1/partitions/0/move`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ worker: to }) });
  assert.equal(moved.status, 200, await moved.text());

  const decisions = await waitFor('the switch on the timeline', async () => {
    const list = await env.service.controller.decisions('orders-stream', 50);
    const own = list.filter((d) => d.component?.name === 'orders-stream-svc');
    return own.some((d) => d.component!.action === 'switched') && own;
  }, 30_000);
  const switched = decisions.find((d: DecisionRecord) => d.component!.action === 'switched')!;
  assert.equal(switched.reason, 'Switched');
  assert.equal(switched.status, 'succeeded');
  assert.equal(switched.component!.kind, 'partitions');
  assert.equal(switched.component!.evidence.partition, 0);
  assert.equal(switched.component!.evidence.worker, to);
  assert.match(switched.message, /^orders-stream-svc: switched: partition 0 on worker \d/);
  assert.ok(decisions.some((d) => d.component!.action === 'shadow-created'), 'the shadow it created first is there too');
});

test('a report the service cannot take is refused naming the field', async () => {
  const headers = { authorization: `Bearer ${env.token}` };
  const anonymous = await env.service.api.inject({ method: 'POST', url: '/v1/targets/orders-stream/decisions', payload: { component: 'x', kind: 'partitions', action: 'switched', message: 'm' } });
  assert.equal(anonymous.statusCode, 401, 'a report is a change: it needs the token');
  const bad = await env.service.api.inject({ method: 'POST', headers, url: '/v1/targets/orders-stream/decisions', payload: { component: 'x', kind: 'partitions', action: 'Switched!', message: 'm' } });
  assert.equal(bad.statusCode, 400);
  assert.equal(bad.json().problems[0].path, '/body/action');
  const future = await env.service.api.inject({ method: 'POST', headers, url: '/v1/targets/orders-stream/decisions', payload: { component: 'x', kind: 'partitions', action: 'switched', message: 'm', at: Date.now() + 3_600_000 } });
  assert.equal(future.json().problems[0].path, '/body/at');
  const unknown = await env.service.api.inject({ method: 'POST', headers, url: '/v1/targets/nope/decisions', payload: { component: 'x', kind: 'partitions', action: 'switched', message: 'm' } });
  assert.equal(unknown.statusCode, 404);
});
