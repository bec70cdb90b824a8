/**
 * Anomaly events and failure risk end to end on a real service (VirtualClock, SQLite): the loop
 * warms up on steady load and CPU, an injected load spike opens one persisted event whose drivers
 * name the signal, the risk endpoint names its drivers, the decision record carries the risk, and
 * triage goes through the API with its bad-input and refused-transition cases.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { DecisionRecord } from '../../src/model/decision.js';
import { testService } from '../helpers/service.js';

const MIN = 60_000;
const CONTROL = { capacityPerUnit: 100, initialUnits: 2, minWindows: 2, season: '0s', history: '10m', provisioningDelay: '2m', horizon: '10m', scaleUpLookahead: '5m', metric: 'load' };

type Env = Awaited<ReturnType<typeof testService>>;

/** One minute of samples (load and cpu), then the tick; returns the tick's decision. */
async function minute(env: Env, load: number, cpu: number): Promise<DecisionRecord> {
  const at = env.clock.now();
  env.service.ingestor.ingestSamples([{ target: 'shop', metric: 'load', at, value: load }, { target: 'shop', metric: 'cpu', at, value: cpu }]);
  env.clock.advance(MIN);
  await env.service.controller.idle();
  await new Promise((r) => setImmediate(r));
  const [latest] = await env.service.controller.decisions('shop', 1);
  return latest;
}

