/**
 * Streaming correlation model for one component: an exponentially weighted mean and covariance of
 * the (scaled) metric vector, whose principal subspace is recomputed every `refresh` points. A
 * point that does not fit the usual correlations between metrics leaves a large residual outside
 * that subspace; the residual energy relative to its usual level is the score, and the per-metric
 * squared residuals are the attribution. Memory O(d^2) and time O(d^2) per point for d metrics
 * (constant per component); the eigen-decomposition costs O(d^3) every `refresh` points.
 */

/** Knobs of the subspace model (documented in docs/detection.md). */
export interface SubspaceConfig {
  /** Half-life of the mean/covariance, in points. */
  readonly halfLife: number;
  /** Points before the first subspace; scores are not ready before. */
  readonly warmup: number;
  /** Recompute the principal subspace every this many points. */
  readonly refresh: number;
  /** Share of variance the principal subspace keeps. */
  readonly variance: number;
  /** Points whose equivalent z exceeds this update the model with their deviation shrunk by gate/z (anomalies do not become normal at once). */
  readonly gate: number;
  /** Each metric is divided by max(its EW std, floor) before the covariance; floor = this x its observed range. */
  readonly rangeFloor: number;
  /** Standardised deviations are clipped to +-cap before projection, so one metric that never moved before cannot saturate the score. */
  readonly cap: number;
}

/** Default subspace knobs. */
export const DEFAULT_SUBSPACE: SubspaceConfig = {
  halfLife: 10_080,
  warmup: 720,
  refresh: 720,
  variance: 0.95,
  gate: 6,
  rangeFloor: 0.05,
  cap: 10,
};

/** Eigen-decomposition of a symmetric matrix (cyclic Jacobi): eigenvalues descending, eigenvectors as rows. */
export function symmetricEigen(a: readonly Float64Array[], sweeps = 60): { values: number[]; vectors: Float64Array[] } {
  const n = a.length;
  const m = a.map((r) => Float64Array.from(r));
  const v = Array.from({ length: n }, (_, i) => {
    const r = new Float64Array(n);
    r[i] = 1;
    return r;
  });
  for (let s = 0; s < sweeps; s++) {
    let off = 0, diag = 0;
    for (let p = 0; p < n; p++) {
      diag += m[p][p] * m[p][p];
      for (let q = p + 1; q < n; q++) off += m[p][q] * m[p][q];
    }
    if (off <= 1e-24 * (diag + 1e-300)) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = m[p][q];
        if (apq === 0) continue;
        const theta = (m[q][q] - m[p][p]) / (2 * apq);
        const t = (theta >= 0 ? 1 : -1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1), sn = t * c;
        for (let k = 0; k < n; k++) {
          const mkp = m[k][p], mkq = m[k][q];
          m[k][p] = c * mkp - sn * mkq;
          m[k][q] = sn * mkp + c * mkq;
        }
        for (let k = 0; k < n; k++) {
          const mpk = m[p][k], mqk = m[q][k];
          m[p][k] = c * mpk - sn * mqk;
          m[q][k] = sn * mpk + c * mqk;
        }
        for (let k = 0; k < n; k++) {
          const vpk = v[p][k], vqk = v[q][k];
          v[p][k] = c * vpk - sn * vqk;
          v[q][k] = sn * vpk + c * vqk;
        }
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => m[y][y] - m[x][x]);
  return { values: order.map((i) => m[i][i]), vectors: order.map((i) => v[i]) };
}

/**
 * The streaming subspace model. `step(values, learn)` scores the vector against the current
 * subspace (from the past only) and then, when `learn` and the point is not gated, updates the
 * statistics. Non-finite values are replaced by the current mean (they carry no evidence).
 */
export class SubspaceModel {
  private readonly c: SubspaceConfig;
  private readonly d: number;
  private readonly a: number;
  private readonly mean: Float64Array;
  private readonly cov: Float64Array[];
  private readonly min: Float64Array;
  private readonly max: Float64Array;
  private readonly scale: Float64Array;
  private readonly x: Float64Array;
  /** Per-metric squared residual of the last point (attribution). */
  readonly residual: Float64Array;
  private basis: Float64Array[] = [];
  private energy = 0;
  private n = 0;
  private sinceRefresh = 0;
  /** Equivalent z of the last point (0 when not ready). */
  z = 0;
  ready = false;

