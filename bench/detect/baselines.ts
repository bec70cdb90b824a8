/**
 * TypeScript ports of shared/tools/smd-baselines/baselines.py, run on the same rows as the
 * detector: random scores, max z-score against the training data, PCA reconstruction error
 * (components covering 95 % of training variance). Each returns train and test scores plus, for
 * attribution, the per-metric contribution at a test row.
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