describe('anomaly events and risk through the loop and the API', () => {
  let env: Env;
  let last: DecisionRecord;
  const call = async (method: 'GET' | 'PUT', url: string, payload?: unknown) => {
    const res = await env.service.api.inject({ method, url, payload: payload as never });
    return { status: res.statusCode, body: JSON.parse(res.body) as Record<string, any> };
  };

  before(async () => {
    env = await testService({ targets: [{ name: 'shop', kind: 'service', actuator: { type: 'replay', provisioningDelayMs: 2 * MIN }, control: CONTROL }, { name: 'plain', kind: 'service' }] });
  });
  after(() => env.cleanup());

  test('before the loop has scored a step, the risk says it is not ready', async () => {
    const r = await call('GET', '/v1/targets/shop/risk');
    assert.equal(r.status, 200);
    assert.equal(r.body.ready, false);
    assert.equal(r.body.reason, 'NoData');
    assert.equal((await call('GET', '/v1/targets/plain/risk')).body.code, 'SHADOWPLANE_ERR_NOT_CONTROLLED');
    assert.equal((await call('GET', '/v1/targets/nope/risk')).status, 404);
    assert.equal((await call('GET', '/v1/targets/plain/anomalies')).status, 409);
  });

  test('steady load opens no event; a spike opens one, persisted and named by its driver', async () => {
    env.service.controller.start();
    // Steady but not constant: a small deterministic wobble around 50 (load) and 0.4 (cpu).
    for (let m = 0; m < 45; m++) last = await minute(env, 50 + 2 * Math.sin(m * 1.7), 0.4 + 0.01 * Math.cos(m * 1.3));
    assert.equal(last.scores?.component !== undefined, true, 'the decision carries the component score');
    assert.equal(last.scores?.riskReady, true);
    assert.deepEqual((await call('GET', '/v1/targets/shop/anomalies')).body.anomalies, [], 'no event on steady load');

    for (let m = 0; m < 3; m++) last = await minute(env, 400, 0.4);
    const list = (await call('GET', '/v1/targets/shop/anomalies')).body.anomalies;
    assert.equal(list.length, 1, 'one event for the component, however many steps and signals');
    const ev = list[0];
    assert.equal(ev.target, 'shop');
    assert.equal(ev.triageState, 'open');
    assert.equal(ev.end, null);
    assert.ok(ev.severity >= 0.5);
    assert.equal(ev.drivers[0].signal, 'load');
    assert.equal(ev.drivers[0].kind, 'spike');
    assert.deepEqual((await call('GET', `/v1/anomalies/${encodeURIComponent(ev.id)}`)).body, ev);

    const risk = (await call('GET', '/v1/targets/shop/risk')).body;
    assert.equal(risk.ready, true);
    assert.equal(risk.reason, 'Scored');
    assert.ok(risk.probability > 0 && risk.probability <= 1);
    assert.equal(risk.horizonMs, 3_600_000);
    assert.deepEqual(risk.signals, ['load', 'cpu']);
    assert.ok(risk.drivers.some((d: { signal: string }) => d.signal === 'anomaly'), 'the anomaly persistence drives the risk');
    assert.equal(risk.anomaly.drivers[0].signal, 'load');
    // The decision of the same tick records the risk and its drivers beside the old anomaly fields.
    assert.equal(last.scores?.risk, risk.probability);
    assert.deepEqual(last.scores?.riskDrivers, risk.drivers);
    assert.equal(typeof last.scores?.anomaly, 'number');
  });

  test('triage: validated, attributed, audited; refused transitions are coded 409s', async () => {
    const [ev] = (await call('GET', '/v1/targets/shop/anomalies')).body.anomalies;
    const url = `/v1/anomalies/${encodeURIComponent(ev.id)}/triage`;
    const noWhy = await call('PUT', url, { state: 'acknowledged' });
    assert.equal(noWhy.status, 400);
    assert.deepEqual(noWhy.body.problems, [{ path: '/body/why', message: 'is required' }]);
    const badState = await call('PUT', url, { state: 'open', why: 'x' });
    assert.equal(badState.status, 400);
    assert.equal(badState.body.problems[0].path, '/body/state');
    assert.equal((await call('PUT', url, { state: 'acknowledged', why: 'x', extra: 1 })).body.problems[0].path, '/body/extra');
    assert.equal((await call('PUT', '/v1/anomalies/nope/triage', { state: 'acknowledged', why: 'x' })).body.code, 'SHADOWPLANE_ERR_NOT_FOUND');
    assert.equal((await call('GET', '/v1/anomalies/nope')).status, 404);
    assert.equal((await call('GET', '/v1/targets/shop/anomalies?state=closed')).status, 400);

    const ack = await call('PUT', url, { state: 'acknowledged', why: 'looking into the spike', actor: 'ann' });
    assert.equal(ack.status, 200);
    assert.equal(ack.body.triageState, 'acknowledged');
    assert.equal(ack.body.triage.actor, 'ann');
    assert.equal(ack.body.triage.why, 'looking into the spike');
    assert.equal(ack.body.triage.at, env.clock.now());
    assert.equal((await call('PUT', url, { state: 'acknowledged', why: 'again' })).body.triage.why, 'looking into the spike', 'same state is a no-op');
    // The loop keeps updating the event; the acknowledgement stays.
    await minute(env, 420, 0.4);
    assert.equal((await call('GET', `/v1/anomalies/${encodeURIComponent(ev.id)}`)).body.triageState, 'acknowledged');
    assert.deepEqual((await call('GET', '/v1/targets/shop/anomalies?state=acknowledged&limit=5')).body.anomalies.map((a: { id: string }) => a.id), [ev.id]);
    assert.deepEqual((await call('GET', '/v1/targets/shop/anomalies?state=open')).body.anomalies, []);

    assert.equal((await call('PUT', url, { state: 'resolved', why: 'the batch job ended' })).body.triageState, 'resolved');
    const refused = await call('PUT', url, { state: 'acknowledged', why: 'x' });
    assert.equal(refused.status, 409);
    assert.equal(refused.body.code, 'SHADOWPLANE_ERR_TRIAGE_STATE');
    const audit = (await call('GET', '/v1/targets/shop/audit')).body.audit;
    assert.deepEqual(audit.filter((a: { action: string }) => a.action === 'triage-anomaly').map((a: { detail: { to: string } }) => a.detail.to), ['resolved', 'acknowledged']);
  });
});
