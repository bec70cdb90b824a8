/**
 * One timeline: a real `shadowplane stream serve` process started with `--control-url` and
 * `--target` sends its partition figures to the service as samples of that target and reports the
 * actions it takes on its own (here an operator's move, which creates a shadow, switches to it and
 * releases the old owner) as decisions on the target's timeline, beside the loop's own.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { validateConfig } from '../../../src/config.js';
import type { DecisionRecord } from '../../../src/model/decision.js';
import { ShadowplaneService } from '../../../src/service.js';

const root = fileURLToPath(new URL('../../../', import.meta.url)).replace(/\/dist\/$/, '/');
const cli = join(root, 'dist/src/cli/main.js');
const dir = mkdtempSync(join(tmpdir(), 'sp-timeline-'));
let service: ShadowplaneService;
let serviceUrl: string;
let stream: ChildProcess | undefined;

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** Polls `read` every 100 ms until it returns something truthy; fails after `ms`. */
async function until<T>(read: () => Promise<T | undefined | false>, ms: number, what: string): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (value) return value;
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

before(async () => {
  service = await ShadowplaneService.create(validateConfig({ server: { port: 0 }, store: { dataDir: join(dir, 'data'), flushInterval: '500ms' }, targets: [{ name: 'orders-stream', kind: 'stream' }] }));
  serviceUrl = await service.start();
});

after(async () => {
  if (stream && stream.exitCode === null) {
    const exited = new Promise((r) => stream!.once('exit', r));
    stream.kill('SIGTERM');
    await exited;
  }
  await service.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('a stream service started with --target puts its samples and its own actions on that target\'s timeline', { timeout: 120_000 }, async () => {
  const port = await freePort();
  stream = spawn('node', [cli, 'stream', 'serve', '--listen', `127.0.0.1:${port}`, '--dir', join(dir, 'stream'), '--partitions', '2', '--workers', '2', '--window-ms', '500',
    '--control-url', serviceUrl, '--target', 'orders-stream', '--name', 'orders-stream-svc'], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, SHADOWPLANE_LOG_LEVEL: 'warn' } });
  let stderr = '';
  stream.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const api = `http://127.0.0.1:${port}`;
  await until(async () => (await fetch(`${api}/v1/partitions`).catch(() => undefined))?.ok, 30_000, `the stream service to answer (${stderr})`);

  const metrics = await until(async () => {
    await service.flush();
    const top = (await service.api.inject({ method: 'GET', url: '/v1/targets/orders-stream/top?dim=metric&from=now-10m' })).json() as { keys: { key: string }[] };
    return top.keys.length > 0 && top.keys.map((r) => r.key);
  }, 30_000, 'partition samples in the Shadow Store');
  assert.ok(metrics.some((k) => k.startsWith('partition_utilisation')), `samples of the target: ${metrics.join(', ')}`);

  const before = ((await (await fetch(`${api}/v1/partitions`)).json()) as { partition: number; worker: number }[])[0];
  const to = before.worker === 0 ? 1 : 0;
  const moved = await fetch(`${api}/v1/partitions/0/move`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ worker: to }) });
  assert.equal(moved.status, 200, await moved.text());

  const decisions = await until(async () => {
    const list = await service.controller.decisions('orders-stream', 50);
    const own = list.filter((d) => d.component?.name === 'orders-stream-svc');
    return own.some((d) => d.component!.action === 'switched') && own;
  }, 30_000, 'the switch on the timeline');
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
  const bad = await service.api.inject({ method: 'POST', url: '/v1/targets/orders-stream/decisions', payload: { component: 'x', kind: 'partitions', action: 'Switched!', message: 'm' } });
  assert.equal(bad.statusCode, 400);
  assert.equal(bad.json().problems[0].path, '/body/action');
  const future = await service.api.inject({ method: 'POST', url: '/v1/targets/orders-stream/decisions', payload: { component: 'x', kind: 'partitions', action: 'switched', message: 'm', at: Date.now() + 3_600_000 } });
  assert.equal(future.json().problems[0].path, '/body/at');
  const unknown = await service.api.inject({ method: 'POST', url: '/v1/targets/nope/decisions', payload: { component: 'x', kind: 'partitions', action: 'switched', message: 'm' } });
  assert.equal(unknown.statusCode, 404);
});
