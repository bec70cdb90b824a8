/**
 * Every target is analysed, and actuators are set through the API (real service, VirtualClock,
 * SQLite): a target created through the API gets forecasts, anomaly events and failure risk while
 * it is observed only and acts on nothing; an actuator given through the API takes effect at the
 * next tick, survives a restart, cannot change while a task is in flight, and can be taken away
 * again; bad actuators are refused naming the field; unknown targets are 404.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { VirtualClock } from '../../src/core/clock.js';
import { validateConfig } from '../../src/config.js';
import type { DecisionRecord } from '../../src/model/decision.js';
import { ShadowplaneService } from '../../src/service.js';
import { T0 } from '../helpers/service.js';

const MIN = 60_000;
const SETTINGS = { capacityPerUnit: 100, initialUnits: 2, minWindows: 2, season: '0s', history: '10m', provisioningDelay: '2m', horizon: '10m', scaleUpLookahead: '5m', metric: 'load' };
const REPLAY = { type: 'replay', provisioningDelayMs: 2 * MIN };

describe('observe-only targets and actuators through the API', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'sp-observe-'));
  const clock = new VirtualClock(T0);
  let service: ShadowplaneService;
  const open = async () => {
    service = await ShadowplaneService.create(validateConfig({ store: { dataDir }, targets: [] }), { clock });
    service.controller.start();
  };
  const call = async (method: 'GET' | 'PUT' | 'POST' | 'DELETE', url: string, payload?: unknown) => {
    const res = await service.api.inject({ method, url, payload: payload as never });
    return { status: res.statusCode, body: res.body ? (JSON.parse(res.body) as Record<string, any>) : {} };
  };
  /** One minute of load samples on `api-db`, then the tick; returns the tick's decision. */
  const minute = async (load: number): Promise<DecisionRecord> => {
    service.ingestor.ingestSamples([{ target: 'api-db', metric: 'load', at: clock.now(), value: load }]);
    clock.advance(MIN);
    await service.controller.idle();
    await new Promise((r) => setImmediate(r));
    const [latest] = await service.controller.decisions('api-db', 1);
    return latest;
  };

  before(open);
  after(async () => {
    await service.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('a target created through the API is analysed at once and acts on nothing', async () => {
    assert.equal((await call('POST', '/v1/targets', { name: 'api-db', kind: 'database', why: 'new' })).status, 201);
    const view = (await call('GET', '/v1/targets/api-db/control')).body;
    assert.equal(view.mode, 'observe-only');
    assert.equal(view.actuator, null);
    assert.equal((await call('GET', '/v1/targets/api-db/risk')).body.reason, 'NoData');
    assert.equal((await call('PUT', '/v1/targets/api-db/control', { settings: SETTINGS, why: 'demand is the load metric' })).status, 200);

    let last: DecisionRecord | undefined;
    for (let m = 0; m < 40; m++) last = await minute(50 + 2 * Math.sin(m * 1.7));
    assert.equal(last!.reason, 'ObserveOnly');
    assert.equal(last!.action, null);
    assert.equal(last!.recommendation, null, 'no units to recommend without an actuator');
    assert.ok(last!.forecast && last!.forecast.mean.length > 0, 'the observe-only loop forecasts');
    assert.equal(last!.scores?.riskReady, true);
    const risk = (await call('GET', '/v1/targets/api-db/risk')).body;
    assert.equal(risk.reason, 'Scored');
    assert.ok(!risk.drivers.some((d: { signal: string; probability: number }) => d.signal === 'utilisation' && d.probability > 0), 'no utilisation limit without known capacity');
    assert.deepEqual((await call('GET', '/v1/targets/api-db/anomalies')).body.anomalies, []);

    for (let m = 0; m < 3; m++) last = await minute(600);
    const events = (await call('GET', '/v1/targets/api-db/anomalies')).body.anomalies;
    assert.equal(events.length, 1, 'a spike opens one event on an observe-only target');
    assert.equal(last!.action, null);
    assert.deepEqual((await call('GET', '/v1/control')).body.targets, []);
    const force = await call('POST', '/v1/targets/api-db/force', { units: 3, why: 'try' });
    assert.equal(force.status, 409);
    assert.equal(force.body.code, 'SHADOWPLANE_ERR_NOT_CONTROLLED');
    assert.match(force.body.detail, /PUT \/v1\/targets\/api-db\/actuator/);
    for (let m = 0; m < 10; m++) await minute(50);
  });

  test('a bad actuator is refused naming the field; an unknown target is 404', async () => {
    const noType = await call('PUT', '/v1/targets/api-db/actuator', { actuator: { type: 'teleport' }, why: 'x' });
    assert.equal(noType.status, 400);
    assert.equal(noType.body.problems[0].path, '/body/actuator/type');
    const badUrl = await call('PUT', '/v1/targets/api-db/actuator', { actuator: { type: 'webhook', url: 'ftp://x' }, why: 'x' });
    assert.equal(badUrl.status, 400);
    assert.equal(badUrl.body.problems[0].path, '/body/actuator/url');
    assert.equal((await call('GET', '/v1/targets/api-db/control')).body.mode, 'observe-only', 'nothing changed');
    for (const url of ['/v1/targets/nope/control', '/v1/targets/nope/risk', '/v1/targets/nope/decisions']) {
      const r = await call('GET', url);
      assert.equal(r.status, 404, url);
      assert.equal(r.body.code, 'SHADOWPLANE_ERR_TARGET_NOT_FOUND');
    }
  });

  test('an actuator given through the API acts from the next tick, is audited, survives a restart, and can be taken away', async () => {
    const put = await call('PUT', '/v1/targets/api-db/actuator', { actuator: REPLAY, actor: 'ann', why: 'let it scale' });
    assert.equal(put.status, 200);
    assert.equal(put.body.mode, 'controlled');
    assert.deepEqual((await call('GET', '/v1/control')).body.targets, ['api-db']);
    assert.equal((await call('GET', '/v1/targets/api-db/audit')).body.audit[0].action, 'actuator');

    let acted: DecisionRecord | undefined;
    for (let m = 0; m < 5 && !acted?.action; m++) acted = await minute(900);
    assert.ok(acted?.action, `a load of 9x the capacity is acted on: ${acted?.message}`);
    assert.equal(acted!.status, 'submitted');
    const busy = await call('DELETE', '/v1/targets/api-db/actuator', { why: 'x' });
    assert.equal(busy.status, 409, 'the task is still booting its units');
    assert.equal(busy.body.code, 'SHADOWPLANE_ERR_ACTUATOR_BUSY');

    for (let m = 0; m < 4; m++) await minute(900);
    await service.stop();
    await open();
    const view = (await call('GET', '/v1/targets/api-db/control')).body;
    assert.equal(view.actuator, 'replay');
    assert.equal(view.actuatorSource, 'api');

    assert.equal((await call('DELETE', '/v1/targets/api-db/actuator', { actor: 'ann', why: 'hand it back' })).status, 200);
    const d = await minute(900);
    assert.equal(d.reason, 'ObserveOnly');
    await service.stop();
    await open();
    assert.equal((await call('GET', '/v1/targets/api-db/control')).body.mode, 'observe-only', 'the removal survives a restart too');
  });

  test('a deleted target loses its loop', async () => {
    assert.equal((await call('DELETE', '/v1/targets/api-db?why=done')).status, 204);
    assert.equal((await call('GET', '/v1/targets/api-db/risk')).status, 404);
    clock.advance(MIN);
    await service.controller.idle();
    assert.deepEqual(await service.store.listDecisions({ target: 'api-db', limit: 5 }), [], 'no tick wrote for the deleted target');
  });
});
