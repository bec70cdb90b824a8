/**
 * A seasonal ARIMA family fitted by conditional least squares: ARIMA(p, d, 0)(P, D, 0)_m with
 * p ≤ 3, P ≤ 2, D = 1 when the series holds at least three seasons and d chosen from the lag-1
 * autocorrelation of the seasonally differenced series. Orders are chosen by AICc. Moving-average
 * terms are not estimated (the autoregressive orders approximate them).
 */
import type { Member } from './member.js';
import { solveLinear } from './util.js';

interface ArSpec {
  p: number;
  P: number;
  /** Also regress on the lag of a second, longer season (e.g. 168 beside 24). */
  long: boolean;
  constant: boolean;
}

interface ArFit {
  spec: ArSpec;
  coef: number[];
  aicc: number;
}

function lagsOf(spec: ArSpec, m: number, m2: number): number[] {
  const lags: number[] = [];
  for (let i = 1; i <= spec.p; i++) lags.push(i);
  for (let j = 1; j <= spec.P; j++) lags.push(j * m);
  if (spec.long) lags.push(m2);
  return lags;
}

function fitAr(z: Float64Array, spec: ArSpec, m: number, m2: number, start: number): ArFit | null {
  const lags = lagsOf(spec, m, m2);
  const k = lags.length + (spec.constant ? 1 : 0);
  const nEff = z.length - start;
  if (nEff - k - 1 <= 0) return null;
  const A = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  const b = new Array<number>(k).fill(0);
  const row = new Array<number>(k);
  for (let t = start; t < z.length; t++) {
    for (let i = 0; i < lags.length; i++) row[i] = z[t - lags[i]];
    if (spec.constant) row[k - 1] = 1;
    for (let i = 0; i < k; i++) {
      b[i] += row[i] * z[t];
      for (let j = 0; j < k; j++) A[i][j] += row[i] * row[j];
    }
  }
  const coef = k ? solveLinear(A, b) : [];
  if (!coef) return null;
  let sse = 0;
  for (let t = start; t < z.length; t++) {
    let f = spec.constant ? coef[k - 1] : 0;
    for (let i = 0; i < lags.length; i++) f += coef[i] * z[t - lags[i]];
    sse += (z[t] - f) ** 2;
  }
  const sigma2 = Math.max(sse / nEff, 1e-300);
  const q = k + 1;
  return { spec, coef, aicc: nEff * Math.log(sigma2) + 2 * q + (2 * q * (q + 1)) / (nEff - q - 1) };
}

/**
 * Fits the seasonal ARIMA family to finite data y for season m (≤ 1: non-seasonal); a longer
 * season m2 (a multiple of m, e.g. 168 for 24) adds its lag as a candidate regressor when the
 * series holds three of its cycles. Returns null when y is too short (fewer than 12 points).
 */
export function fitArima(y: ArrayLike<number>, m: number, m2 = 0): Member | null {
  const n = y.length;
  if (n < 12) return null;
  const D = m > 1 && n >= 3 * m + 10 ? 1 : 0;
  const w = new Float64Array(n - D * m);
  for (let t = D * m; t < n; t++) w[t - D * m] = y[t] - (D ? y[t - m] : 0);
  let mu = 0;
  for (const v of w) mu += v;
  mu /= w.length;
  let c0 = 0, c1 = 0;
  for (let t = 0; t < w.length; t++) {
    c0 += (w[t] - mu) ** 2;
    if (t > 0) c1 += (w[t] - mu) * (w[t - 1] - mu);
  }
  const d = c0 > 0 && c1 / c0 > 0.8 ? 1 : 0;
  const z = new Float64Array(w.length - d);
  for (let t = d; t < w.length; t++) z[t - d] = w[t] - (d ? w[t - 1] : 0);
  const maxP = D ? 2 : 0;
  const useLong = D === 1 && m2 > 2 * m && z.length >= 3 * m2;
  const start = Math.max(3, maxP * m, useLong ? m2 : 0);
  if (z.length - start < 10) return null;
  let best: ArFit | null = null;
  for (let p = 0; p <= 3; p++) {
    for (let P = 0; P <= maxP; P++) {
      for (const long of useLong ? [false, true] : [false]) {
        const fit = fitAr(z, { p, P, long, constant: d + D < 2 }, m, m2, start);
        if (fit && (!best || fit.aicc < best.aicc)) best = fit;
      }
    }
  }
  if (!best) return null;
  const { spec, coef } = best;
  const lags = lagsOf(spec, m, m2);
  const keep = Math.max(3, spec.P * m, spec.long ? m2 : 0) + 2;
  // Histories of the raw, seasonally differenced and fully differenced series (recent part only).
  let ys = Array.from(y).slice(-Math.max(m, 1) - 2);
  let ws = Array.from(w).slice(-2);
  let zs = Array.from(z).slice(-keep);
  const season = D ? m : 0;
  const name = `arima(${spec.p},${d},0)${D ? `(${spec.P},1,0)[${m}]` : ''}${spec.long ? `+lag${m2}` : ''}`;
  return {
    name,
    update(x: number) {
      const wNew = x - (D ? ys[ys.length - season] : 0);
      const zNew = wNew - (d ? ws[ws.length - 1] : 0);
      ys.push(x);
      ws.push(wNew);
      zs.push(zNew);
      // Trim occasionally so each update stays O(1) amortised with bounded memory.
      if (zs.length > 4 * keep + 64) zs = zs.slice(-keep);
      if (ys.length > 4 * (season + 2) + 64) ys = ys.slice(-(season + 2));
      if (ws.length > 64) ws = ws.slice(-2);
    },
    forecast(h: number) {
      // Forecasts extend the histories virtually: index k past the end reads the forecast so
      // far, so nothing is copied and a call costs O(h × lags) whatever the season length.
      const zf: number[] = [];
      const wf: number[] = [];
      const yf: number[] = [];
      const at = (hist: number[], fut: number[], back: number): number => {
        const k = hist.length + fut.length - back;
        return k < hist.length ? hist[k] : fut[k - hist.length];
      };
      for (let i = 0; i < h; i++) {
        let zNext = spec.constant ? coef[coef.length - 1] : 0;
        for (let j = 0; j < lags.length; j++) zNext += coef[j] * at(zs, zf, lags[j]);
        zf.push(zNext);
        const wNext = zNext + (d ? at(ws, wf, 1) : 0);
        wf.push(wNext);
        yf.push(wNext + (D ? at(ys, yf, season) : 0));
      }
      return yf;
    },
  };
}
