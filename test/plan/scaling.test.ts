import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_SCALING_POLICY, ScalingReason, decideScaling, initialScalingMemory } from '../../src/plan/scaling.js';
import type { ScalingPolicyConfig, ScalingView } from '../../src/plan/scaling.js';
import { EnginePoint } from '../../src/forecast/engine-point.js';
import type { Forecast } from '../../src/model/forecast.js';
import { OnlineForecaster, DEFAULT_ONLINE_FORECASTER } from '../../src/forecast/online.js';

// The tolerance rule (actionCost 0) for the tests written against it; the savings rule has its own tests.
const cfg: ScalingPolicyConfig = { ...DEFAULT_SCALING_POLICY, actionCost: 0, targetUtilisation: 0.9, reactiveAboveUse: 0.9, scaleInStabilizationSteps: 30 };
const decide = (v: ScalingView, c: ScalingPolicyConfig = cfg) => decideScaling(v, c);

function flatForecast(hi: number[]): Forecast {
  return { mean: hi, intervals: [{ level: cfg.forecastLevel, lo: hi.map(() => 0), hi }], model: 'test', notes: [] };
}

function view(over: Partial<ScalingView>): ScalingView {
  return {
    step: 100,
    demand: Array.from({ length: 60 }, () => 5),
    ready: 10,
    booting: 0,
    capacityPerUnit: 1,
    provisioningDelaySteps: 5,
    memory: { ...initialScalingMemory(cfg), headroom: 0 },
    ...over,
  };
}

test('proactive: the forecast at the moment new capacity is ready exceeds the current units', () => {
  const hi = Array.from({ length: 60 }, (_, i) => (i >= 5 ? 12 : 5));
  const d = decide(view({ forecast: flatForecast(hi) }));
  assert.equal(d.mode, 'proactive');
  assert.equal(d.reason, ScalingReason.ProactiveForecastAboveThreshold);
  assert.equal(d.desiredUnits, Math.ceil(12 / cfg.targetUtilisation));
  assert.equal(d.leadTimeSteps, 5);
  assert.equal(d.forecastDemandAtReady, 12);
  assert.ok(d.behavior.some((b) => b.step === 'capacity-model'));
});

test('reactive: current use above 90 % scales on the observed demand even when the forecast is low', () => {
  const demand = [...Array.from({ length: 59 }, () => 5), 9.6];
  const d = decide(view({ demand, forecast: flatForecast(Array.from({ length: 60 }, () => 5)) }));
  assert.equal(d.mode, 'reactive');
  assert.equal(d.reason, ScalingReason.ReactiveUtilisationAbove90);
  assert.equal(d.desiredUnits, Math.ceil(9.6 / cfg.reactiveTargetUtilisation));
});

test('thin data is a named condition: no forecast means InsufficientData and observed-only decisions', () => {
  const d = decide(view({ demand: [9.5], forecast: undefined }));
  assert.equal(d.reason, ScalingReason.InsufficientData);
  assert.equal(d.forecastUnits, null);
  assert.ok(d.desiredUnits >= Math.ceil(9.5 / cfg.targetUtilisation));
});

test('scale-in waits for the stabilization window, then removes units beyond the tolerance', () => {
  const low = flatForecast(Array.from({ length: 60 }, () => 2));
  let memory = { ...initialScalingMemory(cfg), headroom: 0, recommendations: [[95, 10] as const] };
  const demand = Array.from({ length: 60 }, () => 2);
  const first = decide(view({ demand, forecast: low, memory }));
  assert.equal(first.reason, ScalingReason.ScaleInStabilizing);
  assert.equal(first.desiredUnits, 10);
  memory = { ...first.memory, recommendations: [] };
  const later = decide(view({ step: 200, demand, forecast: low, memory }));
  assert.equal(later.reason, ScalingReason.ScaleIn);
  assert.equal(later.desiredUnits, Math.ceil(2 / cfg.targetUtilisation));
});

test('scale-in on the forecast alone is refused unless configured', () => {
  const low = flatForecast(Array.from({ length: 60 }, () => 1));
  const demand = Array.from({ length: 60 }, () => 8);
  const d = decide(view({ demand, forecast: low, ready: 20 }));
  assert.equal(d.desiredUnits, Math.ceil(8 / cfg.targetUtilisation));
  const d2 = decide(view({ demand, forecast: low, ready: 20 }), { ...cfg, scaleInOnForecast: true });
  assert.equal(d2.desiredUnits, Math.ceil(8 / cfg.reactiveAboveUse));
});

