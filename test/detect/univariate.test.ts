import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UnivariateDetector, zToScore } from '../../src/detect/univariate.js';
import type { Score } from '../../src/model/detect.js';
import { gauss, MIN, T0 } from './synth.js';

/** Feeds values at 1-minute steps; returns the scores. */
function run(det: UnivariateDetector, values: number[], times?: number[]): Score[] {
  return values.map((v, i) => det.update(times ? times[i] : T0 + i * MIN, v));
}

function noise(n: number, seed: number, level = 100, sd = 1): number[] {
  const g = gauss(seed);
  return Array.from({ length: n }, () => level + sd * g());
}

/** Share of ready points in [from, to) with score >= 0.5. */
function alarmRate(scores: Score[], from: number, to: number): number {
  let a = 0;
  for (let i = from; i < to; i++) if (scores[i].value >= 0.5) a++;
  return a / (to - from);
}

test('warm-up: not ready, score 0, kind warm-up, then ready', () => {
  const det = new UnivariateDetector('x', { warmup: 20 });
  const s = run(det, noise(60, 1));
  for (let i = 0; i < 20; i++) {
    assert.equal(s[i].ready, false);
    assert.equal(s[i].value, 0);
    assert.equal(s[i].reason.kind, 'warm-up');
  }
  assert.equal(s[20].ready, true);
  assert.equal(s[59].reason.signal, 'x');
});

test('spike and drop are flagged with their kind; quiet noise is not', () => {
  const v = noise(2200, 2);
  v[1500] += 12;
  // after the spike's cooldown (an alarm per incident: see the episode tests below)
  v[1900] -= 12;
  const s = run(new UnivariateDetector('x'), v);
  assert.ok(alarmRate(s, 100, 1500) < 0.005, `false alarm rate ${alarmRate(s, 100, 1500)}`);
  assert.ok(s[1500].value >= 0.5);
  assert.equal(s[1500].reason.kind, 'spike');
  assert.ok(s[1500].reason.deviation > 6);
  assert.ok(Math.abs(s[1500].reason.expected - 100) < 1);
  assert.ok(s[1900].value >= 0.5);
  assert.equal(s[1900].reason.kind, 'drop');
});

test('level shift is flagged within a few points as level-shift', () => {
  const v = noise(2000, 3).map((x, i) => (i >= 1500 ? x + 4 : x));
  const s = run(new UnivariateDetector('x'), v);
  assert.ok(alarmRate(s, 100, 1500) < 0.005);
  const first = s.findIndex((x, i) => i >= 1500 && x.value >= 0.5);
  assert.ok(first >= 1500 && first < 1520, `detected at ${first}`);
  assert.ok(s.slice(first, first + 10).some((x) => x.reason.kind === 'level-shift'));
});

test('slow drift is flagged as drift before it is large', () => {
  const v = noise(4000, 4).map((x, i) => (i >= 2000 ? x + 0.005 * (i - 2000) : x));
  const s = run(new UnivariateDetector('x'), v);
  assert.ok(alarmRate(s, 100, 2000) < 0.005);
  const first = s.findIndex((x, i) => i >= 2000 && x.value >= 0.5);
  assert.ok(first > 2000, 'drift detected');
  // Detected while the drift is still below 3 standard deviations per point.
  assert.ok(0.005 * (first - 2000) < 3, `detected late, at ${first}`);
  assert.equal(s[first].reason.kind, 'drift');
});

test('a daily peak is not an anomaly once the season is learned; the same value off-peak is', () => {
  const step = 5 * MIN;
  const perDay = 288;
  const g = gauss(5);
  const n = perDay * 8;
  const times = Array.from({ length: n }, (_, i) => T0 + i * step);
  const v = times.map((_, i) => 100 + 20 * Math.max(0, Math.sin((2 * Math.PI * i) / perDay)) ** 4 + g());
  const offPeak = perDay * 7 + Math.round(perDay * 0.75); // trough of the sine
  v[offPeak] = 120;
  const s = run(new UnivariateDetector('x'), v, times);
  const peaks = [];
  for (let i = perDay * 4; i < perDay * 7; i++) if (i % perDay === perDay / 4) peaks.push(s[i]);
  for (const p of peaks) assert.ok(p.value < 0.5, `peak scored ${p.value}`);
  assert.ok(alarmRate(s, perDay * 4, perDay * 7) < 0.01, `rate ${alarmRate(s, perDay * 4, perDay * 7)}`);
  assert.ok(s[offPeak].value >= 0.5, `off-peak ${s[offPeak].value}`);
  assert.equal(s[offPeak].reason.kind, 'spike');
});

