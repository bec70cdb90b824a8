/**
 * Capacity runs around their measurement (a real service on a virtual clock, SQLite): what starts
 * one besides a person — the schedule, the forecast error of the loop's decisions and the query mix
 * drifting past their limits (the runs started here end failed at once — no traffic was captured,
 * or no shadow server listens — which the run records in words); how a run in force steers the
 * loop's policy; and the pure pieces the runs rest on (figures from a ramp, the distance between
 * two mixes).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { mixDistance } from '../../src/control/capacity.js';
import type { CapacityRun } from '../../src/model/capacity.js';
import type { DecisionRecord } from '../../src/model/decision.js';
import { capacityFigures } from '../../src/shadows/sql/capacity.js';
import type { StepResult } from '../../src/shadows/sql/workload.js';
import { testService } from '../helpers/service.js';

const HOUR = 3_600_000;
const capacity = (extra: object) => ({ source: 'postgres://postgres@127.0.0.1:5432/sp_none_src', shadow: 'postgres://postgres@127.0.0.1:5432/sp_none_shadow', ...extra });

const pastRun = (target: string, at: number): CapacityRun => ({
  id: `old-${target}`, target, at, trigger: 'manual', actor: 'ann', status: 'failed', phase: 'failed', progress: [], mix: [], shadowRows: [], steps: [], figures: null, error: 'x', endedAt: at,
});

const decision = (target: string, at: number, demand: number, forecast: number): DecisionRecord => ({
  id: `${target}-${at}`, target, at, inputs: { signal: 'requests', demand, windows: 40, minWindows: 30, stepSeconds: 60, ready: 1, booting: 0, capacityPerUnit: 100, provisioningDelaySteps: 5 },
  forecast: { model: 'm', mean: [forecast], intervals: [] }, scores: null, recommendation: null, steps: [], overrides: [], action: null, status: 'no-action', reason: 'WithinTolerance', message: '', outcome: null, review: null,
});

describe('capacity-run triggers', () => {
  let env: Awaited<ReturnType<typeof testService>>;
  before(async () => {
    env = await testService({
      targets: [
        { name: 'scheduled', kind: 'database', capacity: capacity({ schedule: '1d' }) },
        { name: 'drifting', kind: 'database', capacity: capacity({ driftLimit: 0.3, minInterval: '1h' }) },
        { name: 'steady', kind: 'database', capacity: capacity({ driftLimit: 0.3, minInterval: '1h' }) },
        // nothing listens on port 1: a run that gets as far as the shadow fails there
        { name: 'mixy', kind: 'database', sampling: { rate: 1 }, capacity: capacity({ shadow: 'postgres://postgres@127.0.0.1:1/sp_none_shadow', mixDriftLimit: 0.3, minInterval: '1h' }) },
      ],
    });
  });
  after(() => env.cleanup());

  test('the schedule, the forecast error and the query mix start runs; a target within its limits gets none', async () => {
    const now = env.clock.now();
    const { store } = env.service;
    await store.putCapacityRun(pastRun('scheduled', now - 25 * HOUR));
    await store.putCapacityRun(pastRun('drifting', now - 2 * HOUR));
    await store.putCapacityRun(pastRun('steady', now - 2 * HOUR));
    for (let i = 0; i < 20; i++) {
      const at = now - (20 - i) * 60_000;
      // forecasts miss the drifting target's demand by half; the steady one's by 5 %
      await store.putDecision(decision('drifting', at, 100, 150));
      await store.putDecision(decision('steady', at, 100, 105));
    }
    assert.ok((await env.service.capacity.forecastError('drifting'))! > 0.45);
    assert.ok((await env.service.capacity.forecastError('steady'))! < 0.06);

    // the mix captured now is not the one of the last run
    await store.putCapacityRun({ ...pastRun('mixy', now - 2 * HOUR), mix: [{ fingerprint: 'select z from u where y = $1', weight: 10 }] });
    env.service.ingestor.ingestEvents(Array.from({ length: 5 }, (_, i) => ({ target: 'mixy', op: 'read', table: 't', route: 'select a from t where b = $1', bytes: 1, latencyMs: 1, at: now - 60_000 + i })));

    await env.service.capacity.check();
    const latest = async (t: string) => (await store.listCapacityRuns(t, 1))[0];
    const scheduled = await env.service.capacity.finished('scheduled', (await latest('scheduled')).id);
    const drifting = await env.service.capacity.finished('drifting', (await latest('drifting')).id);
    assert.deepEqual([scheduled.trigger, scheduled.actor, scheduled.status], ['schedule', 'system', 'failed']);
    assert.match(scheduled.error!, /no SQL statement was captured for target "scheduled".*pg-proxy or pg-tap/);
    assert.equal(drifting.trigger, 'forecast-drift');
    assert.equal((await latest('steady')).id, 'old-steady');
    const mixy = await env.service.capacity.finished('mixy', (await latest('mixy')).id);
    assert.deepEqual([mixy.trigger, mixy.status], ['mix-drift', 'failed']);
    assert.deepEqual(mixy.mix, [{ fingerprint: 'select a from t where b = $1', weight: 5 }]);
    assert.match(mixy.error!, /ECONNREFUSED/);
    assert.deepEqual(mixy.progress.slice(0, 2), ['reading the captured query mix of the last 1h', 'refreshing the shadow database: drop and create']);
    // a failed run sets nothing: the loops keep their setting
    assert.equal(env.service.capacity.unitCapacity('drifting', env.service.controller.loop('drifting').current).source, 'config');
  });
});

describe('a capacity run in force', () => {
  let env: Awaited<ReturnType<typeof testService>>;
  before(async () => {
    env = await testService({
      targets: [{
        name: 'metered', kind: 'database', sampling: { rate: 1 }, capacity: capacity({}), actuator: { type: 'replay', provisioningDelayMs: 120_000 },
        control: { capacityPerUnit: 1000, initialUnits: 2, minWindows: 2, season: '0s', history: '10m', provisioningDelay: '2m', horizon: '10m', scaleUpLookahead: '5m' },
      }],
    });
  });
  after(() => env.cleanup());

  test('sets the capacity per unit and the reactive threshold the policy decides with, and the decision names it', async () => {
    const { service, clock } = env;
    const stat = { xactCommit: 0, tupReturned: 0, tupFetched: 0, blksHit: 0, blksRead: 0 };
    const unmeasured = { backendCpuCores: null, backendMemoryBytes: null, stat };
    const figures = capacityFigures({
      knee: {
        kneeRate: 7, bounded: false,
        steps: [
          { targetRate: 7, achievedRate: 7, p50Ms: 1, p95Ms: 2, p99Ms: 3, errors: 0, dropped: 0, ...unmeasured },
          { targetRate: 14, achievedRate: 10, p50Ms: 1, p95Ms: 200, p99Ms: 900, errors: 0, dropped: 3, ...unmeasured },
        ],
      },
      coverage: 1, scaleFactor: 1, eventsPerStatement: 1, forecastPeak: null,
    });
    assert.deepEqual([figures.capacityPerUnit, figures.sloUtilisation], [10, 0.7]);
    await service.store.putCapacityRun({ ...pastRun('metered', clock.now()), id: 'run-7', status: 'succeeded', figures });
    await service.capacity.init();
    // 12 events a minute kept at 1 %: 1200 requests a minute, 20 per second. Two units of the
    // setting's 1000 would be at 1 %; two of the run's 10 are at 100 %, past the SLO's 70 %.
    for (let m = 0; m < 3; m++) {
      const at = clock.now();
      service.ingestor.ingestEvents(Array.from({ length: 12 }, (_, i) => ({ target: 'metered', op: 'read', table: 'orders', bytes: 10, latencyMs: 1, at: at + i, samplingRate: 0.01 })));
      clock.advance(60_000);
      await service.controller.loop('metered').tick();
    }
    const decisions = (await service.controller.decisions('metered', 10)).reverse();
    assert.ok(decisions.every((d) => d.inputs.capacitySource === 'capacity-run:run-7' && d.inputs.capacityPerUnit === 10), JSON.stringify(decisions.map((d) => d.inputs)));
    assert.deepEqual(decisions[0].inputs.tuned, { reactiveAboveUse: 0.7, proactiveBelowUse: 0.7, targetUtilisation: 0.7 });
    // The first step with demand: 20 requests per second on two units of 10 is a use of 100 %
    // (of 1 % with the setting's 1000), so the loop scales up.
    const first = decisions.find((d) => d.recommendation !== null)!;
    assert.ok(Math.abs(first.inputs.demand - 20) < 1e-9, String(first.inputs.demand));
    assert.ok(Math.abs(first.recommendation!.currentUse! - 1) < 1e-9, JSON.stringify(first.recommendation));
    assert.equal(first.action?.from, 2);
    assert.ok(first.action!.to >= 3, JSON.stringify(first.action));
  });
});

test('figures: saturation, the utilisation at which the SLO broke, capacity per unit, and why the confidence is low', () => {
  const step = (rate: number, achieved: number, p99: number): StepResult => ({
    targetRate: rate, achievedRate: achieved, p50Ms: 1, p95Ms: p99 / 2, p99Ms: p99, errors: 0, dropped: 0, backendCpuCores: 0.5, backendMemoryBytes: 1e6,
    stat: { xactCommit: rate, tupReturned: 0, tupFetched: 0, blksHit: 100, blksRead: 3 },
  });
  const steps = [step(100, 100, 2), step(200, 199, 3), step(400, 300, 900)];
  const f = capacityFigures({
    knee: { kneeRate: 200, atKnee: steps[1], bounded: false, steps }, coverage: 1, scaleFactor: 2, eventsPerStatement: 1.5, forecastPeak: 300,
  });
  assert.equal(f.saturationRate, 300);
  assert.equal(f.sloUtilisation, 200 / 300);
  assert.equal(f.capacityPerUnit, 300 * 1.5 * 2);
  assert.deepEqual(f.atKnee, { cpuCores: 0.5, blocksReadPerSecond: 3, blocksHitPerSecond: 100, memoryBytes: 1e6 });
  // the peak on the shadow is 300 / 1.5 / 2 = 100 statements per second: the ramp went past it
  assert.equal(f.beyondPeak, true);
  assert.deepEqual(f.confidence, { level: 'high', reasons: [] });
  const bounded = capacityFigures({
    knee: { kneeRate: 400, atKnee: steps[2], bounded: true, steps }, coverage: 0.5, scaleFactor: 1, eventsPerStatement: 1, forecastPeak: 1000,
  });
  assert.equal(bounded.confidence.level, 'low');
  assert.equal(bounded.confidence.reasons.length, 3, JSON.stringify(bounded.confidence.reasons));
});

test('mix distance: 0 for the same shares, 1 for disjoint mixes', () => {
  const a = [{ fingerprint: 'x', weight: 30 }, { fingerprint: 'y', weight: 10 }];
  assert.equal(mixDistance(a, [{ fingerprint: 'x', weight: 3 }, { fingerprint: 'y', weight: 1 }]), 0);
  assert.equal(mixDistance(a, [{ fingerprint: 'z', weight: 5 }]), 1);
  assert.equal(mixDistance(a, [{ fingerprint: 'x', weight: 1 }, { fingerprint: 'y', weight: 1 }]), 0.25);
});
