/**
 * TypeScript ports of the smd-baselines script (baselines.py), run on the same rows as the
 * detector: random scores, max z-score against the training data, PCA reconstruction error
 * (components covering 95 % of training variance); and, not in the script, the distance to the
 * nearest training row (a simple baseline Sarfraz et al., ICML 2024, find on par with deep
 * detectors). Each returns train and test scores plus, for attribution, the per-metric
 * contribution at a test row.
 */
import { symmetricEigen } from '../../src/detect/subspace.js';
import { mulberry32 } from '../../src/core/random.js';

/** Scores of one baseline on the train and test part, and a per-metric attribution. */
export interface BaselineScores {
  readonly name: string;
  readonly train: Float64Array;
  readonly test: Float64Array;
  readonly attribution?: (row: number, out: Float64Array) => void;
}

/** i.i.d. uniform scores, seed 0. */
export function randomBaseline(train: Float64Array[], test: Float64Array[]): BaselineScores {
  const rnd = mulberry32(0);
  return { name: 'random', train: Float64Array.from(train, () => rnd()), test: Float64Array.from(test, () => rnd()) };
}

function meanStd(rows: Float64Array[]): { mu: Float64Array; sd: Float64Array } {
  const d = rows[0].length;
  const mu = new Float64Array(d), sd = new Float64Array(d);
  for (const r of rows) for (let j = 0; j < d; j++) mu[j] += r[j];
  for (let j = 0; j < d; j++) mu[j] /= rows.length;
  for (const r of rows) for (let j = 0; j < d; j++) sd[j] += (r[j] - mu[j]) ** 2;
  for (let j = 0; j < d; j++) sd[j] = Math.sqrt(sd[j] / rows.length);
  return { mu, sd };
}

/** max_d |x_d - mean_d| / (std_d + 1e-3), mean/std from the train split. */
export function zmaxBaseline(train: Float64Array[], test: Float64Array[]): BaselineScores {
  const { mu, sd } = meanStd(train);
  const score = (rows: Float64Array[]): Float64Array =>
    Float64Array.from(rows, (r) => {
      let m = 0;
      for (let j = 0; j < r.length; j++) m = Math.max(m, Math.abs((r[j] - mu[j]) / (sd[j] + 1e-3)));
      return m;
    });
  return {
    name: 'max-z',
    train: score(train),
    test: score(test),
    attribution: (row, out) => {
      const r = test[row];
      for (let j = 0; j < r.length; j++) out[j] = Math.abs((r[j] - mu[j]) / (sd[j] + 1e-3));
    },
  };
}

/** Squared reconstruction error outside the top-k principal components of the train split (95 % variance). */
export function pcaBaseline(train: Float64Array[], test: Float64Array[]): BaselineScores {
  const d = train[0].length;
  const { mu } = meanStd(train);
  const cov = Array.from({ length: d }, () => new Float64Array(d));
  const c = new Float64Array(d);
  for (const r of train) {
    for (let j = 0; j < d; j++) c[j] = r[j] - mu[j];
    for (let i = 0; i < d; i++) for (let j = i; j < d; j++) cov[i][j] += c[i] * c[j];
  }
  for (let i = 0; i < d; i++) for (let j = 0; j < i; j++) cov[i][j] = cov[j][i];
  const { values, vectors } = symmetricEigen(cov);
  const total = values.reduce((s, x) => s + Math.max(x, 0), 0);
  let k = 0, cum = 0;
  while (k < d) {
    cum += Math.max(values[k], 0);
    k++;
    if (cum / total >= 0.95) break;
  }
  const p = vectors.slice(0, k);
  const residual = (r: Float64Array, out: Float64Array): void => {
    for (let j = 0; j < d; j++) out[j] = r[j] - mu[j];
    const proj = p.map((v) => v.reduce((s, x, j) => s + x * out[j], 0));
    for (let i = 0; i < k; i++) for (let j = 0; j < d; j++) out[j] -= proj[i] * p[i][j];
  };
  const buf = new Float64Array(d);
  const score = (rows: Float64Array[]): Float64Array =>
    Float64Array.from(rows, (r) => {
      residual(r, buf);
      return buf.reduce((s, x) => s + x * x, 0);
    });
  return {
    name: 'pca',
    train: score(train),
    test: score(test),
    attribution: (row, out) => {
      residual(test[row], out);
      for (let j = 0; j < d; j++) out[j] *= out[j];
    },
  };
}

/** Rows as one flat row-major array, every `stride`-th row. */
function flatten(rows: Float64Array[], stride: number): Float64Array {
  const d = rows[0].length;
  const out = new Float64Array(Math.ceil(rows.length / stride) * d);
  for (let i = 0, o = 0; i < rows.length; i += stride, o += d) out.set(rows[i], o);
  return out;
}

/** Index of the reference row (flat, row-major) nearest to r in Euclidean distance, and that squared distance. */
function nearest(ref: Float64Array, r: Float64Array): { index: number; d2: number } {
  const d = r.length;
  let index = 0, d2 = Infinity;
  for (let o = 0, i = 0; o < ref.length; o += d, i++) {
    let s = 0;
    for (let j = 0; j < d && s < d2; j++) {
      const x = r[j] - ref[o + j];
      s += x * x;
    }
    if (s < d2) {
      d2 = s;
      index = i;
    }
  }
  return { index, d2 };
}

/**
 * Distance to the nearest training row (every second row, for time). A training row's distance
 * to itself is 0, so the training scores are those of the second half against the first half.
 */
export function nearestNeighbourBaseline(train: Float64Array[], test: Float64Array[]): BaselineScores {
  const half = Math.floor(train.length / 2);
  const d = train[0].length;
  const all = flatten(train, 2);
  const firstHalf = all.subarray(0, Math.ceil(half / 2) * d);
  const testNearest = test.map((r) => nearest(all, r));
  return {
    name: '1-nn',
    train: Float64Array.from(train.slice(half), (r) => Math.sqrt(nearest(firstHalf, r).d2)),
    test: Float64Array.from(testNearest, (n) => Math.sqrt(n.d2)),
    attribution: (row, out) => {
      const o = testNearest[row].index * d;
      for (let j = 0; j < d; j++) out[j] = (test[row][j] - all[o + j]) ** 2;
    },
  };
}
