/**
 * Single-core throughput of the detectors (points per second), median of 5 runs after a warm-up
 * run. Univariate: `update()` (the public API, allocating a Score with its reason) and `step()`
 * (score only), on a seasonal noisy series at 1-min steps with occasional spikes. Component: rows
 * of 38 metrics (SMD width) per second, with and without the subspace model. A trivial
 * "z against running mean" loop is measured in the same run as a floor for comparison.
 *
 * Run: npx tsx bench/detect/throughput.ts   (or node dist/bench/detect/throughput.js after a build)
 */
import { UnivariateDetector } from '../../src/detect/univariate.js';
import { ComponentDetector } from '../../src/detect/component.js';
import { mulberry32 } from '../../src/core/random.js';

const N = 2_000_000;
const rnd = mulberry32(1);
const values = new Float64Array(N);
for (let i = 0; i < N; i++) {
  values[i] = 100 + 10 * Math.sin((2 * Math.PI * i) / 1440) + (rnd() - 0.5) * 4 + (rnd() < 0.001 ? 30 : 0);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

function measure(name: string, unit: string, points: number, fn: () => number): number {
  fn();
  const rates: number[] = [];
  let sink = 0;
  for (let r = 0; r < 5; r++) {
    const start = process.hrtime.bigint();
    sink += fn();
    rates.push(points / (Number(process.hrtime.bigint() - start) / 1e9));
  }
  const m = median(rates);
  console.log(`| ${name} | ${Math.round(m).toLocaleString('en-US')} ${unit}/s | min ${Math.round(Math.min(...rates)).toLocaleString('en-US')} | max ${Math.round(Math.max(...rates)).toLocaleString('en-US')} |${sink === -1 ? ' ' : ''}`);
  return m;
}

console.log('| detector | median | | |');
console.log('|---|---|---|---|');
const uniUpdate = measure('univariate update() (Score object)', 'points', N, () => {
  const d = new UnivariateDetector('x', { stepMs: 60_000 });
  let s = 0;
  for (let i = 0; i < N; i++) s += d.update(i * 60_000, values[i]).value;
  return s;
});
measure('univariate step() (score only)', 'points', N, () => {
  const d = new UnivariateDetector('x', { stepMs: 60_000 });
  let s = 0;
  for (let i = 0; i < N; i++) s += d.step(i * 60_000, values[i]);
  return s;
});
measure('floor: abs(x - EW mean) / EW MAD, no seasonality', 'points', N, () => {
  let m = values[0], sd = 1, s = 0;
  for (let i = 0; i < N; i++) {
    const r = values[i] - m;
    s += Math.abs(r) / sd;
    m += 0.001 * r;
    sd += 0.001 * (Math.abs(r) - sd);
  }
  return s;
});
const D = 38, ROWS = 100_000;
const rows = Array.from({ length: ROWS }, (_, i) => Float64Array.from({ length: D }, (_, j) => values[(i * 7 + j * 1013) % N]));
for (const [label, cfg] of [
  ['component, 38 metrics, with subspace', {}],
  ['component, 38 metrics, per-metric only', { subspace: null }],
] as const) {
  measure(label, 'rows', ROWS, () => {
    const c = new ComponentDetector('m', Array.from({ length: D }, (_, j) => `m${j}`), cfg);
    let s = 0;
    for (let i = 0; i < ROWS; i++) s += c.step(i * 60_000, rows[i]);
    return s;
  });
}
console.log(`\nunivariate target 1,000,000 points/s: ${uniUpdate >= 1e6 ? 'met' : 'MISSED'} (${Math.round(uniUpdate).toLocaleString('en-US')})`);