test('gaps and irregular timestamps: no alarms from the spacing, spikes still found', () => {
  const g = gauss(6);
  const times: number[] = [];
  let t = T0;
  for (let i = 0; i < 3000; i++) {
    t += i === 1500 ? 180 * MIN : MIN * (0.6 + 0.8 * ((i * 7919) % 100) / 100);
    times.push(t);
  }
  const v = times.map(() => 50 + g());
  v[2500] += 15;
  const s = run(new UnivariateDetector('x'), v, times);
  assert.ok(alarmRate(s, 100, 2500) < 0.005);
  assert.equal(s[1500].reason.kind, 'gap');
  assert.ok(s[2500].value >= 0.5);
});

test('a point at or before the previous time, or a non-finite value, is ignored', () => {
  const det = new UnivariateDetector('x', { warmup: 5 });
  run(det, noise(50, 7));
  const before = det.update(T0 + 49 * MIN, 1e9);
  assert.equal(before.ready, false);
  assert.equal(before.reason.kind, 'gap');
  assert.equal(det.update(T0 + 50 * MIN, NaN).ready, false);
  const next = det.update(T0 + 51 * MIN, 100);
  assert.equal(next.ready, true);
  assert.ok(next.value < 0.5);
});

test('counter reset is explained, not an anomaly; a rate burst is', () => {
  const g = gauss(8);
  let c = 1000;
  const v: number[] = [];
  for (let i = 0; i < 2000; i++) {
    c = i === 1200 ? 3 : c + 100 + 5 * g() + (i === 1700 ? 1000 : 0);
    v.push(c);
  }
  const det = new UnivariateDetector('requests_total');
  const s = run(det, v);
  assert.equal(det.isCounter, true);
  assert.equal(s[1200].reason.kind, 'counter-reset');
  assert.equal(s[1200].value, 0);
  assert.ok(alarmRate(s, 100, 1700) < 0.005, `rate ${alarmRate(s, 100, 1700)}`);
  assert.ok(s[1700].value >= 0.5);
  assert.ok(Math.abs(s[1700].reason.observed - 1100) < 30, 'scores the rate');
});

test('a gauge that rises during warm-up and then falls is not treated as a counter', () => {
  const det = new UnivariateDetector('x', { warmup: 10 });
  const v = [...Array.from({ length: 10 }, (_, i) => 10 + i), ...noise(500, 9, 15, 0.5)];
  const s = run(det, v);
  assert.equal(det.isCounter, false);
  assert.ok(alarmRate(s, 200, 510) < 0.01);
});

test('constant stretches: scores stay finite in [0, 1] and noise afterwards is not flagged', () => {
  const v = [...noise(600, 10), ...Array(600).fill(100), ...noise(600, 11)];
  const s = run(new UnivariateDetector('x'), v);
  for (const x of s) assert.ok(Number.isFinite(x.value) && x.value >= 0 && x.value <= 1);
  assert.ok(alarmRate(s, 1200, 1800) < 0.01, `rate ${alarmRate(s, 1200, 1800)}`);

  const flat = run(new UnivariateDetector('y'), [...Array(500).fill(0), 1, 0, 0]);
  for (const x of flat) assert.ok(Number.isFinite(x.value) && Number.isFinite(x.reason.deviation));
  assert.ok(flat[499].value < 0.5);
  assert.ok(flat[500].value >= 0.5, 'a constant series that moves is anomalous');
});

test('same-sized spikes on a flat base: a rise in their rate alarms (the scale floor is a fraction of the value step)', () => {
  const v = Array.from({ length: 3000 }, (_, i) => (i < 2000 ? (i % 50 === 0 ? 10 : 0) : i % 4 === 0 ? 10 : 0));
  const times = v.map((_, i) => T0 + i * MIN);
  const s = run(new UnivariateDetector('x', { season: null }), v, times);
  assert.equal(alarmRate(s, 100, 2000), 0, 'the routine spike every 50 points is not an incident');
  const first = s.findIndex((x, i) => i >= 2000 && x.value >= 0.5);
  assert.ok(first >= 2000 && first < 2040, `the denser spikes alarm early (at ${first})`);
  // With a floor of a whole step each spike is one scale, and the change is never seen.
  const whole = run(new UnivariateDetector('x', { season: null, stepFloor: 1 }), v, times);
  assert.equal(alarmRate(whole, 2000, 3000), 0);
});

