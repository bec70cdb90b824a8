/**
 * Multi-seasonal decomposition in the spirit of MSTL (Bandara et al. 2021): seasonal profiles for
 * each period (e.g. 24 and 168) are estimated in turn from the series detrended by a centred
 * moving average, with robust (trimmed) per-phase means, iterated twice; the deseasonalised series
 * (trend plus remainder) is forecast by automatic non-seasonal ETS.
 */
import type { Member } from './member.js';
import { centredMovingAverage, seasonalProfile } from './decompose.js';
import { fitAutoEts } from './ets.js';

/**
 * Fits the decomposition model for the given periods to finite data y. Periods with fewer than two
 * full cycles in y are dropped; returns null when none remains or the remainder model fails.
 */
export function fitMstl(y: ArrayLike<number>, periods: number[]): Member | null {
  const n = y.length;
  const ps = periods.filter((p) => p > 1 && n >= 2 * p).sort((a, b) => a - b);
  if (ps.length === 0) return null;
  const deseason = Float64Array.from(y);
  const profiles: Float64Array[] = ps.map((p) => new Float64Array(p));
  for (let iter = 0; iter < 2; iter++) {
    for (let i = 0; i < ps.length; i++) {
      const p = ps[i];
      const work = new Float64Array(n);
      for (let t = 0; t < n; t++) work[t] = deseason[t] + profiles[i][t % p];
      const trend = centredMovingAverage(work, p);
      const det = new Float64Array(n);
      for (let t = 0; t < n; t++) det[t] = work[t] - trend[t];
      profiles[i] = seasonalProfile(det, p, false);
      for (let t = 0; t < n; t++) deseason[t] = work[t] - profiles[i][t % p];
    }
  }
  // Additive errors suffice: the caller log-transforms data with level-proportional noise.
  const remainder = fitAutoEts(deseason, 1, { additiveOnly: true });
  if (!remainder) return null;
  const inner = remainder.member;
  let t = n;
  const seasonalAt = (time: number): number => {
    let s = 0;
    for (let i = 0; i < ps.length; i++) s += profiles[i][time % ps[i]];
    return s;
  };
  return {
    name: `mstl(${ps.join('+')};${inner.name})`,
    update(x: number) {
      inner.update(x - seasonalAt(t));
      t++;
    },
    forecast(h: number) {
      const f = inner.forecast(h);
      for (let i = 0; i < h; i++) f[i] += seasonalAt(t + i);
      return f;
    },
  };
}
