/** Data preparation for fitting: gap filling, spike removal and season detection from the ACF. */
import { acf, median } from './util.js';

/**
 * Fills interior gaps (non-finite values) by linear interpolation between the nearest finite
 * neighbours. Leading and trailing gaps must be removed by the caller; returns a new array.
 */
export function fillGaps(y: ArrayLike<number>): Float64Array {
  const out = Float64Array.from(y);
  let prev = -1;
  for (let i = 0; i < out.length; i++) {
    if (!Number.isFinite(out[i])) continue;
    if (prev >= 0 && i - prev > 1) {
      for (let j = prev + 1; j < i; j++) out[j] = out[prev] + ((out[i] - out[prev]) * (j - prev)) / (i - prev);
    }
    prev = i;
  }
  return out;
}

/**
 * Replaces isolated spikes: a point that lies beyond all of its neighbours (the adjacent points
 * and, for season m, the points one season before and after) in the same direction by more than
 * `k` robust standard deviations of the first differences. A repeating seasonal peak has seasonal
 * neighbours at its own height and is kept; a level shift has a neighbour on its side and is kept.
 * Returns the cleaned copy and the number of points replaced.
 */
export function removeSpikes(y: Float64Array, m: number, k = 6): { y: Float64Array; replaced: number } {
  const n = y.length;
  if (n < 5) return { y, replaced: 0 };
  const diffs = new Float64Array(n - 1);
  for (let i = 1; i < n; i++) diffs[i - 1] = Math.abs(y[i] - y[i - 1]);
  const sigma = (median(diffs) * 1.4826) / Math.SQRT2;
  if (!(sigma > 0)) return { y, replaced: 0 };
  const out = Float64Array.from(y);
  let replaced = 0;
  for (let t = 1; t < n - 1; t++) {
    const nb = [y[t - 1], y[t + 1]];
    if (m > 1 && t - m >= 0) nb.push(y[t - m]);
    if (m > 1 && t + m < n) nb.push(y[t + m]);
    const hi = Math.max(...nb);
    const lo = Math.min(...nb);
    if (y[t] - hi > k * sigma || lo - y[t] > k * sigma) {
      out[t] = median(nb);
      replaced++;
    }
  }
  return { y: out, replaced };
}

/**
 * Detects season lengths from the autocorrelation of the first differences: the smallest lag
 * that is a local ACF peak above max(0.2, 2/sqrt(n)) is the primary season; a multiple of it
 * whose ACF peak is clearly higher (by 0.05) is added as a second, longer season (as 168 for 24 on
 * hourly data). Returns [] when no season is clear. Lags beyond n/3 or `maxLag` are not examined.
 */
export function detectSeasons(y: ArrayLike<number>, maxLag = 1500): number[] {
  const n = y.length;
  const limit = Math.min(Math.floor(n / 3), maxLag);
  if (limit < 4) return [];
  const d = new Float64Array(n - 1);
  for (let i = 1; i < n; i++) d[i - 1] = y[i] - y[i - 1];
  const r = acf(d, limit + 1);
  const threshold = Math.max(0.2, 2 / Math.sqrt(n));
  const isPeak = (k: number): boolean => k >= 2 && k <= limit && r[k] > threshold && r[k] >= r[k - 1] && r[k] >= r[k + 1];
  let first = -1;
  for (let k = 2; k <= limit; k++) {
    if (isPeak(k)) {
      first = k;
      break;
    }
  }
  if (first < 0) return [];
  let second = -1;
  for (let j = 2; j * first <= limit; j++) {
    const k = j * first;
    // The peak may sit one lag off an exact multiple when the period is not an integer.
    const best = [k - 1, k, k + 1].filter((q) => q <= limit).reduce((a, b) => (r[b] > r[a] ? b : a));
    if (r[best] > r[first] + 0.05 && (second < 0 || r[best] > r[second])) second = best;
  }
  return second > 0 ? [first, second] : [first];
}
