/**
 * `shadowplane import` (the real command, a child process) against a running service: three days
 * of a series backfilled into a real Prometheus (promtool) are read with query_range and written
 * as closed windows at every granularity, progress shown; a second run writes nothing; the
 * target's loop forecasts on its first tick; a CSV export of the same points makes the same
 * windows; bad input is refused naming the flag or the line.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { validateConfig } from '../../src/config.js';
import { ShadowplaneService } from '../../src/service.js';
import { peerSkipReason, PROMETHEUS_BIN, startPrometheus, type Peer } from '../helpers/peers.js';

const root = fileURLToPath(new URL('../../', import.meta.url)).replace(/\/dist\/$/, '/');
const cli = join(root, 'dist/src/cli/main.js');
const MIN = 60_000;
const HOUR = 60 * MIN;

/** Runs the CLI; resolves with its exit code, stdout and stderr. */
function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('node', [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SHADOWPLANE_LOG_LEVEL: 'warn' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A daily wave with a little deterministic wobble, per minute. */
const load = (t: number) => Math.round((100 + 60 * Math.sin((2 * Math.PI * t) / (24 * HOUR)) + 7 * Math.sin(t / (13 * MIN))) * 1000) / 1000;

describe('history import', { skip: peerSkipReason(PROMETHEUS_BIN) }, () => {
  let dir: string;
  let service: ShadowplaneService;
  let url: string;
  let prometheus: Peer;
  const now = Date.now();
  const first = now - (now % MIN) - 3 * 24 * HOUR - 2 * HOUR;
  const minutes = Array.from({ length: (now - first) / MIN | 0 }, (_, i) => first + i * MIN);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sp-import-'));
    const control = { metric: 'app_load', capacityPerUnit: 20, minWindows: 30, season: '1d', history: '3d', provisioningDelay: '5m' };
    service = await ShadowplaneService.create(validateConfig({
      server: { port: 0 },
      store: { dataDir: dir },
      control: { enabled: false },
      targets: ['app', 'app-csv'].map((name) => ({ name, kind: 'service', actuator: { type: 'replay', provisioningDelayMs: 5 * MIN }, control })),
    }));
    url = await service.start();
    const om = ['# TYPE app_load gauge', ...minutes.map((t) => `app_load{job="app",instance="a:1"} ${load(t)} ${t / 1000}`), '# EOF', ''].join('\n');
    prometheus = await startPrometheus('global: { scrape_interval: 1m }\n', om);
    writeFileSync(join(dir, 'app.csv'), ['timestamp,value', ...minutes.map((t, i) => `${i % 2 ? new Date(t).toISOString() : t},${load(t)}`)].join('\n'));
  });

  after(async () => {
    await prometheus?.stop();
    await service?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const windows = (target: string, granularity: number, from = 0) => service.store.queryWindows({ target, granularity, dim: 'metric', key: 'app_load', from, to: now });

  test('from Prometheus: every granularity written, progress shown, a second run writes nothing, the loop forecasts at once', async () => {
    const args = ['import', '--target', 'app', '--from-prometheus', prometheus.url, '--query', 'app_load{job="app"}', '--range', '3d', '--step', '1m', '--url', url];
    const one = await run(args);
    assert.equal(one.code, 0, one.stderr);
    const summary = JSON.parse(one.stdout);
    const { importableBefore } = (await (await fetch(`${url}/v1/targets/app/history`)).json()) as { importableBefore: number };
    assert.equal(summary.to, importableBefore);
    assert.equal(summary.from, importableBefore - 3 * 24 * HOUR);
    assert.equal(summary.points, 3 * 24 * 60, 'one point per minute of the range');
    assert.match(one.stderr, /^\[1\/3\] .*: 1440 points, \d+ windows written$/m);
    assert.match(one.stderr, /^\[3\/3\] /m);
    assert.equal((await windows('app', 60)).length, 3 * 24 * 60);
    assert.equal((await windows('app', 300)).length, 3 * 24 * 12);
    const hours = await windows('app', 3600);
    assert.equal(hours.length, 72);
    assert.ok(hours.every((w) => w.final && w.count === 60));
    const t = hours[5].start;
    const want = minutes.filter((m) => m >= t && m < t + HOUR).reduce((s, m) => s + load(m), 0);
    assert.ok(Math.abs(hours[5].sum - want) < 1e-6, `an hour's window sums its minutes: ${hours[5].sum} vs ${want}`);

    const two = await run(args);
    assert.equal(two.code, 0, two.stderr);
    const again = JSON.parse(two.stdout);
    assert.equal(again.windows, 0);
    assert.equal(again.kept, 3);
    assert.match(two.stderr, /1 series already stored, kept/);
    assert.equal((await windows('app', 60)).length, 3 * 24 * 60);

    const audit = (await (await fetch(`${url}/v1/targets/app/audit?limit=10`)).json()) as { audit: { action: string; detail: { windows: number; source: string } }[] };
    const imports = audit.audit.filter((a) => a.action === 'import');
    assert.equal(imports.length, 6);
    assert.match(imports[0].detail.source, /^prometheus .* query_range app_load\{job="app"\} step 1m$/);

    const record = await service.controller.loop('app').tick();
    assert.ok(record?.forecast, `forecast on the first tick: ${record?.message}`);
    assert.ok(record.inputs.windows >= 3 * 24 * 60 - 3 * 60, `${record.inputs.windows} steps read`);
  });

  test('from a CSV export: the same windows as from Prometheus', async () => {
    const res = await run(['import', '--target', 'app-csv', '--csv', join(dir, 'app.csv'), '--metric', 'app_load', '--url', url]);
    assert.equal(res.code, 0, res.stderr);
    const summary = JSON.parse(res.stdout);
    assert.ok(summary.tooRecent > 0);
    assert.match(res.stderr, /points at or after .* left out: those windows belong to the live rollup/);
    const { importableBefore } = (await (await fetch(`${url}/v1/targets/app/history`)).json()) as { importableBefore: number };
    const from = importableBefore - 3 * 24 * HOUR;
    const a = await windows('app', 3600, from);
    const b = (await windows('app-csv', 3600, from)).filter((w) => w.start < a.at(-1)!.start + HOUR);
    assert.deepEqual(b.map((w) => [w.start, w.count, w.sum, w.min, w.max]), a.map((w) => [w.start, w.count, w.sum, w.min, w.max]));
    assert.equal(JSON.parse((await run(['import', '--target', 'app-csv', '--csv', join(dir, 'app.csv'), '--metric', 'app_load', '--url', url])).stdout).windows, 0);
  });

  test('a fine step is cut into batches a Prometheus query can answer', async () => {
    const res = await run(['import', '--target', 'app', '--from-prometheus', prometheus.url, '--query', 'app_load{job="app"}', '--range', '6h', '--step', '1s', '--url', url]);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stderr, /^\[2\/2\] .*: 0 points, 0 windows written, 1 series already stored, kept$/m, 'two batches of 3 h (10,800 points each)');
  });

  test('bad input is refused naming the flag or the line', async () => {
    writeFileSync(join(dir, 'bad.csv'), 'timestamp,value\n1700000000000,1\n1700000060000,lots\n');
    const bad = await run(['import', '--target', 'app-csv', '--csv', join(dir, 'bad.csv'), '--metric', 'x', '--url', url]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /SHADOWPLANE_ERR_INPUT_FILE.*bad\.csv:3/);
    const noMetric = await run(['import', '--target', 'app-csv', '--csv', join(dir, 'app.csv'), '--url', url]);
    assert.match(noMetric.stderr, /--metric: is required with --csv/);
    const expr = await run(['import', '--target', 'app', '--from-prometheus', prometheus.url, '--query', 'sum(app_load)', '--range', '1d', '--url', url]);
    assert.match(expr.stderr, /--metric: is required when the query result carries no __name__/);
    const promql = await run(['import', '--target', 'app', '--from-prometheus', prometheus.url, '--query', 'app_load{', '--range', '1d', '--url', url]);
    assert.match(promql.stderr, /--query: .*parse error/);
    const unknown = await run(['import', '--target', 'nobody', '--csv', join(dir, 'app.csv'), '--metric', 'x', '--url', url]);
    assert.match(unknown.stderr, /SHADOWPLANE_ERR_TARGET_NOT_FOUND/);
  });
});
