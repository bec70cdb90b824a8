import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveProxyConfig } from '../../../src/cli/proxy.js';
import { isCoded, type ShadowplaneError } from '../../../src/core/errors.js';
import { validate, validateRoute, ProxyConfigSchema } from '../../../src/shadows/traffic/config.js';
import { request, upstream } from './helpers.js';
import { cli } from '../../helpers/cli.js';

function problems(fn: () => unknown): { path: string; message: string }[] {
  try {
    fn();
  } catch (e) {
    assert.ok(isCoded(e, 'SHADOWPLANE_ERR_CONFIG_INVALID'), String(e));
    return [...(e as ShadowplaneError).problems];
  }
  assert.fail('expected a configuration error');
}

describe('proxy configuration', () => {
  test('fills defaults', () => {
    const c = validate(ProxyConfigSchema, { routes: [{ name: 'a', primary: 'http://127.0.0.1:1' }] });
    assert.equal(c.listen, '127.0.0.1:8080');
    assert.equal(c.admin, '127.0.0.1:9901');
    const r = c.routes[0]!;
    assert.equal(r.pathPrefix, '/');
    assert.deepEqual(r.migration.steps, [0.01, 0.05, 0.25, 0.5, 1]);
    assert.deepEqual(r.mirror.methods, ['GET', 'HEAD']);
    assert.equal(r.mirror.writes.enabled, false);
    assert.equal(r.mirror.maxInFlight, 64);
  });

  test('names every bad field and rule', () => {
    const p = problems(() => validate(ProxyConfigSchema, {
      routes: [
        { name: 'a', primary: 'http://127.0.0.1:1/path', shadow: 'http://127.0.0.1:2', migration: { steps: [0.5, 0.25] } },
        { name: 'a', primary: 'http://127.0.0.1:1', weight: 0.5 },
      ],
    }));
    assert.deepEqual(p, [
      { path: '/routes/0/migration/steps', message: 'must be strictly ascending' },
      { path: '/routes/0/primary', message: 'must be an origin without path or query' },
      { path: '/routes/1/weight', message: 'needs a shadow' },
      { path: '/routes/1/name', message: 'duplicate route name "a"' },
    ]);
    const schema = problems(() => validateRoute({ name: 'bad name', primary: 'https://x', mirror: { fraction: -1 }, extra: true }));
    const paths = schema.map((x) => x.path);
    for (const want of ['/name', '/primary', '/mirror/fraction']) assert.ok(paths.includes(want), `${want} in ${paths.join(' ')}`);
    assert.ok(schema.some((x) => /additional|unexpected|extra/i.test(x.message + x.path)), JSON.stringify(schema));
  });

  test('flags define the single route; the file gives the rest; YAML and JSON both read', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sp-proxy-'));
    const yaml = join(dir, 'proxy.yaml');
    await writeFile(yaml, 'admin: 127.0.0.1:9999\nroutes:\n  - name: api\n    pathPrefix: /api\n    primary: http://127.0.0.1:7001\n');
    const c = await resolveProxyConfig({ config: yaml, listen: '127.0.0.1:7000', primary: 'http://127.0.0.1:7002', shadow: 'http://127.0.0.1:7003', mirrorFraction: 0.25, mirrorWrites: true });
    assert.equal(c.listen, '127.0.0.1:7000');
    assert.equal(c.admin, '127.0.0.1:9999');
    assert.deepEqual(c.routes.map((r) => r.name), ['api', 'default']);
    assert.equal(c.routes[1]!.mirror.fraction, 0.25);
    assert.equal(c.routes[1]!.mirror.writes.enabled, true);
    const json = join(dir, 'proxy.json');
    await writeFile(json, '{"routes": 3}');
    await assert.rejects(resolveProxyConfig({ config: json }), (e) => isCoded(e, 'SHADOWPLANE_ERR_CONFIG_INVALID'));
    await writeFile(json, '{"routes": [');
    await assert.rejects(resolveProxyConfig({ config: json }), (e) => isCoded(e, 'SHADOWPLANE_ERR_CONFIG_UNREADABLE'));
    await assert.rejects(resolveProxyConfig({ config: join(dir, 'missing.yaml') }), (e) => isCoded(e, 'SHADOWPLANE_ERR_CONFIG_UNREADABLE'));
    await assert.rejects(resolveProxyConfig({ shadow: 'http://127.0.0.1:1' }), (e) => isCoded(e, 'SHADOWPLANE_ERR_CONFIG_INVALID'));
    await assert.rejects(resolveProxyConfig({ control: 'http://127.0.0.1:1' }), (e) => isCoded(e, 'SHADOWPLANE_ERR_CONFIG_INVALID'));
  });

  test('`shadowplane proxy` runs as its own process and stops on SIGTERM', async () => {
    const primary = await upstream((_s, res) => res.end('via proxy'));
    const child = spawn(process.execPath, cli('proxy', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--primary', primary.origin, '--log-format', 'json'), {
      env: { ...process.env, SHADOWPLANE_LOG_LEVEL: 'info', NODE_ENV: 'production' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    try {
      let err = '';
      const listen = await new Promise<string>((resolve, reject) => {
        child.stderr.on('data', (c) => {
          err += c;
          const m = /"listen":"([^"]+)"/.exec(err);
          if (m) resolve(m[1]!);
        });
        void exited.then((code) => reject(new Error(`proxy exited ${code}: ${err}`)));
      });
      assert.equal((await request(`http://${listen}/x`)).body, 'via proxy');
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await primary.close();
    }
  });

  test('refuses a non-loopback admin address without a token', async () => {
    const child = spawn(process.execPath, cli('proxy', '--listen', '127.0.0.1:0', '--admin', '0.0.0.0:0', '--primary', 'http://127.0.0.1:1'), {
      env: { ...process.env, SHADOWPLANE_PROXY_TOKEN: '' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (c) => (err += c));
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    assert.equal(code, 1);
    assert.match(err, /error SHADOWPLANE_ERR_INSECURE_BIND/);
  });
});
