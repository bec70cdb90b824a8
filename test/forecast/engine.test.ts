import { test } from 'node:test';
import assert from 'node:assert/strict';
import { detectSeasons, fitForecaster, shouldRefit } from '../../src/forecast/index.js';
import { isCoded } from '../../src/core/errors.js';

/** Deterministic pseudo-random noise in [-0.5, 0.5). */
function noise(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
}

const season = (t: number, m = 24): number => Math.sin((2 * Math.PI * t) / m);
const maxAbsErr = (a: number[], b: number[]): number => Math.max(...a.map((v, i) => Math.abs(v - b[i])));

test('pure season is forecast almost exactly with tight intervals around it', () => {
  const y = Array.from({ length: 24 * 20 }, (_, t) => 50 + 10 * season(t));
  const f = fitForecaster(y, { seasons: [24] });
  const fc = f.predict(48);
  const truth = Array.from({ length: 48 }, (_, i) => 50 + 10 * season(y.length + i));
  assert.ok(maxAbsErr(fc.mean, truth) < 0.2, `error ${maxAbsErr(fc.mean, truth)}`);
  for (const iv of fc.intervals) {
    iv.lo.forEach((lo, i) => assert.ok(lo <= fc.mean[i] && fc.mean[i] <= iv.hi[i]));
  }
});

test('a linear trend continues upward within 2 %', () => {
  const y = Array.from({ length: 200 }, (_, t) => 5 + 0.5 * t);
  const fc = fitForecaster(y, { seasons: [] }).predict(10);
  for (let i = 0; i < 10; i++) {
    const truth = 5 + 0.5 * (200 + i);
    assert.ok(Math.abs(fc.mean[i] - truth) / truth < 0.02, `step ${i + 1}: ${fc.mean[i]} vs ${truth}`);
  }
  assert.ok(fc.mean[9] > fc.mean[0]);
});

test('after a level shift the forecast follows the new level', () => {
  const r = noise(7);
  const y = Array.from({ length: 360 }, (_, t) => (t < 300 ? 10 : 20) + r());
  const fc = fitForecaster(y, { seasons: [] }).predict(12);
  for (const v of fc.mean) assert.ok(Math.abs(v - 20) < 1.5, `forecast ${v}`);
});

test('a multiplicative season with a trend is forecast within 5 % and ETS picks a multiplicative season', () => {
  const r = noise(3);
  const level = (t: number): number => 100 + 0.5 * t;
  const y = Array.from({ length: 24 * 25 }, (_, t) => level(t) * (1 + 0.5 * season(t)) * (1 + 0.01 * r()));
  const truth = Array.from({ length: 24 }, (_, i) => level(y.length + i) * (1 + 0.5 * season(y.length + i)));
  const fc = fitForecaster(y, { seasons: [24] }).predict(24);
  const mape = fc.mean.reduce((a, v, i) => a + Math.abs(v - truth[i]) / truth[i], 0) / 24;
  assert.ok(mape < 0.05, `MAPE ${mape}`);
  const ets = fitForecaster(y, { seasons: [24], method: 'ets' });
  assert.match(ets.model, /^ets\(.*M,24\)$/);
});

test('gaps inside and at the end of the history are bridged, and update(NaN) is a gap', () => {
  const y: number[] = Array.from({ length: 24 * 15 }, (_, t) => 30 + 8 * season(t));
  for (let t = 5; t < y.length; t += 11) y[t] = NaN;
  y.push(NaN, NaN);
  const f = fitForecaster(y, { seasons: [24] });
  assert.ok(f.notes.some((n) => n.includes('interpolated')));
  const truth = Array.from({ length: 24 }, (_, i) => 30 + 8 * season(y.length + i));
  assert.ok(maxAbsErr(f.predict(24).mean, truth) < 1, 'forecast after trailing gaps');
  f.update(NaN);
  f.update(30 + 8 * season(y.length + 1));
  const after = f.predict(4).mean;
  after.forEach((v) => assert.ok(Number.isFinite(v)));
});

test('short histories fall back to simpler models and say so', () => {
  const tiny = fitForecaster([3, 4, 5]);
  assert.equal(tiny.model, 'naive');
  assert.ok(tiny.notes.some((n) => n.includes('short history')));
  assert.deepEqual(tiny.predict(2).mean, [5, 5]);
  const month = Array.from({ length: 40 }, (_, t) => 10 + season(t));
  const f = fitForecaster(month, { seasons: [24] });
  assert.ok(f.notes.some((n) => n.includes('24 ignored')), f.notes.join('; '));
  assert.deepEqual(f.seasons, []);
});

test('a series without any finite value is rejected as too short', () => {
  assert.throws(() => fitForecaster([NaN, NaN]), (e: unknown) => isCoded(e, 'SHADOWPLANE_ERR_SERIES_TOO_SHORT'));
  assert.throws(() => fitForecaster([]), (e: unknown) => isCoded(e, 'SHADOWPLANE_ERR_SERIES_TOO_SHORT'));
});

