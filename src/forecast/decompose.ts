/** Classical decomposition helpers shared by Theta and the multi-seasonal model. */

/**
 * Centred moving average of window m (a 2×m average when m is even), with the first and last
 * computable values carried out to the ends so the result is defined everywhere.
 * Needs y.length > m; returns a copy of y otherwise.
 */
export function centredMovingAverage(y: ArrayLike<number>, m: number): Float64Array {
  const n = y.length;
  const out = new Float64Array(n);
  if (n <= m || m < 2) return Float64Array.from(y);
  const prefix = new Float64Array(n + 1);
  for (let i = 0; i < n; i++) prefix[i + 1] = prefix[i] + y[i];
  const half = Math.floor(m / 2);
  let firstT = -1;
  let lastT = -1;
  for (let t = half; t + half < n; t++) {
    if (m % 2 === 1) {
      out[t] = (prefix[t + half + 1] - prefix[t - half]) / m;
    } else {
      const inner = prefix[t + half] - prefix[t - half + 1];
      out[t] = (inner + 0.5 * (y[t - half] + y[t + half])) / m;
    }
    if (firstT < 0) firstT = t;
    lastT = t;
  }
  for (let t = 0; t < firstT; t++) out[t] = out[firstT];
  for (let t = lastT + 1; t < n; t++) out[t] = out[lastT];
  return out;
}

/**
 * Seasonal profile of period m from detrended values (`ratio` true: y/trend, else y − trend):
 * per phase a trimmed mean (a quarter cut at each end, so a spike cannot poison a season),
 * normalised to mean 1 (ratio) or 0. Phase j is the position t mod m.
 */
export function seasonalProfile(detrended: ArrayLike<number>, m: number, ratio: boolean): Float64Array {
  const profile = new Float64Array(m);
  for (let j = 0; j < m; j++) {
    const v: number[] = [];
    for (let t = j; t < detrended.length; t += m) v.push(detrended[t]);
    v.sort((a, b) => a - b);
    const cut = Math.floor(v.length / 4);
    let s = 0;
    for (let i = cut; i < v.length - cut; i++) s += v[i];
    profile[j] = s / (v.length - 2 * cut);
  }
  const centre = profile.reduce((a, b) => a + b, 0) / m;
  for (let j = 0; j < m; j++) profile[j] = ratio ? profile[j] / centre : profile[j] - centre;
  return profile;
}

/**
 * M4's seasonality test: the lag-m autocorrelation of y is significant at 90 % given the
 * autocorrelations below it. False when y is too short (fewer than 3m points).
 */
export function isSeasonal(y: ArrayLike<number>, m: number): boolean {
  const n = y.length;
  if (m < 2 || n < 3 * m) return false;
  let mu = 0;
  for (let i = 0; i < n; i++) mu += y[i];
  mu /= n;
  let c0 = 0;
  for (let i = 0; i < n; i++) c0 += (y[i] - mu) ** 2;
  if (c0 === 0) return false;
  let sumSq = 0;
  let rm = 0;
  for (let k = 1; k <= m; k++) {
    let s = 0;
    for (let i = k; i < n; i++) s += (y[i] - mu) * (y[i - k] - mu);
    const r = s / c0;
    if (k < m) sumSq += r * r;
    else rm = r;
  }
  return Math.abs(rm) > 1.645 * Math.sqrt((1 + 2 * sumSq) / n);
}
