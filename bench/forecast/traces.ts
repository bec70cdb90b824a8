/**
 * Rolling-origin accuracy on the full monitoring traces in $TRACES_DIR (the series the
 * control loop meets): the engine fitted on the first 60 % of each trace, then rolled forward
 * with update() and refitted when shouldRefit() says so, forecasting from every origin-th point.
 * MASE per horizon against seasonal naive and augurs MSTL+AutoETS refitted on the same schedule.
 * MASE scale: in-sample one-step naive MAE of the first 60 %.
 *
 *   TRACES_DIR=DIR npx tsx bench/forecast/traces.ts [--origins 200]
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { initSync, MSTL } from '@bsull/augurs/mstl';
import { fitForecaster, shouldRefit } from '../../src/forecast/index.js';
import { dataFromEnv } from '../util.js';

const dir = dataFromEnv('TRACES_DIR', 'the directory holding the five full traces listed below');
const args = process.argv.slice(2);
const originsWanted = Number(args[args.indexOf('--origins') + 1] || 200);
const require = createRequire(import.meta.url);
initSync({ module: readFileSync(join(dirname(require.resolve('@bsull/augurs/mstl')), 'mstl_bg.wasm')) });

const traces = [
  { file: 'nasa_http_1995-07_1min.csv', seasons: [1440], horizons: [5, 15, 60] },
  { file: 'alibaba_2018_cpu_1min.csv', seasons: [1440], horizons: [5, 15, 60] },
  { file: 'azure_vm_2019_cpu_5min.csv', seasons: [288, 2016], horizons: [1, 3, 6, 12] },
  { file: 'aws_rds_cpu_5min.csv', seasons: [288], horizons: [1, 3, 6, 12] },
  { file: 'wikipedia_en_2016-01_1h.csv', seasons: [24, 168], horizons: [1, 6, 12, 24] },
];

console.log('| trace | h | MASE shadowplane | MASE seasonal naive | MASE augurs MSTL | refits | fit+roll s (ours / augurs) |');
console.log('|---|---|---|---|---|---|---|');
for (const tr of traces) {
  const y = readFileSync(join(dir, tr.file), 'utf8').trim().split('\n').slice(1).map((l) => Number(l.split(',')[1]));
  const n0 = Math.floor(y.length * 0.6);
  const H = Math.max(...tr.horizons);
  const m = tr.seasons[0];
  let scale = 0;
  for (let t = 1; t < n0; t++) scale += Math.abs(y[t] - y[t - 1]);
  scale /= n0 - 1;
  const stride = Math.max(1, Math.floor((y.length - n0 - H) / originsWanted));
  const err = { ours: new Map<number, number[]>(), snaive: new Map<number, number[]>(), augurs: new Map<number, number[]>() };
  const push = (map: Map<number, number[]>, h: number, e: number): void => void (map.get(h) ?? map.set(h, []).get(h)!).push(Math.abs(e));
  let oursMs = 0;
  let augursMs = 0;
  let t0 = performance.now();
  let f = fitForecaster(y.slice(0, n0), { seasons: tr.seasons, horizon: H });
  oursMs += performance.now() - t0;
  let refits = 0;
  let augurs: MSTL | null = null;
  let augursAt = -1;
  for (let t = n0; t + H <= y.length; t++) {
    if ((t - n0) % stride === 0) {
      t0 = performance.now();
      if (shouldRefit(f.refitState())) {
        f = fitForecaster(y.slice(Math.max(0, t - 8 * Math.max(...tr.seasons)), t), { seasons: tr.seasons, horizon: H });
        refits++;
      }
      const mean = f.predict(H, [95]).mean;
      oursMs += performance.now() - t0;
      t0 = performance.now();
      if (!augurs || t - augursAt >= Math.max(2 * Math.max(...tr.seasons), 288)) {
        augurs = MSTL.ets(tr.seasons);
        augurs.fit(y.slice(Math.max(0, t - 8 * Math.max(...tr.seasons)), t));
        augursAt = t;
      }
      // augurs has no online update: refit-free forecasts from its last fit origin, shifted.
      const ap = augurs.predict(t - augursAt + H).point.slice(t - augursAt);
      augursMs += performance.now() - t0;
      for (const h of tr.horizons) {
        push(err.ours, h, y[t + h - 1] - mean[h - 1]);
        push(err.snaive, h, y[t + h - 1] - y[t + h - 1 - m * Math.ceil(h / m)]);
        push(err.augurs, h, y[t + h - 1] - ap[h - 1]);
      }
    }
    t0 = performance.now();
    f.update(y[t]);
    oursMs += performance.now() - t0;
  }
  const mase = (map: Map<number, number[]>, h: number): string => (map.get(h)!.reduce((a, b) => a + b, 0) / map.get(h)!.length / scale).toFixed(3);
  for (const h of tr.horizons) {
    console.log(`| ${tr.file} | ${h} | ${mase(err.ours, h)} | ${mase(err.snaive, h)} | ${mase(err.augurs, h)} | ${refits} | ${(oursMs / 1000).toFixed(1)} / ${(augursMs / 1000).toFixed(1)} |`);
  }
}