test('rate limits and bounds are applied and recorded', () => {
  const hi = Array.from({ length: 60 }, () => 50);
  const d = decide(view({ forecast: flatForecast(hi) }), { ...cfg, maxScaleUpUnits: 3, maxUnits: 12 });
  assert.equal(d.desiredUnits, 12);
  assert.deepEqual(d.behavior.filter((b) => b.step === 'rate-limit' || b.step === 'bounds').map((b) => b.step), ['rate-limit', 'bounds']);
  const idle = Array.from({ length: 60 }, () => 0);
  const floor = decide(view({ demand: idle, ready: 1, forecast: flatForecast(idle) }), { ...cfg, minUnits: 2 });
  assert.equal(floor.desiredUnits, 2);
});

test('trigger refinement raises the headroom after under-provisioning, within bounds', () => {
  const demand = [...Array.from({ length: 59 }, () => 5), 11];
  const d = decide(view({ demand, forecast: flatForecast(Array.from({ length: 60 }, () => 5)) }));
  assert.equal(d.memory.headroom, cfg.headroomRaiseOnUnderprov);
  const capped = decide(view({ demand, memory: { ...initialScalingMemory(cfg), headroom: cfg.headroomMax } }));
  assert.equal(capped.memory.headroom, cfg.headroomMax);
  const calm = decide(view({ memory: { ...initialScalingMemory(cfg), headroom: 0.1 } }));
  assert.ok(calm.memory.headroom < 0.1);
});

test('a malformed view is a RangeError', () => {
  assert.throws(() => decide(view({ demand: [] })), RangeError);
  assert.throws(() => decide(view({ capacityPerUnit: 0 })), RangeError);
  assert.throws(() => decide(view({ ready: -1 })), RangeError);
});

test('the online forecaster withholds forecasts on thin data and covers a noisy seasonal series', () => {
  const f = new OnlineForecaster({ ...DEFAULT_ONLINE_FORECASTER, season: 100, horizon: 6, errorHorizon: 6, errorWindow: 500 });
  assert.equal(f.forecast(), null);
  let seed = 7;
  const noise = () => ((seed = (seed * 48271) % 2147483647) / 2147483647 - 0.5) * 2;
  const x = (t: number) => 10 + 5 * Math.sin((2 * Math.PI * t) / 100) + noise();
  let hits = 0;
  let trials = 0;
  let pending: number[] = [];
  for (let t = 0; t < 3000; t++) {
    if (pending.length && t >= 1000) {
      trials++;
      if (x(t) <= pending[0]) hits++;
    }
    seed = 7 + t; // the value of x(t) must not depend on how often it is evaluated
    const v = x(t);
    f.observe(v);
    const fc = f.forecast();
    pending = fc ? [fc.intervals.find((i) => i.level === 90)!.hi[0]] : [];
    seed = 7 + t + 1;
  }
  const coverage = hits / trials;
  assert.ok(coverage > 0.85 && coverage < 0.995, `one-step 95% upper-bound coverage ${coverage}`);
  assert.throws(() => f.observe(NaN), RangeError);
  assert.throws(() => new OnlineForecaster({ ...DEFAULT_ONLINE_FORECASTER, horizon: 0, errorHorizon: 1 }), RangeError);
});

const savings: ScalingPolicyConfig = {
  ...DEFAULT_SCALING_POLICY,
  actionCost: 100,
  scaleInStabilizationSteps: 1,
  targetUtilisation: 1,
  scaleInHorizonSteps: 120,
};

function series(length: number, f: (h: number) => number): Forecast {
  const hi = Array.from({ length }, (_, i) => f(i + 1));
  return { mean: hi, intervals: [{ level: savings.forecastLevel, lo: hi.map(() => 0), hi }, { level: savings.scaleInForecastLevel || savings.forecastLevel, lo: hi.map(() => 0), hi }], model: 'test', notes: [] };
}

