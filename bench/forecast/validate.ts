/**
 * Model choice on M4 Hourly *training* data only: each training series loses its last 48 points,
 * which become the validation target. Scores every engine method and median combinations of
 * their point forecasts, with OWA against Naive2 on the same split.
 *
 *   npx tsx bench/forecast/validate.ts [--limit N] [--methods ets,theta,...] [--scale 1.0]
 */
import { join } from 'node:path';
import { fitForecaster } from '../../src/forecast/index.js';
import type { ForecastMethod } from '../../src/forecast/index.js';
import { median } from '../../src/forecast/util.js';
import { M4_DIR, readM4 } from './m4data.js';
import { naive2, scoreSeries, summarise } from './metrics.js';
import type { SeriesScore } from './metrics.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const H = 48, M = 24;
const limit = Number(opt('limit', '414'));
const offset = Number(opt('offset', '0'));
const methods = opt('methods', 'snaive,ets,theta,arima,mstl,auto').split(',') as ForecastMethod[];
const scale = Number(opt('scale', '0')) || undefined;
const series = readM4(join(M4_DIR, 'Hourly-train.csv')).slice(offset, offset + limit);

const forecasts = new Map<string, number[][]>();
// For the interval-scale scan: the first method's 95 % half-widths per series.
const bands: { lo: number[]; hi: number[] }[] = [];
const scores = new Map<string, SeriesScore[]>();
const ref: SeriesScore[] = [];
const times = new Map<string, number>();
for (const s of series) {
  const train = s.values.slice(0, -H);
  const truth = s.values.slice(-H);
  ref.push(scoreSeries(train, truth, naive2(train, M, H), M));
  for (const method of methods) {
    const t0 = performance.now();
    const fc = fitForecaster(train, { seasons: [24, 168], horizon: H, method, intervalScale: scale }).predict(H, [95]);
    times.set(method, (times.get(method) ?? 0) + performance.now() - t0);
    const iv = fc.intervals[0];
    if (method === methods[0]) bands.push({ lo: iv.lo, hi: iv.hi });
    if (!scores.has(method)) scores.set(method, []);
    scores.get(method)!.push(scoreSeries(train, truth, fc.mean, M, iv.lo, iv.hi));
    if (!forecasts.has(method)) forecasts.set(method, []);
    forecasts.get(method)!.push(fc.mean);
  }
}
const r = summarise(ref);
const line = (name: string, sc: SeriesScore[], ms?: number): void => {
  const x = summarise(sc, r);
  console.log([name.padEnd(28), x.smape.toFixed(3), x.mase.toFixed(3), x.owa.toFixed(3), x.msis.toFixed(2), x.coverage.toFixed(2), ms === undefined ? '' : (ms / series.length).toFixed(1)].join('\t'));
};
console.log(`validation on ${series.length} training series (last ${H} points held out)`);
console.log(['method'.padEnd(28), 'sMAPE', 'MASE', 'OWA', 'MSIS95', 'cov95', 'ms/series'].join('\t'));
console.log(['naive2'.padEnd(28), r.smape.toFixed(3), r.mase.toFixed(3), '1.000'].join('\t'));
for (const m of methods) line(m, scores.get(m)!, times.get(m));
// Median combinations of the single models' point forecasts (intervals not scored).
const singles = methods.filter((m) => m !== 'auto');
for (let mask = 3; mask < 1 << singles.length; mask++) {
  const set = singles.filter((_, i) => mask & (1 << i));
  if (set.length < 2) continue;
  const sc = series.map((s, k) => {
    const train = s.values.slice(0, -H);
    const mean = Array.from({ length: H }, (_, h) => median(set.map((m) => forecasts.get(m)![k][h])));
    return scoreSeries(train, s.values.slice(-H), mean, M);
  });
  line(`median(${set.join(',')})`, sc);
}

// Coverage and MSIS of the first method when its 95 % bands are widened by a factor (the
// interval scale is linear in the band, up to the zero floor of non-negative series).
if (args.includes('--scan')) {
  for (const f of [1, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.8, 2]) {
    const sc = series.map((s, k) => {
      const train = s.values.slice(0, -H);
      const mean = forecasts.get(methods[0])![k];
      const b = bands[k];
      const lo = mean.map((v, h) => v + f * (b.lo[h] - v));
      const hi = mean.map((v, h) => v + f * (b.hi[h] - v));
      return scoreSeries(train, s.values.slice(-H), mean, M, lo, hi);
    });
    const x = summarise(sc, r);
    console.log(`scale ${f.toFixed(2)}: MSIS95 ${x.msis.toFixed(3)} coverage95 ${x.coverage.toFixed(2)}`);
  }
}
