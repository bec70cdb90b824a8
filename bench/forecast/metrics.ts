/** M4 accuracy measures (sMAPE, MASE, MSIS, coverage) and the Naive2 reference, for the benchmarks. */
import { centredMovingAverage, isSeasonal } from '../../src/forecast/decompose.js';

/** Per-series errors of one forecast against the truth. */
export interface SeriesScore {
  smape: number;
  mase: number;
  msis: number;
  inside: number;
  count: number;
}

/** In-sample seasonal-naive MAE with period m (M4's MASE scale). */
export function maseScale(train: ArrayLike<number>, m: number): number {
  let s = 0;
  for (let t = m; t < train.length; t++) s += Math.abs(train[t] - train[t - m]);
  return s / (train.length - m);
}

/** Scores one forecast; lo95/hi95 may be omitted (then msis/inside are NaN/0). */
export function scoreSeries(train: ArrayLike<number>, truth: number[], mean: number[], m: number, lo?: number[], hi?: number[]): SeriesScore {
  const scale = maseScale(train, m);
  let s = 0, a = 0, is = 0, inside = 0;
  const H = truth.length;
  for (let h = 0; h < H; h++) {
    const y = truth[h], f = mean[h];
    s += (2 * Math.abs(y - f)) / (Math.abs(y) + Math.abs(f));
    a += Math.abs(y - f);
    if (lo && hi) {
      is += hi[h] - lo[h] + (y < lo[h] ? 40 * (lo[h] - y) : 0) + (y > hi[h] ? 40 * (y - hi[h]) : 0);
      if (y >= lo[h] && y <= hi[h]) inside++;
    }
  }
  return { smape: (100 * s) / H, mase: a / H / scale, msis: lo ? is / H / scale : NaN, inside, count: H };
}

/** Naive2: naive on the series seasonally adjusted by classical multiplicative decomposition when M4's test finds season m. */
export function naive2(train: ArrayLike<number>, m: number, h: number): number[] {
  const n = train.length;
  let idx = new Float64Array(m).fill(1);
  if (isSeasonal(train, m)) {
    const trend = centredMovingAverage(train, m);
    const sums = new Float64Array(m), counts = new Float64Array(m);
    const half = Math.floor(m / 2);
    for (let t = half; t + half < n; t++) {
      sums[t % m] += train[t] / trend[t];
      counts[t % m]++;
    }
    idx = sums.map((v, j) => v / counts[j]);
    const c = idx.reduce((a, b) => a + b, 0) / m;
    idx = idx.map((v) => v / c);
  }
  const last = train[n - 1] / idx[(n - 1) % m];
  return Array.from({ length: h }, (_, i) => last * idx[(n + i) % m]);
}

/** Averages a list of series scores into the table figures, with OWA relative to a reference. */
export function summarise(
  scores: SeriesScore[], ref?: { smape: number; mase: number },
): { smape: number; mase: number; owa: number; msis: number; coverage: number } {
  const n = scores.length;
  const smape = scores.reduce((a, s) => a + s.smape, 0) / n;
  const mase = scores.reduce((a, s) => a + s.mase, 0) / n;
  const msis = scores.reduce((a, s) => a + s.msis, 0) / n;
  const coverage = (100 * scores.reduce((a, s) => a + s.inside, 0)) / scores.reduce((a, s) => a + s.count, 0);
  const owa = ref ? (smape / ref.smape + mase / ref.mase) / 2 : NaN;
  return { smape, mase, owa, msis, coverage };
}
