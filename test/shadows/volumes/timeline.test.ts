/**
 * One timeline: a real `shadowplane volume serve` process started with `--control-url` and
 * `--target` sends its figures to the service as samples of that target and reports what it does
 * (here a failover and the failback) as decisions on the target's timeline.
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
import { ShadowplaneService } from '../../../src/service.js';

const root = fileURLToPath(new URL('../../../', import.meta.url)).replace(/\/dist\/$/, '/');
const cli = join(root, 'dist/src/cli/main.js');
const dir = mkdtempSync(join(tmpdir(), 'sp-vol-timeline-'));
let service: ShadowplaneService;
let serviceUrl: string;
let volume: ChildProcess | undefined;

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
  service = await ShadowplaneService.create(validateConfig({ server: { port: 0 }, store: { dataDir: join(dir, 'data'), flushInterval: '500ms' }, targets: [{ name: 'orders-vol', kind: 'volume' }] }));
  serviceUrl = await service.start();
});

after(async () => {
  if (volume && volume.exitCode === null) {
    const exited = new Promise((r) => volume!.once('exit', r));
    volume.kill('SIGTERM');
    await exited;
  }
  await service.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('a volume service started with --target puts its figures and its failover on that target\'s timeline', { timeout: 120_000 }, async () => {
  const [nbdPort, httpPort] = [await freePort(), await freePort()];
  volume = spawn('node', [cli, 'volume', 'serve', '--dir', join(dir, 'vol'), '--size-mib', '4', '--nbd-port', String(nbdPort), '--http-port', String(httpPort),
    '--control-url', serviceUrl, '--target', 'orders-vol', '--report-ms', '300'], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, SHADOWPLANE_LOG_LEVEL: 'warn' } });
  let stderr = '';
  volume.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const api = `http://127.0.0.1:${httpPort}`;
  await until(async () => (await fetch(`${api}/volumes/vol1`).catch(() => undefined))?.ok, 30_000, `the volume service to answer (${stderr})`);

  const metrics = await until(async () => {
    await service.flush();
    const top = (await service.api.inject({ method: 'GET', url: '/v1/targets/orders-vol/top?dim=metric&from=now-10m' })).json() as { keys: { key: string }[] };
    return top.keys.length > 0 && top.keys.map((r) => r.key);
  }, 30_000, 'volume samples in the Shadow Store');
  assert.ok(metrics.some((k) => k.startsWith('volume_reads_per_second{volume="vol1"}')), `samples of the target: ${metrics.join(', ')}`);

  const over = await fetch(`${api}/volumes/vol1/failover`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ reason: 'disk errors rising' }) });
  assert.equal(over.status, 200, await over.text());
  const failedOver = await until(async () => (await service.controller.decisions('orders-vol', 20)).find((d) => d.component?.action === 'failed-over'), 30_000, 'the failover on the timeline');
  assert.equal(failedOver.reason, 'FailedOver');
  assert.equal(failedOver.component!.name, 'volume-vol1');
  assert.equal(failedOver.component!.kind, 'volumes');
  assert.match(failedOver.message, /failed over to its shadow \(disk errors rising\)/);

  const back = await fetch(`${api}/volumes/vol1/failback`, { method: 'POST' });
  assert.equal(back.status, 200, await back.text());
  await until(async () => (await service.controller.decisions('orders-vol', 20)).some((d) => d.component?.action === 'failed-back'), 30_000, 'the failback on the timeline');
});
