/** Small numeric helpers for the forecasting models: the median, normal quantiles, optimisation. */

/** Median of the finite values of `xs` (NaN when there are none). Does not modify `xs`. */
export function median(xs: ArrayLike<number>): number {
  const v = Array.from(xs).filter(Number.isFinite).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

/** Mean of the finite values (NaN when there are none). */
export function mean(xs: ArrayLike<number>): number {
  let s = 0;
  let n = 0;
  for (let i = 0; i < xs.length; i++) {
    if (Number.isFinite(xs[i])) {
      s += xs[i];
      n++;
    }
  }
  return n ? s / n : NaN;
}

/**
 * Inverse of the standard normal CDF (Acklam's rational approximation, |error| < 1.2e-9).
 * Returns -Infinity/Infinity at 0/1 and NaN outside [0, 1].
 */
export function normalQuantile(p: number): number {
  if (!(p >= 0 && p <= 1)) return NaN;
  if (p === 0) return -Infinity;
  if (p === 1) return Infinity;
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const plow = 0.02425;
  if (p < plow) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  if (p > 1 - plow) return -normalQuantile(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

/**
 * Minimises `f` from `x0` with the Nelder–Mead simplex. Deterministic; stops after `maxEval`
 * evaluations or when the simplex's function values agree to `tol`. Non-finite values count as +Infinity.
 */
export function nelderMead(f: (x: number[]) => number, x0: number[], maxEval = 200, step = 0.5, tol = 1e-7): { x: number[]; fx: number } {
  const n = x0.length;
  const safe = (x: number[]): number => {
    const v = f(x);
    return Number.isFinite(v) ? v : Infinity;
  };
  let evals = 0;
  const simplex: { x: number[]; fx: number }[] = [];
  simplex.push({ x: x0.slice(), fx: safe(x0) });
  evals++;
  for (let i = 0; i < n; i++) {
    const x = x0.slice();
    x[i] += step;
    simplex.push({ x, fx: safe(x) });
    evals++;
  }
  while (evals < maxEval) {
    simplex.sort((p, q) => p.fx - q.fx);
    const best = simplex[0];
    const worst = simplex[n];
    if (Math.abs(worst.fx - best.fx) <= tol * (Math.abs(best.fx) + tol)) break;
    const centroid = new Array<number>(n).fill(0);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) centroid[j] += simplex[i].x[j] / n;
    const along = (t: number): number[] => centroid.map((c, j) => c + t * (worst.x[j] - c));
    const xr = along(-1);
    const fr = safe(xr);
    evals++;
    if (fr < best.fx) {
      const xe = along(-2);
      const fe = safe(xe);
      evals++;
      simplex[n] = fe < fr ? { x: xe, fx: fe } : { x: xr, fx: fr };
    } else if (fr < simplex[n - 1].fx) {
      simplex[n] = { x: xr, fx: fr };
    } else {
      const xc = fr < worst.fx ? along(-0.5) : along(0.5);
      const fc = safe(xc);
      evals++;
      if (fc < Math.min(fr, worst.fx)) {
        simplex[n] = { x: xc, fx: fc };
      } else {
        for (let i = 1; i <= n; i++) {
          const x = simplex[i].x.map((v, j) => best.x[j] + 0.5 * (v - best.x[j]));
          simplex[i] = { x, fx: safe(x) };
          evals++;
        }
      }
    }
  }
  simplex.sort((p, q) => p.fx - q.fx);
  return simplex[0];
}

/** Logistic function mapping the real line into (0, 1). */
export function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/** Inverse of sigmoid for p in (0, 1). */
export function logit(p: number): number {
  return Math.log(p / (1 - p));
}

/**
 * Solves the symmetric positive (semi)definite system A x = b by Gaussian elimination with partial
 * pivoting; a tiny ridge keeps near-singular systems solvable. Returns null when it is singular.
 */
export function solveLinear(A: number[][], b: number[]): number[] | null {
  const n = b.length;
  const M = A.map((row, i) => [...row, b[i]]);
  for (let i = 0; i < n; i++) M[i][i] += 1e-9 * (Math.abs(M[i][i]) + 1e-12);
  for (let col = 0; col < n; col++) {
    let piv = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(M[r][col]) > Math.abs(M[piv][col])) piv = r;
    if (Math.abs(M[piv][col]) < 1e-300) return null;
    [M[col], M[piv]] = [M[piv], M[col]];
    for (let r = col + 1; r < n; r++) {
      const f = M[r][col] / M[col][col];
      for (let k = col; k <= n; k++) M[r][k] -= f * M[col][k];
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let i = n - 1; i >= 0; i--) {
    let s = M[i][n];
    for (let k = i + 1; k < n; k++) s -= M[i][k] * x[k];
    x[i] = s / M[i][i];
  }
  return x.every(Number.isFinite) ? x : null;
}

/** Autocorrelation of `y` at lags 0..maxLag (y must be finite). */
export function acf(y: ArrayLike<number>, maxLag: number): Float64Array {
  const n = y.length;
  const mu = mean(y);
  const d = new Float64Array(n);
  let c0 = 0;
  for (let i = 0; i < n; i++) {
    d[i] = y[i] - mu;
    c0 += d[i] * d[i];
  }
  const out = new Float64Array(maxLag + 1);
  if (c0 === 0) return out;
  for (let k = 0; k <= maxLag && k < n; k++) {
    let s = 0;
    for (let i = k; i < n; i++) s += d[i] * d[i - k];
    out[k] = s / c0;
  }
  return out;
}
