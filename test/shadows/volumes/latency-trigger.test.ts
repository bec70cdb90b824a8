import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LatencyTrigger } from '../../../src/shadows/volumes/latency-trigger.js';

/** Feeds `times` and returns the index of the first I/O that fired, or -1. */
function firstFire(trigger: LatencyTrigger, times: number[]): number {
  return times.findIndex((ms) => trigger.observe(ms) !== null);
}

const steady = (n: number, ms: number): number[] => Array.from({ length: n }, (_, i) => ms * (0.8 + 0.4 * ((i * 7) % 10) / 10));

test('latency trigger: learns first, then fires on the minimum count of I/Os far above the baseline', () => {
  const t = new LatencyTrigger(5);
  // Still learning: even very slow I/Os do not fire.
  assert.equal(firstFire(t, Array(20).fill(1000)), -1);
  assert.equal(t.baselineMs, null);
  assert.equal(firstFire(t, steady(200, 2)), -1);
  assert.ok(t.baselineMs !== null && t.baselineMs > 1 && t.baselineMs < 3);
  assert.equal(t.thresholdMs, 4 * (t.baselineMs ?? 0));
  // Seven slow I/Os among normal ones are not enough; the eighth within the window is.
  assert.equal(firstFire(t, [50, 2, 50, 2, 50, 50, 2, 50, 50, 50]), -1);
  const reason = t.observe(50);
  assert.match(reason ?? '', /^live latency: 8 of the last 16 I\/Os above \d+\.\d ms \(4 × p90 baseline/);
});

test('latency trigger: a busy host does not fire it (uniform slowdown, gradual drift, short stalls)', () => {
  const uniform = new LatencyTrigger(5);
  firstFire(uniform, steady(300, 2));
  // Everything three times slower: below 4 × the baseline.
  assert.equal(firstFire(uniform, steady(2000, 6)), -1);

  // Gradual drift from 2 ms to 200 ms: the baseline follows.
  const drift = new LatencyTrigger(5);
  assert.equal(firstFire(drift, Array.from({ length: 5000 }, (_, i) => 2 * 1.001 ** i)), -1);

  // Scheduling stalls slow every I/O in flight at once: bursts of 5 at 400 ms, 20 normal I/Os apart.
  const stalls = new LatencyTrigger(5);
  firstFire(stalls, steady(300, 2));
  const times: number[] = [];
  for (let k = 0; k < 50; k++) times.push(...Array(5).fill(400), ...steady(20, 2));
  assert.equal(firstFire(stalls, times), -1);
});

test('latency trigger: the floor and Infinity', () => {
  const floor = new LatencyTrigger(20);
  firstFire(floor, steady(300, 1));
  // Fifteen times the baseline but under the floor: not slow (few enough to leave the p90 alone).
  assert.equal(firstFire(floor, Array(16).fill(15)), -1);
  assert.equal(firstFire(floor, Array(8).fill(25)), 7);

  const off = new LatencyTrigger(Infinity);
  assert.equal(firstFire(off, [...steady(300, 1), ...Array(100).fill(60_000)]), -1);
});

test('latency trigger: a degraded device keeps firing while its slow I/Os do not enter the baseline; resetWindow clears the count', () => {
  const t = new LatencyTrigger(5);
  firstFire(t, steady(300, 2));
  const base = t.baselineMs;
  assert.notEqual(firstFire(t, Array(8).fill(100)), -1);
  assert.equal(t.baselineMs, base);
  t.resetWindow();
  assert.equal(t.observe(2), null);
});

test('latency trigger: bad options are named', () => {
  assert.throws(() => new LatencyTrigger(0), /floorMs/);
  assert.throws(() => new LatencyTrigger(Number.NaN), /floorMs/);
  assert.throws(() => new LatencyTrigger(5, { factor: 0.5 }), /factor/);
  assert.throws(() => new LatencyTrigger(5, { quantile: 0 }), /quantile/);
  assert.throws(() => new LatencyTrigger(5, { window: 1.5 }), /window/);
  assert.throws(() => new LatencyTrigger(5, { minSlow: 20, window: 16 }), /minSlow/);
  assert.throws(() => new LatencyTrigger(5, { minBaseline: 300 }), /minBaseline/);
});