test('zToScore is monotone, 0.5 at z50, bounded', () => {
  assert.equal(zToScore(0, 6, 3), 0);
  assert.equal(zToScore(6, 6, 3), 0.5);
  assert.ok(zToScore(5, 6, 3) < zToScore(7, 6, 3));
  assert.equal(zToScore(Infinity, 6, 3), 1);
  assert.equal(zToScore(NaN, 6, 3), 0);
});

test('bad configuration is rejected naming the knob', () => {
  assert.throws(() => new UnivariateDetector('x', { warmup: 1 }), /warmup/);
  assert.throws(() => new UnivariateDetector('x', { levelHalfLife: -1 }), /levelHalfLife/);
  assert.throws(() => new UnivariateDetector('x', { season: { periodMs: 0, buckets: 24, halfLifePeriods: 3 } }), /season/);
  assert.throws(() => new UnivariateDetector('x', { cusumCap: 0 }), /cusumCap/);
  assert.throws(() => new UnivariateDetector('x', { stepFloor: -0.5 }), /stepFloor/);
  assert.throws(() => new UnivariateDetector('x', { transform: 'log' as 'none' }), /transform/);
});

/** A count series at 5-min steps: busy (mean 400) in the first half of each day, quiet (mean 4) in the second, Poisson-like noise. */
function countSeries(days: number, seed: number): number[] {
  const g = gauss(seed);
  return Array.from({ length: days * 288 }, (_, i) => {
    const mean = i % 288 < 144 ? 400 : 4;
    return Math.max(0, Math.round(mean + Math.sqrt(mean) * g()));
  });
}

test('counts: on the square-root scale busy-hour noise is routine, a burst in a quiet hour is not', () => {
  const v = countSeries(8, 31);
  const burst = 7 * 288 + 200; // a quiet hour of the last day
  for (let k = 0; k < 3; k++) v[burst + k] = 200; // half the busy level, in a quiet hour
  const s = run(new UnivariateDetector('x'), v, v.map((_, i) => T0 + i * 300_000));
  assert.equal(alarmRate(s, 2 * 288, burst), 0, 'no alarm on routine noise after the first two days');
  assert.ok(s.slice(burst, burst + 3).some((x) => x.value >= 0.5), 'the burst alarms');
  // expected and observed are in the series' own units, not on the square-root scale
  assert.equal(s[burst].reason.observed, 200);
  assert.ok(s[burst].reason.expected > 1 && s[burst].reason.expected < 10, `expected ${s[burst].reason.expected}`);
});

test('hourly series: the cooldown lasts at most cooldownMs (two days), so a second incident days later alarms', () => {
  const g = gauss(32);
  const v = Array.from({ length: 900 }, () => 100 + g());
  v[600] += 20;
  v[700] += 20; // 100 hours later: within 300 points, but past two days
  const s = run(new UnivariateDetector('x', { season: null }), v, v.map((_, i) => T0 + i * 3_600_000));
  assert.ok(s[600].value >= 0.5 && s[700].value >= 0.5, `scores ${s[600].value} ${s[700].value}`);
});

test('one alarm per episode: a lasting shift alarms once, then is absorbed; the series re-arms afterwards', () => {
  const v = noise(3000, 11).map((x, i) => (i >= 1600 ? x + 8 : x));
  v[2600] += 25;
  const s = run(new UnivariateDetector('x'), v);
  const alarms = s.map((x, i) => (x.value >= 0.5 ? i : -1)).filter((i) => i >= 100);
  assert.equal(alarms[0] >= 1600 && alarms[0] < 1610, true, `alarms ${alarms}`);
  // the shift is one incident: no second alarm while it lasts; the spike long after is a new one
  assert.deepEqual(alarms, [alarms[0], 2600]);
});

test('within the cooldown a burst of the same size does not alarm again; a much worse one does', () => {
  const v = noise(2400, 12);
  v[1500] += 8;
  v[1600] += 8;
  v[1700] += 40;
  const s = run(new UnivariateDetector('x'), v);
  assert.ok(s[1500].value >= 0.5);
  assert.ok(s[1600].value < 0.5, `repeat scored ${s[1600].value}`);
  assert.ok(s[1700].value >= 0.5, `escalation scored ${s[1700].value}`);
});

test('without the alarm stage (alarm: null) the fixed z map scores every point', () => {
  const v = noise(2000, 13);
  v[1500] += 12;
  v[1510] += 12;
  const s = run(new UnivariateDetector('x', { alarm: null }), v);
  assert.ok(s[1500].value >= 0.5 && s[1510].value >= 0.5);
});
