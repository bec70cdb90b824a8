/** `shadowplane serve` as a person starts it: a busy port, and the start-up lines. */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { PACKAGE_ROOT } from '../../src/core/version.js';
import { cli } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'sp-serve-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('a busy port is one clear error naming the port and --port, before the store is opened', async () => {
  const holder = createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  try {
    const port = (holder.address() as AddressInfo).port;
    const data = join(dir, 'busy-data');
    const run = spawnSync(process.execPath, cli('serve', '--port', String(port), '--data-dir', data), { encoding: 'utf8', env: { ...process.env, SHADOWPLANE_LOG_LEVEL: 'warn' } });
    assert.equal(run.status, 1, run.stderr);
    assert.match(run.stderr, new RegExp(`^error SHADOWPLANE_ERR_LISTEN: cannot listen on 127\\.0\\.0\\.1:${port}: the port is in use by another process\\. Pick another port with --port N \\(npm start -- --port N\\)`));
    assert.doesNotMatch(run.stderr, /EADDRINUSE.*\n\s+at /); // no stack trace
    assert.equal(existsSync(data), false, 'the data directory (and its store) was never created');
  } finally {
    await new Promise((resolve) => holder.close(resolve));
  }
});

test('the demo prints where the dashboard is and what to expect; --log-format human writes no JSON', { timeout: 60_000 }, async () => {
  const child = spawn(process.execPath, cli('serve', '--config', 'examples/demo.yaml', '--port', '0', '--data-dir', join(dir, 'demo'), '--log-format', 'human'), {
    cwd: PACKAGE_ROOT,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, SHADOWPLANE_LOG_LEVEL: 'info' },
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  let stderr = '';
  try {
    const line = await new Promise<string>((resolve, reject) => {
      child.stderr!.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        const m = /^dashboard: .*$/m.exec(stderr);
        if (m) resolve(m[0]);
      });
      void exited.then((code) => reject(new Error(`serve exited with ${code}: ${stderr}`)));
    });
    assert.match(line, /^dashboard: http:\/\/127\.0\.0\.1:\d+\/ — the demo target's first decision comes in about a minute/);
    assert.deepEqual(stderr.split('\n').filter((l) => l.startsWith('{')), [], 'no JSON log lines');
    assert.match(stderr, /^\d\d:\d\d:\d\d INFO {2}demo: demo target "demo" fed from a replayed trace/m);
    child.kill('SIGTERM');
    assert.equal(await exited, 0, `exit signal ${child.signalCode}: ${stderr}`);
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
});
