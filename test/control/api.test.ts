/**
 * The operator API on a real service (VirtualClock, SQLite): pause, dry-run, review with approve
 * and reject, pin, force, settings, audit, bad input; and the webhook actuator end to end against
 * a real local HTTP server.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { DecisionRecord } from '../../src/model/decision.js';
import { testService } from '../helpers/service.js';

const MIN = 60_000;
const CONTROL = { capacityPerUnit: 10, initialUnits: 2, minWindows: 2, season: '0s', history: '10m', provisioningDelay: '2m', horizon: '10m', scaleUpLookahead: '5m', metric: 'load' };

type Env = Awaited<ReturnType<typeof testService>>;

/** One minute of constant load, then the tick. */
async function minute(env: Env, target: string, load: number): Promise<DecisionRecord> {
  env.service.ingestor.ingestSamples([{ target, metric: 'load', at: env.clock.now(), value: load }]);
  env.clock.advance(MIN);
  await env.service.controller.idle();
  await new Promise((r) => setImmediate(r));
  const [latest] = await env.service.controller.decisions(target, 1);
  return latest;
}

describe('operator API', () => {
  let env: Env;
  const call = async (method: 'GET' | 'PUT' | 'POST' | 'DELETE', url: string, payload?: unknown) => {
    const res = await env.service.api.inject({ method, url, payload: payload as never });
    return { status: res.statusCode, body: res.body ? (JSON.parse(res.body) as Record<string, any>) : {} };
  };
  before(async () => {
    env = await testService({ targets: [{ name: 'shop', kind: 'service', actuator: { type: 'replay', provisioningDelayMs: 2 * MIN }, control: CONTROL }, { name: 'plain', kind: 'service' }] });
    env.service.controller.start();
    // warm-up at a load the initial 2 units serve, so the first test's load of 50 (2.5x their
    // capacity) is an unmet need for the gates to act on; at 50 here the loop would already have
    // scaled to the need before any override is set
    for (let i = 0; i < 2; i++) {
      const warm = await minute(env, 'shop', 15);
      assert.equal(warm.action, null, warm.message);
    }
  });
  after(() => env.cleanup());

  test('pause: the loop decides but does not act; audited with who and why', async () => {
    assert.equal((await call('PUT', '/v1/targets/shop/overrides/pause', { actor: 'ann', why: 'maintenance window' })).status, 200);
    const d = await minute(env, 'shop', 50);
    assert.equal(d.status, 'no-action');
    assert.equal(d.reason, 'Paused');
    assert.deepEqual(d.overrides, ['pause']);
    assert.ok(d.recommendation!.desiredUnits > d.recommendation!.currentUnits);
    const paused = (await call('GET', '/v1/targets/shop/conditions')).body.conditions.find((c: { type: string }) => c.type === 'Paused');
    assert.equal(paused.status, 'True');
    const audit = (await call('GET', '/v1/targets/shop/audit')).body.audit;
    assert.equal(audit[0].actor, 'ann');
    assert.equal(audit[0].why, 'maintenance window');
    assert.equal(audit[0].action, 'pause');
    assert.equal(audit[0].at, env.clock.now() - MIN);
    assert.equal((await call('DELETE', '/v1/targets/shop/overrides/pause', { why: 'done' })).status, 200);
    assert.match((await call('GET', '/v1/targets/shop/audit')).body.audit[0].actor, /^local:/);
  });

  test('dry-run: forecast-only, nothing executed; expires after its period', async () => {
    await call('PUT', '/v1/targets/shop/overrides/dry-run', { actor: 'ann', why: 'try the new quantile', for: '90s' });
    const d = await minute(env, 'shop', 50);
    assert.equal(d.reason, 'DryRun');
    assert.equal(d.action, null);
    const next = await minute(env, 'shop', 50);
    assert.notEqual(next.reason, 'DryRun');
    assert.equal((await call('GET', '/v1/targets/shop/audit')).body.audit.find((a: { action: string }) => a.action === 'expire-dryRun')?.actor, 'system');
  });

  test('review: decisions wait; reject, then approve carries the action out; a decided one cannot be approved', async () => {
    // the last tick acted already: wait for its task, then push demand higher
    for (let i = 0; i < 3; i++) await minute(env, 'shop', 50);
    await call('PUT', '/v1/targets/shop/overrides/review', { actor: 'ann', why: 'change freeze' });
    const first = await minute(env, 'shop', 120);
    assert.equal(first.status, 'pending-approval', first.message);
    const rejected = await call('POST', `/v1/decisions/${first.id}/reject`, { actor: 'bob', why: 'not now' });
    assert.equal(rejected.status, 200);
    assert.equal(rejected.body.status, 'rejected');
    assert.equal(rejected.body.review.actor, 'bob');
    assert.equal((await call('POST', `/v1/decisions/${first.id}/approve`, { why: 'x' })).body.code, 'SHADOWPLANE_ERR_DECISION_STATE');
    const second = await minute(env, 'shop', 120);
    assert.equal(second.status, 'pending-approval');
    const approved = await call('POST', `/v1/decisions/${second.id}/approve`, { actor: 'bob', why: 'ok' });
    assert.equal(approved.status, 200);
    assert.equal(approved.body.status, 'submitted');
    assert.equal(approved.body.review.verdict, 'approved');
    const view = (await call('GET', '/v1/targets/shop/control')).body;
    assert.equal(view.capacity.ready + view.capacity.booting, approved.body.action.to);
    assert.equal((await call('GET', `/v1/decisions/${second.id}`)).body.action.to, approved.body.action.to);
    await call('DELETE', '/v1/targets/shop/overrides/review', { why: 'freeze over' });
  });

  test('pin: exact units bound the decision and ScalingLimited says Pinned; force acts past it', async () => {
    for (let i = 0; i < 4; i++) await minute(env, 'shop', 120);
    await call('PUT', '/v1/targets/shop/overrides/pin', { actor: 'ann', why: 'budget', exact: 4 });
    const d = await minute(env, 'shop', 120);
    assert.equal(d.steps.at(-1)!.step, 'override-pin');
    assert.equal(d.action?.to, 4);
    const limited = (await call('GET', '/v1/targets/shop/conditions')).body.conditions.find((c: { type: string }) => c.type === 'ScalingLimited');
    assert.equal(limited.reason, 'Pinned');
    for (let i = 0; i < 3; i++) await minute(env, 'shop', 120);
    const forced = await call('POST', '/v1/targets/shop/force', { units: 9, actor: 'carol', why: 'launch' });
    assert.equal(forced.status, 201);
    assert.equal(forced.body.action.mode, 'manual');
    assert.equal(forced.body.review.verdict, 'forced');
    assert.equal(forced.body.status, 'submitted', forced.body.message);
    const view = (await call('GET', '/v1/targets/shop/control')).body;
    assert.equal(view.capacity.ready + view.capacity.booting, 9);
    assert.equal(view.overrides.pin.exact, 4);
  });

  test('settings: validated together, persisted, audited; bad input names the field', async () => {
    const ok = await call('PUT', '/v1/targets/shop/control', { settings: { targetUtilisation: 0.6, quantile: 0.9 }, actor: 'ann', why: 'more headroom' });
    assert.equal(ok.status, 200);
    assert.equal(ok.body.settings.targetUtilisation, 0.6);
    assert.equal((await call('GET', '/v1/targets/shop/control')).body.settingsSource, 'api');
    const state = await env.service.store.getControlState('shop');
    assert.equal((state!.settings as { quantile: number }).quantile, 0.9);
    const cross = await call('PUT', '/v1/targets/shop/control', { settings: { minUnits: 5, maxUnits: 2 }, why: 'x' });
    assert.equal(cross.status, 400);
    assert.equal(cross.body.problems[0].path, '/body/settings/minUnits');
    const typo = await call('PUT', '/v1/targets/shop/control', { settings: { quantil: 0.9 }, why: 'x' });
    assert.equal(typo.status, 400);
    assert.equal(typo.body.problems[0].path, '/body/settings/quantil');
    assert.equal((await call('PUT', '/v1/targets/shop/overrides/pin', { why: 'x' })).body.problems[0].path, '/body');
    assert.equal((await call('PUT', '/v1/targets/shop/overrides/pause', { actor: 'a' })).body.problems[0].path, '/body/why');
    assert.equal((await call('PUT', '/v1/targets/shop/overrides/freeze', { why: 'x' })).status, 400);
    assert.equal((await call('PUT', '/v1/targets/shop/overrides/pause', { why: 'x', for: 'soon' })).body.problems[0].path, '/body/for');
    assert.equal((await call('POST', '/v1/targets/plain/force', { units: 2, why: 'x' })).body.code, 'SHADOWPLANE_ERR_NOT_CONTROLLED');
    // a target that does not exist at all is 404, not "has no control loop"
    for (const [method, path] of [['GET', '/v1/targets/nope/decisions'], ['GET', '/v1/targets/nope/control'], ['GET', '/v1/targets/nope/conditions']] as const) {
      const res = await call(method, path);
      assert.deepEqual([res.status, res.body.code], [404, 'SHADOWPLANE_ERR_TARGET_NOT_FOUND'], path);
    }
    assert.equal((await call('GET', '/v1/decisions/nope')).status, 404);
    assert.deepEqual((await call('GET', '/v1/control')).body.targets, ['shop']);
  });
});