test('bad arguments are rejected with a validation error', () => {
  const f = fitForecaster(Array.from({ length: 50 }, (_, t) => t % 5));
  const bad = (e: unknown): boolean => isCoded(e, 'SHADOWPLANE_ERR_VALIDATION');
  assert.throws(() => f.predict(0), bad);
  assert.throws(() => f.predict(2.5), bad);
  assert.throws(() => f.predict(3, [100]), bad);
  assert.throws(() => f.quantile(1, 3), bad);
  assert.throws(() => fitForecaster([1, 2, 3], { horizon: -1 }), bad);
  assert.throws(() => fitForecaster([1, 2, 3], { seasons: [0] }), bad);
});

test('non-negative series get non-negative forecasts and bounds', () => {
  const r = noise(11);
  const y = Array.from({ length: 24 * 10 }, (_, t) => Math.max(0, 2 * season(t) + r() * 2));
  const fc = fitForecaster(y, { seasons: [24] }).predict(48, [50, 80, 99]);
  for (const v of fc.mean) assert.ok(v >= 0);
  for (const iv of fc.intervals) for (const v of [...iv.lo, ...iv.hi]) assert.ok(v >= 0);
});

test('one spike does not poison the season', () => {
  const y = Array.from({ length: 24 * 12 }, (_, t) => 100 + 20 * season(t));
  y[y.length - 24 + 6] = 5000;
  const fc = fitForecaster(y, { seasons: [24] }).predict(24);
  assert.ok(Math.abs(fc.mean[6] - (100 + 20 * season(y.length + 6))) < 5, `step 7 forecast ${fc.mean[6]}`);
  const online = fitForecaster(y.slice(0, -24), { seasons: [24] });
  for (const v of y.slice(-24)) online.update(v);
  const fc2 = online.predict(24);
  assert.ok(Math.abs(fc2.mean[6] - (100 + 20 * season(y.length + 6))) < 5, `online step 7 forecast ${fc2.mean[6]}`);
});

test('online updates keep a fitted model on track without refitting', () => {
  const r = noise(5);
  const y = Array.from({ length: 24 * 36 }, (_, t) => 200 + 40 * season(t) + 10 * season(t, 168) + r());
  const f = fitForecaster(y.slice(0, 24 * 26), { seasons: [24, 168] });
  for (const v of y.slice(24 * 26)) f.update(v);
  const truth = Array.from({ length: 24 }, (_, i) => 200 + 40 * season(y.length + i) + 10 * season(y.length + i, 168));
  assert.ok(maxAbsErr(f.predict(24).mean, truth) < 3, `error ${maxAbsErr(f.predict(24).mean, truth)}`);
  assert.equal(f.refitState().pointsSinceFit, 240);
});

test('fitting is deterministic and quantiles are ordered and nested', () => {
  const r = noise(9);
  const y = Array.from({ length: 24 * 14 }, (_, t) => 50 + 10 * season(t) + 3 * r());
  const a = fitForecaster(y, { seasons: [24] }).predict(24, [80, 95]);
  const b = fitForecaster(y, { seasons: [24] }).predict(24, [80, 95]);
  assert.deepEqual(a, b);
  const f = fitForecaster(y, { seasons: [24] });
  const q10 = f.quantile(0.1, 24);
  const q50 = f.quantile(0.5, 24);
  const q90 = f.quantile(0.9, 24);
  for (let i = 0; i < 24; i++) {
    assert.ok(q10[i] <= q50[i] && q50[i] <= q90[i]);
    assert.ok(a.intervals[1].lo[i] <= a.intervals[0].lo[i] && a.intervals[0].hi[i] <= a.intervals[1].hi[i]);
  }
});

test('daily and weekly seasons are detected from the data', () => {
  const r = noise(2);
  const y = Array.from({ length: 24 * 7 * 6 }, (_, t) => 100 + 30 * season(t) + 15 * (Math.floor(t / 24) % 7 >= 5 ? -1 : 1) + 2 * r());
  assert.deepEqual(detectSeasons(y), [24, 168]);
  const flat = Array.from({ length: 300 }, noise(4));
  assert.deepEqual(detectSeasons(flat), []);
});

test('the refit schedule fires on cadence and on drift', () => {
  assert.equal(shouldRefit({ pointsSinceFit: 10, fittedOn: 500, season: 24, errorRatio: 1 }), false);
  assert.equal(shouldRefit({ pointsSinceFit: 288, fittedOn: 500, season: 24, errorRatio: 1 }), true);
  assert.equal(shouldRefit({ pointsSinceFit: 40, fittedOn: 500, season: 24, errorRatio: 3 }), true);
  assert.equal(shouldRefit({ pointsSinceFit: 40, fittedOn: 500, season: 24, errorRatio: 3 }, { driftRatio: 4 }), false);
});