  constructor(dims: number, config: Partial<SubspaceConfig> = {}) {
    this.c = { ...DEFAULT_SUBSPACE, ...config };
    const c = this.c;
    if (!(c.halfLife > 0 && c.warmup >= 2 && c.refresh >= 1 && c.variance > 0 && c.variance <= 1 && c.gate > 0 && c.rangeFloor >= 0 && c.cap > 0)) {
      throw new RangeError('subspace config: halfLife > 0, warmup >= 2, refresh >= 1, 0 < variance <= 1, gate > 0, rangeFloor >= 0, cap > 0');
    }
    this.d = dims;
    this.a = 1 - Math.exp(-Math.LN2 / c.halfLife);
    this.mean = new Float64Array(dims);
    this.cov = Array.from({ length: dims }, () => new Float64Array(dims));
    this.min = new Float64Array(dims).fill(Infinity);
    this.max = new Float64Array(dims).fill(-Infinity);
    this.scale = new Float64Array(dims).fill(1);
    this.x = new Float64Array(dims);
    this.residual = new Float64Array(dims);
  }

  /** Scores one vector and learns from it unless `learn` is false or the point is gated. */
  step(values: ArrayLike<number>, learn = true): number {
    const d = this.d, x = this.x, mean = this.mean;
    for (let j = 0; j < d; j++) {
      const v = values[j];
      x[j] = Number.isFinite(v) ? v : this.n > 0 ? mean[j] : 0;
    }
    this.z = this.ready ? this.score() : 0;
    // Points beyond the gate are learned with their deviation shrunk to the gate (Huber), not
    // skipped: skipping can freeze a model whose first estimate was too tight.
    if (learn) this.learn(this.z > this.c.gate ? this.c.gate / this.z : 1);
    return this.z;
  }

  private score(): number {
    const d = this.d, r = this.residual, x = this.x;
    const cap = this.c.cap;
    for (let j = 0; j < d; j++) {
      const v = (x[j] - this.mean[j]) / this.scale[j];
      r[j] = v > cap ? cap : v < -cap ? -cap : v;
    }
    for (const b of this.basis) {
      let p = 0;
      for (let j = 0; j < d; j++) p += b[j] * r[j];
      for (let j = 0; j < d; j++) r[j] -= p * b[j];
    }
    let e = 0;
    for (let j = 0; j < d; j++) {
      r[j] *= r[j];
      e += r[j];
    }
    return Math.sqrt(e / this.energy);
  }

  private learn(shrink: number): void {
    const d = this.d, x = this.x, mean = this.mean, cov = this.cov;
    this.n++;
    const a = Math.max(1 / this.n, this.a);
    for (let j = 0; j < d; j++) {
      if (x[j] < this.min[j]) this.min[j] = x[j];
      if (x[j] > this.max[j]) this.max[j] = x[j];
      const delta = (x[j] - mean[j]) * shrink;
      mean[j] += a * delta;
      x[j] = delta;
    }
    // West's EW covariance update: C <- (1-a)(C + a * delta delta^T).
    for (let i = 0; i < d; i++) {
      const row = cov[i], xi = x[i];
      for (let j = i; j < d; j++) row[j] = (1 - a) * (row[j] + a * xi * x[j]);
    }
    this.sinceRefresh++;
    if (this.n >= this.c.warmup && this.sinceRefresh >= this.c.refresh) this.refresh();
  }

  private refresh(): void {
    const d = this.d;
    this.sinceRefresh = 0;
    for (let j = 0; j < d; j++) {
      const sd = Math.sqrt(Math.max(this.cov[j][j], 0));
      this.scale[j] = Math.max(sd, this.c.rangeFloor * (this.max[j] - this.min[j]), 1e-12);
    }
    const m = Array.from({ length: d }, (_, i) => {
      const row = new Float64Array(d);
      for (let j = 0; j < d; j++) {
        const v = i <= j ? this.cov[i][j] : this.cov[j][i];
        row[j] = v / (this.scale[i] * this.scale[j]);
      }
      return row;
    });
    const { values, vectors } = symmetricEigen(m);
    let total = 0;
    for (const v of values) total += Math.max(v, 0);
    let k = 0, cum = 0;
    while (k < d && total > 0) {
      cum += Math.max(values[k], 0);
      k++;
      if (cum / total >= this.c.variance) break;
    }
    this.basis = vectors.slice(0, Math.min(k, d - 1));
    // Expected residual energy = variance outside the kept subspace (floored: never divide by 0).
    let rest = 0;
    for (let i = this.basis.length; i < d; i++) rest += Math.max(values[i], 0);
    this.energy = Math.max(rest, 1e-3 * Math.max(total, 1e-12));
    this.ready = true;
  }
}
