import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RiskScorer, normalCdf } from '../../src/detect/risk.js';
import { gauss, MIN, T0 } from './synth.js';

const SIGNALS = ['disk_used', 'cpu'];
const LIMITS = [{ signal: 'disk_used', limit: 0.95, direction: 'above' as const }];

test('risk rises ahead of a saturating trend and names the driver with a time to the limit', () => {
  const g = gauss(1);
  const r = new RiskScorer('db-1', SIGNALS, { limits: LIMITS, horizonMs: 60 * MIN });
  // Flat at 0.5 for 6 h, then filling by 0.001 per minute: reaches 0.95 at minute 360 + 450.
  let firstHigh = -1;
  let flatMax = 0;
  for (let i = 0; i < 900; i++) {
    const disk = (i < 360 ? 0.5 : 0.5 + 0.001 * (i - 360)) + 0.002 * g();
    const s = r.update(T0 + i * MIN, [disk, 0.3], 0);
    if (i > 60 && i < 360) flatMax = Math.max(flatMax, s.probability);
    if (firstHigh < 0 && s.probability >= 0.5) {
      firstHigh = i;
      assert.equal(s.drivers[0].signal, 'disk_used');
      const ttl = s.drivers[0].timeToLimitMs!;
      assert.ok(ttl > 0, 'still before the limit');
      // The extrapolated time matches the true remaining time within 40 %.
      const truth = (810 - i) * MIN;
      assert.ok(Math.abs(ttl - truth) < 0.4 * truth, `ttl ${ttl / MIN} min vs ${truth / MIN}`);
      assert.match(s.drivers[0].detail, /disk_used reaches 0.95/);
    }
  }
  assert.ok(flatMax < 0.05, `flat risk ${flatMax}`);
  assert.ok(firstHigh > 360 && firstHigh < 810, `risk reached 0.5 at minute ${firstHigh}`);
  assert.ok(810 - firstHigh >= 30, 'at least 30 min of warning');
});

test('past the limit the risk is 1', () => {
  const r = new RiskScorer('db-1', SIGNALS, { limits: LIMITS });
  let last = null;
  for (let i = 0; i < 20; i++) last = r.update(T0 + i * MIN, [0.97, 0.3], 0);
  assert.equal(last!.probability, 1);
  assert.match(last!.drivers[0].detail, /past its limit/);
});

test('a sudden jump past the limit is a breach at once, though the fitted trend still lags below it', () => {
  const r = new RiskScorer('db-1', SIGNALS, { limits: LIMITS });
  for (let i = 0; i < 120; i++) r.update(T0 + i * MIN, [0.5, 0.3], 0);
  const jumped = r.update(T0 + 120 * MIN, [0.99, 0.3], 0);
  assert.equal(jumped.probability, 1);
  assert.match(jumped.drivers[0].detail, /past its limit/);
  const back = r.update(T0 + 121 * MIN, [0.5, 0.3], 0);
  assert.ok(back.probability < 1, 'back below the limit, the trend decides again');
});

test('persistent, severe anomalies raise the risk; a single spike barely does', () => {
  const a = new RiskScorer('svc', SIGNALS, { limits: [] });
  let s = a.update(T0, [0.5, 0.3], 0);
  for (let i = 1; i < 30; i++) s = a.update(T0 + i * MIN, [0.5, 0.3], i === 10 ? 1 : 0);
  assert.ok(s.probability < 0.05, `after a spike ${s.probability}`);
  for (let i = 30; i < 90; i++) s = a.update(T0 + i * MIN, [0.5, 0.3], 0.9);
  assert.ok(s.probability > 0.6, `persistent ${s.probability}`);
  assert.equal(s.drivers[0].signal, 'anomaly');
  assert.equal(s.ready, true);
});

test('bad configuration is rejected', () => {
  assert.throws(() => new RiskScorer('c', SIGNALS, { limits: [{ signal: 'nope', limit: 1, direction: 'above' }] }), /unknown signal/);
  assert.throws(() => new RiskScorer('c', SIGNALS, { limits: [], horizonMs: 0 }), /horizonMs/);
  assert.throws(() => new RiskScorer('c', SIGNALS, { limits: [], anomalyThreshold: 2 }), /anomalyThreshold/);
});

test('normalCdf is accurate', () => {
  assert.ok(Math.abs(normalCdf(0) - 0.5) < 1e-7);
  assert.ok(Math.abs(normalCdf(1.96) - 0.975) < 1e-4);
  assert.ok(Math.abs(normalCdf(-1.96) - 0.025) < 1e-4);
});