test('savings rule: scale in when the unit-steps saved before the need returns exceed the action price', () => {
  const demand = Array.from({ length: 60 }, () => 4);
  const memory = { ...initialScalingMemory(savings), headroom: 0 };
  // 10 units, need 4 for the next 120 steps: saving (10 - 4) * 120 = 720 > 100
  const d = decideScaling(view({ demand, ready: 10, memory, forecast: series(120, () => 4) }), savings);
  assert.equal(d.reason, ScalingReason.ScaleIn);
  assert.equal(d.desiredUnits, Math.ceil(4 / savings.reactiveAboveUse - 1e-9)); // never into reactive territory
  // the need returns to 10 after 15 steps: (10 - 4) * 15 = 90 < 100, the units are kept
  const kept = decideScaling(view({ demand, ready: 10, memory, forecast: series(120, (h) => (h > 15 ? 10 : 4)) }), savings);
  assert.equal(kept.desiredUnits, 10);
  assert.ok(kept.behavior.some((b) => b.note.includes('action price')));
  // a higher price keeps the units even for the long trough
  const pricey = decideScaling(view({ demand, ready: 10, memory, forecast: series(120, () => 4) }), { ...savings, actionCost: 1000 });
  assert.equal(pricey.desiredUnits, 10);
});

test('savings rule: a scale-up covers the coming rise when holding the extra units is cheaper than another action', () => {
  const demand = Array.from({ length: 60 }, () => 5);
  const memory = { ...initialScalingMemory(savings), headroom: 0 };
  // need 8 at the lead time, 9 from step 20: one extra unit held 14 steps (14 < 100) -> go to 9
  const d = decideScaling(view({ demand, ready: 5, memory, forecast: series(120, (h) => (h >= 20 ? 9 : h >= 6 ? 8 : 5)) }), savings);
  assert.equal(d.desiredUnits, 9);
  // the rise to 30 at step 100 would hold 21 units for 80 steps: not bought now
  const far = decideScaling(view({ demand, ready: 5, memory, forecast: series(120, (h) => (h >= 100 ? 30 : h >= 6 ? 8 : 5)) }), savings);
  assert.equal(far.desiredUnits, 8);
});

test('defaults with a forecast shorter than scaleInHorizonSteps: the look-ahead is what the forecast covers', () => {
  const memory = initialScalingMemory(DEFAULT_SCALING_POLICY);
  // the live loop's shape: 10 steps ahead at level 90 only (no level 95), far below the 720-step horizon
  const short = (hi: number): Forecast => ({ mean: Array(10).fill(hi), intervals: [{ level: 90, lo: Array(10).fill(0), hi: Array(10).fill(hi) }], model: 'test', notes: [] });
  const demand = Array.from({ length: 40 }, () => 50);
  // load 2.5x the capacity of 2 units: scale up with or without the forecast
  for (const forecast of [short(52), undefined]) {
    const up = decideScaling(view({ demand, ready: 2, capacityPerUnit: 10, provisioningDelaySteps: 2, memory, forecast }));
    assert.ok(up.desiredUnits >= 6, JSON.stringify(up));
    assert.notEqual(up.mode, 'none');
    assert.equal(up.forecastUnits === null, forecast === undefined);
  }
  // 20 units for a steady 50: the savings rule still scales in over the 10 steps it can see
  const down = decideScaling(view({ demand, ready: 20, capacityPerUnit: 10, provisioningDelaySteps: 2, memory, forecast: short(52) }));
  assert.equal(down.reason, ScalingReason.ScaleIn);
  assert.ok(down.desiredUnits >= 6 && down.desiredUnits < 20, JSON.stringify(down));
  assert.ok(down.behavior.some((b) => b.note.includes('action price')), 'decided by the savings rule on the short forecast');
});

test('the forecasting engine as point predictor: no forecast before it is fitted, then finite forecasts with conformal intervals', () => {
  const engine = new EnginePoint({ seasons: [50], refitEvery: 100, minPoints: 60, maxHistory: 1000 });
  const f = new OnlineForecaster({ ...DEFAULT_ONLINE_FORECASTER, season: 50, horizon: 10, errorHorizon: 6, minErrors: 30 }, engine);
  for (let t = 0; t < 400; t++) f.observe(10 + 3 * Math.sin((2 * Math.PI * t) / 50) + (t % 7) * 0.1);
  const fc = f.forecast();
  assert.ok(fc);
  assert.equal(fc.mean.length, 10);
  assert.ok(fc.model.startsWith('conformal(engine('));
  const i90 = fc.intervals.find((i) => i.level === 90)!;
  assert.ok(fc.mean.every(Number.isFinite) && i90.hi.every((v, h) => v >= i90.lo[h]));
  // the seasonal rise is followed: the forecast 10 steps ahead is near the true curve
  const truth = 10 + 3 * Math.sin((2 * Math.PI * 409) / 50);
  assert.ok(Math.abs(fc.mean[9] - truth) < 1.5, `engine forecast ${fc.mean[9]} vs ${truth}`);
});
