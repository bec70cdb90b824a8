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