// Four limits of one component, as a target's risk settings declare them (metric and request-statistic signals).
const KINDS = ['disk_used_ratio', 'cpu_utilisation', 'requests.p99', 'requests.errorRate'];
const KIND_LIMITS = [
  { signal: 'disk_used_ratio', limit: 0.95, direction: 'above' as const },
  { signal: 'cpu_utilisation', limit: 0.98, direction: 'above' as const },
  { signal: 'requests.p99', limit: 250, direction: 'above' as const },
  { signal: 'requests.errorRate', limit: 0.05, direction: 'above' as const },
];
// Flat level and noise of each signal, and a trend that crosses its limit at minute 300 after starting at 120.
const FLAT = [0.6, 0.3, 80, 0.002];
const NOISE = [0.003, 0.02, 6, 0.0008];

for (const [k, signal] of KINDS.entries()) {
  test(`a trend toward the ${signal} limit drives the risk, names the limit and when it is crossed; the other limits do not`, () => {
    const g = gauss(10 + k);
    const r = new RiskScorer('svc', KINDS, { limits: KIND_LIMITS, horizonMs: 60 * MIN });
    const slope = (KIND_LIMITS[k].limit - FLAT[k]) / 180; // per minute, from minute 120 to the crossing at 300
    let warned: { at: number; crossAt: number } | undefined;
    for (let i = 0; i < 300; i++) {
      const values = FLAT.map((f, j) => f + (j === k && i >= 120 ? slope * (i - 120) : 0) + NOISE[j] * g());
      const s = r.update(T0 + i * MIN, values, 0);
      if (i > 60 && i < 120) assert.equal(s.limit, null, `minute ${i}: no limit approached while flat (${JSON.stringify(s.limit)})`);
      if (i > 60) for (const d of s.drivers) if (d.signal !== signal) assert.ok(d.probability < 0.05, `minute ${i}: ${d.signal}, not approached, has ${d.probability}`);
      if (!warned && s.ready && s.probability >= 0.5) {
        assert.equal(s.limit?.signal, signal);
        assert.equal(s.limit?.limit, KIND_LIMITS[k].limit);
        assert.equal(s.limit?.direction, 'above');
        assert.ok(s.limit?.crossAt !== undefined && s.limit.crossAt === s.t + s.limit.timeToLimitMs!);
        assert.ok(Math.abs(s.limit!.value! - (FLAT[k] + slope * (i - 120))) < 0.1 * (KIND_LIMITS[k].limit - FLAT[k]), 'the fitted value is the current level');
        warned = { at: i, crossAt: s.limit.crossAt };
      }
    }
    assert.ok(warned, 'the risk reached 0.5 before the crossing');
    const truth = T0 + 300 * MIN;
    assert.ok(warned.at <= 280, `at least 20 min of warning (warned at minute ${warned.at})`);
    assert.ok(Math.abs(warned.crossAt - truth) < 0.4 * (truth - (T0 + warned.at * MIN)), `forecast crossing ${(warned.crossAt - truth) / MIN} min off`);
  });
}

test('a lower limit (free space falling) is approached from above; a limit that is not approached never drives', () => {
  const g = gauss(7);
  const r = new RiskScorer('db', ['free_gb', 'cpu'], { limits: [{ signal: 'free_gb', limit: 10, direction: 'below' }, { signal: 'cpu', limit: 0.98, direction: 'above' }], horizonMs: 60 * MIN });
  let s = r.update(T0, [100, 0.3], 0);
  // free space drops 0.5 GB per minute from 100: reaches 10 at minute 180; cpu stays at 0.3 with noise.
  for (let i = 1; i < 170; i++) s = r.update(T0 + i * MIN, [100 - 0.5 * i + 0.2 * g(), 0.3 + 0.02 * g()], 0);
  assert.equal(s.limit?.signal, 'free_gb');
  assert.equal(s.limit?.direction, 'below');
  assert.ok(Math.abs(s.limit!.crossAt! - (T0 + 180 * MIN)) < 3 * MIN, `crossing forecast at minute ${(s.limit!.crossAt! - T0) / MIN}`);
  assert.match(s.limit!.detail, /free_gb reaches 10 \(its min\) in ~\d+ min/);
  assert.ok(!s.drivers.some((d) => d.signal === 'cpu'), 'cpu, far from its limit, is no driver');
});
