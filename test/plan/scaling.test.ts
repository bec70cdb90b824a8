import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_SCALING_POLICY, ScalingReason, decideScaling, initialScalingMemory } from '../../src/plan/scaling.js';
import type { ScalingView } from '../../src/plan/scaling.js';
import type { Forecast } from '../../src/model/forecast.js';
import { OnlineForecaster, DEFAULT_ONLINE_FORECASTER } from '../../src/plan/online-forecast.js';

const cfg = DEFAULT_SCALING_POLICY;

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
  const d = decideScaling(view({ forecast: flatForecast(hi) }));
  assert.equal(d.mode, 'proactive');
  assert.equal(d.reason, ScalingReason.ProactiveForecastAboveThreshold);
  assert.equal(d.desiredUnits, Math.ceil(12 / cfg.targetUtilisation));
  assert.equal(d.leadTimeSteps, 5);
  assert.equal(d.forecastDemandAtReady, 12);
  assert.ok(d.behavior.some((b) => b.step === 'capacity-model'));
});

test('reactive: current use above 90 % scales on the observed demand even when the forecast is low', () => {
  const demand = [...Array.from({ length: 59 }, () => 5), 9.6];
  const d = decideScaling(view({ demand, forecast: flatForecast(Array.from({ length: 60 }, () => 5)) }));
  assert.equal(d.mode, 'reactive');
  assert.equal(d.reason, ScalingReason.ReactiveUtilisationAbove90);
  assert.equal(d.desiredUnits, Math.ceil(9.6 / cfg.reactiveTargetUtilisation));
});

test('thin data is a named condition: no forecast means InsufficientData and observed-only decisions', () => {
  const d = decideScaling(view({ demand: [9.5], forecast: undefined }));
  assert.equal(d.reason, ScalingReason.InsufficientData);
  assert.equal(d.forecastUnits, null);
  assert.ok(d.desiredUnits >= Math.ceil(9.5 / cfg.targetUtilisation));
});

test('scale-in waits for the stabilization window, then removes units beyond the tolerance', () => {
  const low = flatForecast(Array.from({ length: 60 }, () => 2));
  let memory = { ...initialScalingMemory(cfg), headroom: 0, recommendations: [[95, 10] as const] };
  const demand = Array.from({ length: 60 }, () => 2);
  const first = decideScaling(view({ demand, forecast: low, memory }));
  assert.equal(first.reason, ScalingReason.ScaleInStabilizing);
  assert.equal(first.desiredUnits, 10);
  memory = { ...first.memory, recommendations: [] };
  const later = decideScaling(view({ step: 200, demand, forecast: low, memory }));
  assert.equal(later.reason, ScalingReason.ScaleIn);
  assert.equal(later.desiredUnits, Math.ceil(2 / cfg.targetUtilisation));
});

test('scale-in on the forecast alone is refused unless configured', () => {
  const low = flatForecast(Array.from({ length: 60 }, () => 1));
  const demand = Array.from({ length: 60 }, () => 8);
  const d = decideScaling(view({ demand, forecast: low, ready: 20 }));
  assert.equal(d.desiredUnits, Math.ceil(8 / cfg.targetUtilisation));
  const d2 = decideScaling(view({ demand, forecast: low, ready: 20 }), { ...cfg, scaleInOnForecast: true });
  assert.equal(d2.desiredUnits, Math.ceil(8 / cfg.reactiveAboveUse));
});

test('rate limits and bounds are applied and recorded', () => {
  const hi = Array.from({ length: 60 }, () => 50);
  const d = decideScaling(view({ forecast: flatForecast(hi) }), { ...cfg, maxScaleUpUnits: 3, maxUnits: 12 });
  assert.equal(d.desiredUnits, 12);
  assert.deepEqual(d.behavior.filter((b) => b.step === 'rate-limit' || b.step === 'bounds').map((b) => b.step), ['rate-limit', 'bounds']);
  const floor = decideScaling(view({ demand: Array.from({ length: 60 }, () => 0), ready: 1, forecast: flatForecast(Array.from({ length: 60 }, () => 0)) }), { ...cfg, minUnits: 2 });
  assert.equal(floor.desiredUnits, 2);
});

test('trigger refinement raises the headroom after under-provisioning, within bounds', () => {
  const demand = [...Array.from({ length: 59 }, () => 5), 11];
  const d = decideScaling(view({ demand, forecast: flatForecast(Array.from({ length: 60 }, () => 5)) }));
  assert.equal(d.memory.headroom, cfg.headroomRaiseOnUnderprov);
  const capped = decideScaling(view({ demand, memory: { ...initialScalingMemory(cfg), headroom: cfg.headroomMax } }));
  assert.equal(capped.memory.headroom, cfg.headroomMax);
  const calm = decideScaling(view({ memory: { ...initialScalingMemory(cfg), headroom: 0.1 } }));
  assert.ok(calm.memory.headroom < 0.1);
});

test('a malformed view is a RangeError', () => {
  assert.throws(() => decideScaling(view({ demand: [] })), RangeError);
  assert.throws(() => decideScaling(view({ capacityPerUnit: 0 })), RangeError);
  assert.throws(() => decideScaling(view({ ready: -1 })), RangeError);
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
