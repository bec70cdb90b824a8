/**
 * The Theta method (Assimakopoulos & Nikolopoulos 2000, in Hyndman & Billah's SES-with-drift form)
 * with classical seasonal adjustment when the M4 seasonality test finds season m.
 */
import type { Member } from './member.js';
import { centredMovingAverage, isSeasonal, seasonalProfile } from './decompose.js';

function sesSse(d: ArrayLike<number>, alpha: number): number {
  let l = d[0];
  let sse = 0;
  for (let t = 1; t < d.length; t++) {
    const e = d[t] - l;
    sse += e * e;
    l += alpha * e;
  }
  return sse;
}

/** Golden-section search of the SES smoothing parameter in [0.01, 0.99] minimising one-step SSE. */
function bestAlpha(d: ArrayLike<number>): number {
  let a = 0.01;
  let b = 0.99;
  const g = (Math.sqrt(5) - 1) / 2;
  let c = b - g * (b - a);
  let e = a + g * (b - a);
  let fc = sesSse(d, c);
  let fe = sesSse(d, e);
  for (let i = 0; i < 30; i++) {
    if (fc < fe) {
      b = e; e = c; fe = fc; c = b - g * (b - a); fc = sesSse(d, c);
    } else {
      a = c; c = e; fc = fe; e = a + g * (b - a); fe = sesSse(d, e);
    }
  }
  return (a + b) / 2;
}

/**
 * Fits Theta to finite data y (at least 3 points, else null), seasonally adjusted with period m
 * (multiplicative for positive data, additive otherwise) when the data is seasonal.
 */
export function fitTheta(y: ArrayLike<number>, m: number): Member | null {
  const n = y.length;
  if (n < 3) return null;
  let positive = true;
  for (let t = 0; t < n; t++) if (!(y[t] > 0)) positive = false;
  const seasonal = m > 1 && isSeasonal(y, m);
  let profile: Float64Array = new Float64Array(1).fill(positive ? 1 : 0);
  if (seasonal) {
    const trend = centredMovingAverage(y, m);
    const det = new Float64Array(n);
    for (let t = 0; t < n; t++) det[t] = positive ? y[t] / trend[t] : y[t] - trend[t];
    profile = seasonalProfile(det, m, positive);
  }
  const period = profile.length;
  const adjust = (x: number, t: number): number => (positive ? x / profile[t % period] : x - profile[t % period]);
  const d = new Float64Array(n);
  for (let t = 0; t < n; t++) d[t] = adjust(y[t], t);
  const alpha = bestAlpha(d);
  let l = d[0];
  for (let t = 1; t < n; t++) l += alpha * (d[t] - l);
  // Running sums for the least-squares slope of the adjusted series (the theta = 0 line).
  let count = n, st = 0, sd = 0, stt = 0, std = 0;
  for (let t = 0; t < n; t++) {
    st += t; sd += d[t]; stt += t * t; std += t * d[t];
  }
  return {
    name: seasonal ? `theta(${positive ? 'mult' : 'add'} season ${m})` : 'theta',
    update(x: number) {
      const v = adjust(x, count);
      l += alpha * (v - l);
      st += count; sd += v; stt += count * count; std += count * v;
      count++;
    },
    forecast(h: number) {
      const slope = (count * std - st * sd) / (count * stt - st * st);
      const b = Number.isFinite(slope) ? slope : 0;
      const drift = 1 / alpha - (1 - alpha) ** count / alpha;
      const out = new Array<number>(h);
      for (let i = 0; i < h; i++) {
        const base = l + 0.5 * b * (i + drift);
        const s = profile[(count + i) % period];
        out[i] = positive ? base * s : base + s;
      }
      return out;
    },
  };
}
