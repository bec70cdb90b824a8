/**
 * Capacity runs through the product path, against the real PostgreSQL on 127.0.0.1:5432: a
 * pgbench-initialised database is the target's PostgreSQL; its traffic (pgbench -S) goes through
 * pg-proxy at a sampling rate of 0.5 into a running service, which captures the mix; the CLI
 * starts a capacity run (shadow refreshed from the source, mix replayed with synthesised
 * parameters, ramp to the knee at the p99 SLO). The shadow's knee must lie within one ramp step of
 * the knee the same replay finds on the source itself, and the target's next decision must decide
 * with the run's capacity and name it. Bad inputs are clear errors.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { validateConfig } from '../../src/config.js';
import type { CapacityRun } from '../../src/model/capacity.js';
import { ShadowplaneService } from '../../src/service.js';
import { mixEntries } from '../../src/shadows/sql/measure.js';
import { PgProxy } from '../../src/shadows/sql/proxy.js';
import { EventSink } from '../../src/shadows/sql/sink.js';
import { findKnee, WorkloadDriver } from '../../src/shadows/sql/workload.js';
import { cli } from '../helpers/cli.js';
import { dropDatabase, freshDatabase, pgbenchInit, postgresAvailable, PG_HOST, PG_PORT, PG_SKIP } from '../shadows/sql/helpers.js';

const exec = promisify(execFile);
const suffix = `${process.pid}_${Date.now() % 100000}`;
const SOURCE = `sp_sql_test_cap_src_${suffix}`;
const SHADOW = `sp_sql_test_cap_shadow_${suffix}`;
const url = (db: string) => `postgres://postgres@${PG_HOST}:${PG_PORT}/${db}`;
// A short ramp: one-second steps doubling from 100 statements per second.
const RAMP = { startRate: 100, factor: 2, maxRate: 100_000, step: '1s' };
// Generous for a shared, loaded test machine: the knee is where the server saturates.
const SLO_MS = 250;
const CONNECTIONS = 4;

const capacity = { source: url(SOURCE), shadow: url(SHADOW), sloP99Ms: SLO_MS, fraction: 0.2, connections: CONNECTIONS, ramp: RAMP };

describe('capacity runs', async () => {
  const available = await postgresAvailable();
  let service: ShadowplaneService;
  let address: string;
  let dataDir: string;

  before(async () => {
    if (!available) return;
    await freshDatabase(SOURCE);
    await pgbenchInit(SOURCE, 1);
    dataDir = mkdtempSync(join(tmpdir(), 'sp-cap-'));
    service = await ShadowplaneService.create(validateConfig({
      server: { port: 0 },
      store: { dataDir },
      targets: [
        { name: 'orders-db', kind: 'database', sampling: { rate: 1 }, capacity, actuator: { type: 'replay', provisioningDelayMs: 120_000 }, control: { capacityPerUnit: 7 } },
        { name: 'plain', kind: 'service' },
      ],
    }));
    address = await service.start();
    // The captured mix: pgbench's select-only script through pg-proxy, sampled at 0.5.
    const sink = new EventSink({ controlUrl: address, flushMs: 200 });
    const proxy = new PgProxy({ upstreamHost: PG_HOST, upstreamPort: PG_PORT, target: 'orders-db', sampleRate: 0.5, events: sink });
    const port = await proxy.listen(0);
    await exec('pgbench', ['-h', PG_HOST, '-p', String(port), '-U', 'postgres', '-c', '2', '-j', '1', '-t', '300', '-n', '-S', SOURCE]);
    await proxy.close();
    await sink.close();
    assert.ok(sink.stats.sent > 0 && sink.stats.droppedSendFailed === 0, JSON.stringify(sink.stats));
  });

  after(async () => {
    if (!available) return;
    await service?.stop();
    rmSync(dataDir, { recursive: true, force: true });
    await dropDatabase(SOURCE);
    await dropDatabase(SHADOW);
  });

  test('the CLI runs one: knee within one ramp step of the source\'s own, and the next decision decides with it', { skip: available ? false : PG_SKIP, timeout: 240_000 }, async () => {
    const child = spawn(process.execPath, cli('capacity', 'run', '--target', 'orders-db', '--url', address, '--why', 'test'), { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((r) => child.on('close', r));
    assert.equal(code, 0, stderr);
    assert.match(stderr, /capacity run .* of orders-db started/);
    assert.match(stderr, /refreshing the shadow database/);
    assert.match(stderr, /step 200\/s: achieved/);
    const run = JSON.parse(stdout) as CapacityRun;
    assert.equal(run.status, 'succeeded', run.error ?? '');
    const f = run.figures!;

    // The mix is the captured one, weighted in statements: pgbench -S is one fingerprint, beside
    // pgbench's few start-up queries (one of them on the catalog, whose parameters bind to no column).
    const total = run.mix.reduce((n, m) => n + m.weight, 0);
    assert.equal(run.mix[0].fingerprint, 'select abalance from pgbench_accounts where aid = $1');
    assert.ok(run.mix[0].weight / total > 0.95, JSON.stringify(run.mix));
    assert.ok(f.coverage > 0.95 && f.coverage <= 1, String(f.coverage));
    assert.ok(f.eventsPerStatement >= 1 && f.eventsPerStatement < 1.2, String(f.eventsPerStatement));
    assert.ok(run.shadowRows.some((t) => t.table === 'public.pgbench_accounts' && t.rows > 10_000 && t.rows < 30_000), JSON.stringify(run.shadowRows));
    assert.ok(f.sloCrossed, `the ramp must cross the SLO: ${JSON.stringify(run.steps)}`);
    assert.ok(f.kneeRate > 0 && f.saturationRate >= f.kneeRate * 0.95, JSON.stringify({ f, steps: run.steps }));
    assert.equal(f.capacityPerUnit, f.saturationRate * f.eventsPerStatement * f.scaleFactor);

    // The same replay on the source itself: its knee is within one ramp step of the shadow's. The two
    // ramps run one after the other on a shared machine, where a burst of other work in between can
    // move a saturating server's knee by a step: up to three ramps on the source, any one within a step.
    const driver = new WorkloadDriver({ url: url(SOURCE), connections: CONNECTIONS });
    await driver.prepare(await mixEntries(run.mix));
    const sourceKnees: number[] = [];
    const withinStep = (knee: number): boolean => f.kneeRate / knee >= 1 / RAMP.factor - 1e-9 && f.kneeRate / knee <= RAMP.factor + 1e-9;
    while (sourceKnees.length < 3 && !sourceKnees.some(withinStep)) {
      sourceKnees.push((await findKnee(driver, { slo: { quantile: 'p99', ms: SLO_MS }, startRate: RAMP.startRate, factor: RAMP.factor, maxRate: RAMP.maxRate, stepMs: 1000 })).kneeRate);
    }
    await driver.close();
    assert.ok(sourceKnees.some(withinStep), `shadow knee ${f.kneeRate}/s, source knees ${sourceKnees.join(', ')}/s`);

    // Listed and shown by the API, in force for the loop.
    const list = await service.api.inject({ method: 'GET', url: '/v1/targets/orders-db/capacity-runs' });
    const body = JSON.parse(list.body) as { runs: CapacityRun[]; inForce: { source: string; capacityPerUnit: number } };
    assert.equal(body.runs[0].id, run.id);
    assert.deepEqual({ source: body.inForce.source, capacityPerUnit: body.inForce.capacityPerUnit }, { source: `capacity-run:${run.id}`, capacityPerUnit: f.capacityPerUnit });
    const one = await service.api.inject({ method: 'GET', url: `/v1/targets/orders-db/capacity-runs/${run.id}` });
    assert.equal((JSON.parse(one.body) as CapacityRun).figures!.kneeRate, f.kneeRate);

    const decision = await service.controller.loop('orders-db').tick();
    assert.equal(decision?.inputs.capacitySource, `capacity-run:${run.id}`);
    assert.equal(decision?.inputs.capacityPerUnit, f.capacityPerUnit);
    // The run lowers the reactive limit to where the SLO broke, never above the target's own setting.
    const configured = service.controller.loop('orders-db').current.reactiveAboveUse;
    assert.equal(decision?.inputs.tuned?.reactiveAboveUse, Math.max(0.5, Math.min(configured, f.sloUtilisation)));
    const [audit] = JSON.parse((await service.api.inject({ method: 'GET', url: '/v1/targets/orders-db/audit' })).body).audit as { action: string; why: string }[];
    assert.deepEqual({ action: audit.action, why: audit.why }, { action: 'capacity-run', why: 'test' });
  });

  test('bad inputs are clear errors', { skip: available ? false : PG_SKIP }, async () => {
    const post = async (path: string) => {
      const res = await service.api.inject({ method: 'POST', url: path, payload: {} });
      return { status: res.statusCode, body: JSON.parse(res.body) as { code: string; detail: string } };
    };
    const unknown = await post('/v1/targets/nope/capacity-runs');
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.code, 'SHADOWPLANE_ERR_TARGET_NOT_FOUND');
    const plain = await post('/v1/targets/plain/capacity-runs');
    assert.equal(plain.status, 409);
    assert.equal(plain.body.code, 'SHADOWPLANE_ERR_CAPACITY_NOT_CONFIGURED');
    assert.match(plain.body.detail, /targets\[\]\.capacity/);
    const missing = await service.api.inject({ method: 'GET', url: '/v1/targets/orders-db/capacity-runs/no-such-run' });
    assert.equal(missing.statusCode, 404);
    const cliRun = await exec(process.execPath, cli('capacity', 'run', '--target', 'plain', '--url', address)).then(() => ({ code: 0, stderr: '' }), (err: { code: number; stderr: string }) => err);
    assert.equal(cliRun.code, 1);
    assert.match(cliRun.stderr, /SHADOWPLANE_ERR_CAPACITY_NOT_CONFIGURED: 409: target "plain" has no capacity settings/);

    assert.throws(() => validateConfig({ targets: [{ name: 'a', kind: 'database', capacity: { source: url(SOURCE), shadow: url(SOURCE) } }] }), (err: { problems: { path: string; message: string }[] }) => {
      assert.deepEqual(err.problems.map((p) => p.path), ['/targets/0/capacity/shadow']);
      assert.match(err.problems[0].message, /another database than source/);
      return true;
    });
    assert.throws(() => validateConfig({ targets: [{ name: 'a', kind: 'database', capacity: { source: 'mysql://x/y', shadow: url(SHADOW), sloP99Ms: 0 } }] }), (err: { problems: { path: string; message: string }[] }) => {
      assert.deepEqual(err.problems.map((p) => p.path).sort(), ['/targets/0/capacity/sloP99Ms', '/targets/0/capacity/source']);
      assert.match(err.problems.find((p) => p.path.endsWith('source'))!.message, /postgres:\/\/ connection URL/);
      return true;
    });
  });
});