describe('webhook actuator end to end', () => {
  const received: { body: Record<string, unknown>; key: string | undefined }[] = [];
  let env: Env;
  let server: ReturnType<typeof createServer>;
  let failNext = 0;
  before(async () => {
    server = createServer((req: IncomingMessage, res) => {
      let text = '';
      req.on('data', (c: Buffer) => (text += c));
      req.on('end', () => {
        received.push({ body: JSON.parse(text) as Record<string, unknown>, key: req.headers['idempotency-key'] as string | undefined });
        if (failNext > 0) {
          failNext--;
          res.writeHead(503).end('busy');
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ capacity: (JSON.parse(text) as { to: number }).to }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/scale`;
    env = await testService({ targets: [{ name: 'api', kind: 'service', actuator: { type: 'webhook', url, retries: 0 }, control: CONTROL }], control: { executor: { maxAttempts: 1 } } });
    env.service.controller.start();
  });
  after(async () => {
    await env.cleanup();
    await new Promise((r) => server.close(r));
  });

  test('a decision POSTs its action with an idempotency key; the answer is the outcome; a 503 is a failed decision', async () => {
    // Which early tick first scales up depends on when the loop first sees a complete window: tick
    // until one acts, and no further while its request is in flight.
    let d = await minute(env, 'api', 50);
    for (let i = 0; i < 3 && !d.action; i++) d = await minute(env, 'api', 50);
    assert.ok(d.action, d.message);
    // the request is real I/O: wait for the task to finish
    for (let i = 0; i < 100 && (await env.service.controller.decision(d.id)).status === 'submitted'; i++) await new Promise((r) => setTimeout(r, 10));
    const done = await env.service.controller.decision(d.id);
    assert.equal(done.status, 'succeeded', JSON.stringify(done.outcome));
    assert.match(done.outcome!.reason, /not verified/);
    const sent = received.at(-1)!;
    assert.equal(sent.body.target, 'api');
    assert.equal(sent.body.to, d.action!.to);
    assert.equal(sent.key, `api:${d.id}`);
    assert.equal((await env.service.controller.view('api')).capacity.ready + (await env.service.controller.view('api')).capacity.booting, d.action!.to);

    failNext = 1;
    const forced = await env.service.controller.force('api', d.action!.to + 3, { actor: 'ops', why: 'test failure path' });
    for (let i = 0; i < 100 && (await env.service.controller.decision(forced.id)).status === 'submitted'; i++) await new Promise((r) => setTimeout(r, 10));
    const failed = await env.service.controller.decision(forced.id);
    assert.equal(failed.status, 'failed');
    assert.match(failed.outcome!.reason, /503/);
  });
});
