import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TailCalibrator } from '../../src/detect/calibrate.js';
import { ComponentDetector } from '../../src/detect/component.js';
import { gauss, rng, MIN, T0 } from './synth.js';

/** Exponential(1) samples: P(Z >= z) = exp(-z), known exactly. */
function exponential(seed: number): () => number {
  const u = rng(seed);
  return () => -Math.log(1 - u());
}

test('not ready during warm-up (discarded settling, then history): probability 1, score 0', () => {
  const c = new TailCalibrator({ warmup: 50 });
  for (let i = 0; i < 100; i++) {
    assert.equal(c.step(i === 10 ? 1e6 : 1), 1);
    assert.equal(c.ready, false);
    assert.equal(c.score, 0);
  }
  c.step(1);
  assert.equal(c.ready, true);
});

test('tail probabilities match a known distribution, inside the history and beyond it (tail fit)', () => {
  const c = new TailCalibrator({ halfLife: 1e9 });
  const x = exponential(7);
  for (let i = 0; i < 50_000; i++) c.step(x());
  const probe = (z: number): number => {
    // Probe without learning: a fresh copy would cost a second history, so compare before/after.
    const p = c.step(z);
    return p;
  };
  // Inside the body of the histogram (empirical part): within 20 % of exp(-z).
  for (const z of [0.5, 1, 2, 3]) {
    const p = probe(z);
    assert.ok(Math.abs(p / Math.exp(-z) - 1) < 0.2, `P(Z >= ${z}) = ${p}, want ${Math.exp(-z)}`);
  }
  // 1 % level (p50 by default): the score there is about 0.5.
  assert.ok(Math.abs(probe(Math.log(100)) / 0.01 - 1) < 0.3);
  assert.ok(Math.abs(c.score - 0.5) < 0.05, `score at the 1 % level ${c.score}`);
  // Beyond every sample (tail fit): 1e-6 is not seen in 50,000 points; within a factor of 10.
  const far = probe(Math.log(1e6));
  assert.ok(far > 1e-7 && far < 1e-5, `P(Z >= ln 1e6) = ${far}`);
});

test('values beyond anything seen keep distinct, increasing scores (no tie at 1)', () => {
  const c = new TailCalibrator({ warmup: 100 });
  const g = gauss(3);
  for (let i = 0; i < 5000; i++) c.step(Math.abs(g()));
  const scores = [10, 30, 100, 1e3, 1e5].map((z) => {
    c.step(z);
    return c.surpriseLog10;
  });
  for (let i = 1; i < scores.length; i++) assert.ok(scores[i] > scores[i - 1], `surprise not increasing: ${scores.join(', ')}`);
  assert.ok(Number.isFinite(scores[scores.length - 1]));
});

test('an anomaly of a few hundred points keeps alarming; a lasting change of regime is learned and stops alarming', () => {
  const x = exponential(11);
  const long = new TailCalibrator();
  for (let i = 0; i < 20_000; i++) long.step(x());
  let low = 0;
  for (let i = 0; i < 150; i++) {
    long.step(20 + x());
    if (long.score < 0.5) low++;
  }
  assert.equal(low, 0, 'every point of a 150-point anomaly stays at or above 0.5');

  const regime = new TailCalibrator({ warmup: 200, halfLife: 500 });
  for (let i = 0; i < 3000; i++) regime.step(x());
  let late = 0;
  for (let i = 0; i < 6000; i++) {
    regime.step(3 * x());
    if (i >= 5000 && regime.score >= 0.5) late++;
  }
  assert.ok(late < 50, `${late} alarms in the last 1000 points of the new regime`);
});

test('bad calibration config names the knob', () => {
  assert.throws(() => new TailCalibrator({ warmup: 1 }), /warmup/);
  assert.throws(() => new TailCalibrator({ halfLife: 0 }), /halfLife/);
  assert.throws(() => new TailCalibrator({ tailQuantile: 1 }), /tailQuantile/);
  assert.throws(() => new TailCalibrator({ p50: 0 }), /p50/);
  assert.throws(() => new TailCalibrator({ power: -1 }), /power/);
  assert.throws(() => new TailCalibrator({ alarmClip: 0.5 }), /alarmClip/);
  assert.throws(() => new ComponentDetector('c', ['a'], { calibration: { p50: 2 } }), /p50/);
});

test('one threshold means the same alarm rate on components of very different noise', () => {
  // A calm component (3 Gaussian metrics) and a rough one (38 metrics of Student-t noise with 2
  // degrees of freedom, so some metric is far out most of the time): with the fixed z map their
  // shares of points >= 0.5 differ by orders of magnitude; calibrated, both are near the 1 % that
  // p50 promises.
  const rates = (calibration: object | null): number[] =>
    [0, 1].map((rough) => {
      const d = rough ? 38 : 3;
      const det = new ComponentDetector('c', Array.from({ length: d }, (_, j) => `m${j}`), { calibration, subspace: null });
      const g = gauss(5 + rough);
      const t2 = (): number => g() / Math.sqrt((g() ** 2 + g() ** 2) / 2);
      let alarms = 0, n = 0;
      for (let i = 0; i < 12_000; i++) {
        const s = det.step(T0 + i * MIN, Array.from({ length: d }, () => 10 + (rough ? t2() : g())));
        if (i >= 4000) {
          n++;
          if (s >= 0.5) alarms++;
        }
      }
      return alarms / n;
    });
  const [calmRaw, roughRaw] = rates(null);
  assert.ok(roughRaw > 0.05 && calmRaw < 0.005, `uncalibrated rates ${calmRaw} vs ${roughRaw}`);
  for (const r of rates({})) assert.ok(r > 0.002 && r < 0.03, `calibrated alarm rate ${r}`);
});

test('a component uses the fixed z map until its calibrator is ready, then the calibrated one', () => {
  const det = new ComponentDetector('c', ['a', 'b'], { subspace: null, calibration: { warmup: 100 } });
  const g = gauss(9);
  const seen: boolean[] = [];
  for (let i = 0; i < 400; i++) {
    det.step(T0 + i * MIN, [10 + g(), 20 + g()]);
    seen.push(det.calibrated);
  }
  // 30 points of metric warm-up, then 100 discarded and 100 collected.
  assert.equal(seen.indexOf(true), 30 + 200);
  assert.ok(seen.slice(230).every(Boolean));
  assert.ok(det.tailProbability > 0 && det.tailProbability <= 1);
  const off = new ComponentDetector('c', ['a', 'b'], { subspace: null, calibration: null });
  for (let i = 0; i < 400; i++) off.step(T0 + i * MIN, [10 + g(), 20 + g()]);
  assert.equal(off.calibrated, false);
});
