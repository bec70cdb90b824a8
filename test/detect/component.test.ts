import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ComponentDetector } from '../../src/detect/component.js';
import { SubspaceModel, symmetricEigen } from '../../src/detect/subspace.js';
import { gauss, MIN, T0 } from './synth.js';

const SIGNALS = ['cpu', 'mem', 'disk', 'net', 'latency'];

function rows(n: number, seed: number): number[][] {
  const g = gauss(seed);
  return Array.from({ length: n }, () => {
    const load = g();
    // cpu, net and latency follow one shared load factor; mem and disk are independent.
    return [50 + 5 * load + g(), 30 + g(), 70 + g(), 20 + 3 * load + g(), 100 + 8 * load + g()];
  });
}

test('attribution ranks the metrics that carry the anomaly first', () => {
  const det = new ComponentDetector('db-1', SIGNALS);
  const data = rows(3000, 1);
  data[2500][1] += 15;
  data[2500][3] += 12;
  let last = null;
  for (let i = 0; i < data.length; i++) {
    const s = det.update(T0 + i * MIN, data[i]);
    if (i === 2500) last = s;
    else if (i > 1000) assert.ok(s.value < 0.9, `row ${i} scored ${s.value}`);
  }
  assert.ok(last && last.ready && last.value >= 0.5);
  assert.deepEqual(new Set(last.drivers.slice(0, 2).map((d) => d.signal)), new Set(['mem', 'net']));
  assert.equal(last.reason.kind, 'multivariate');
});

test('a break of the usual correlation is scored by the subspace model', () => {
  const sub = new SubspaceModel(5, { warmup: 500, refresh: 500 });
  const data = rows(3000, 2);
  let normalMax = 0;
  for (let i = 0; i < 2999; i++) {
    const z = sub.step(data[i]);
    if (i > 1500) normalMax = Math.max(normalMax, z);
  }
  // cpu high while net and latency stay normal: each value is plausible alone, the mix is not.
  const broken = [...data[2999]];
  broken[0] = 50 + 12;
  broken[3] = 20 - 7;
  const z = sub.step(broken, false);
  assert.ok(z > 2 * normalMax, `broken ${z} vs normal max ${normalMax}`);
  const top = Array.from(sub.residual.keys()).sort((a, b) => sub.residual[b] - sub.residual[a]).slice(0, 2);
  assert.deepEqual(new Set(top), new Set([0, 3]));
});

test('a lasting new correlation is learned at least as fast as an average: warm-up points do not outweigh the rest', () => {
  // Very long memory: the model should then average over everything seen, not freeze at its
  // warm-up estimate.
  const sub = new SubspaceModel(5, { warmup: 100, refresh: 100, halfLife: 1e6 });
  const data = rows(6000, 4);
  const recent: number[] = [];
  for (let i = 0; i < data.length; i++) {
    // From row 200 on, cpu runs 10 above what the shared load factor explains, for good.
    const row = i < 200 ? data[i] : [data[i][0] + 10, ...data[i].slice(1)];
    const z = sub.step(row);
    if (i >= 5500) recent.push(z);
  }
  recent.sort((a, b) => a - b);
  const median = recent[recent.length >> 1];
  assert.ok(median < 2, `median z of the new regime after 5800 rows: ${median}`);
});

test('symmetricEigen recovers a known decomposition', () => {
  const { values, vectors } = symmetricEigen([Float64Array.of(2, 1), Float64Array.of(1, 2)]);
  assert.ok(Math.abs(values[0] - 3) < 1e-9 && Math.abs(values[1] - 1) < 1e-9);
  assert.ok(Math.abs(Math.abs(vectors[0][0]) - Math.SQRT1_2) < 1e-9);
});

test('one missing metric does not stop the others', () => {
  const det = new ComponentDetector('svc', ['a', 'b'], { univariate: { warmup: 5 } });
  const g = gauss(3);
  for (let i = 0; i < 200; i++) det.step(T0 + i * MIN, [10 + g(), 20 + g()]);
  const s = det.update(T0 + 200 * MIN, [NaN, 40]);
  assert.equal(s.ready, true);
  assert.equal(s.drivers[0].signal, 'b');
});

test('bad input and config are rejected', () => {
  assert.throws(() => new ComponentDetector('c', []), RangeError);
  assert.throws(() => new ComponentDetector('c', ['a', 'a']), /unique/);
  assert.throws(() => new ComponentDetector('c', ['a'], { topK: 0 }), /topK/);
  assert.throws(() => new ComponentDetector('c', ['a'], { univariate: { clip: 0 } }), /clip/);
  assert.throws(() => new SubspaceModel(3, { variance: 2 }), /variance/);
  const det = new ComponentDetector('c', ['a', 'b']);
  assert.throws(() => det.step(0, [1]), /expected 2 values/);
});

test('one signal: the component is its univariate detector (one alarm per episode); the ungated score follows the whole episode', () => {
  const g = gauss(21);
  const c = new ComponentDetector('svc', ['latency']);
  const scores: number[] = [];
  const ungated: number[] = [];
  for (let i = 0; i < 2000; i++) {
    scores.push(c.step(T0 + i * MIN, [100 + g() + (i >= 1500 ? 10 : 0)]));
    ungated.push(c.ungatedScore);
  }
  const alarms = scores.map((s, i) => (s >= 0.5 ? i : -1)).filter((i) => i >= 1500);
  assert.equal(alarms.length, 1, `alarms ${alarms}`);
  assert.ok(alarms[0] < 1510);
  assert.ok(ungated.slice(alarms[0], alarms[0] + 20).every((s) => s >= 0.5), 'the episode goes on in the ungated score');
});
