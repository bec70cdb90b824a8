/**
 * One timeline: a real `shadowplane volume serve` process started with `--control-url` and
 * `--target` sends its figures to the service as samples of that target and reports what it does
 * (here a failover and the failback) as decisions on the target's timeline.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { timelineFixture } from '../../helpers/timeline.js';
import { freePort, waitFor } from '../../helpers/wait.js';

const env = timelineFixture({ name: 'orders-vol', kind: 'volume' });

test('a volume service started with --target puts its figures and its failover on that target\'s timeline', { timeout: 120_000 }, async () => {
  const [nbdPort, httpPort] = [await freePort(), await freePort()];
  env.start(['volume', 'serve', '--dir', join(env.dir, 'vol'), '--size-mib', '4', '--nbd-port', String(nbdPort), '--http-port', String(httpPort),
    '--control-url', env.url, '--target', 'orders-vol', '--report-ms', '300']);
  const api = `http://127.0.0.1:${httpPort}`;
  await waitFor(`the volume service to answer (${env.stderr})`, async () => (await fetch(`${api}/v1/volumes/vol1`).catch(() => undefined))?.ok, 30_000);

  const metrics = await env.metricKeys();
  assert.ok(metrics.some((k) => k.startsWith('volume_reads_per_second{volume="vol1"}')), `samples of the target: ${metrics.join(', ')}`);

  const over = await fetch(`${api}/v1/volumes/vol1/failover`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ reason: 'disk errors rising' }) });
  assert.equal(over.status, 200, await over.text());
  const failedOver = await waitFor('the failover on the timeline', async () => (await env.service.controller.decisions('orders-vol', 20)).find((d) => d.component?.action === 'failed-over'), 30_000);
  assert.equal(failedOver.reason, 'FailedOver');
  assert.equal(failedOver.component!.name, 'volume-vol1');
  assert.equal(failedOver.component!.kind, 'volumes');
  assert.match(failedOver.message, /failed over to its shadow \(disk errors rising\)/);

  const back = await fetch(`${api}/v1/volumes/vol1/failback`, { method: 'POST' });
  assert.equal(back.status, 200, await back.text());
  await waitFor('the failback on the timeline', async () => (await env.service.controller.decisions('orders-vol', 20)).some((d) => d.component?.action === 'failed-back'), 30_000);
});
