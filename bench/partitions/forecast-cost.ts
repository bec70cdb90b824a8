/**
 * CPU time per control window of the partition forecasts, side by side in one run: the previous
 * controller (an ETS fit per partition every window) against PartitionForecaster (O(1) engine
 * updates, at most one refit per window, plus the local trend). 4 partitions, 300 windows of noisy
 * load with ramps, horizon 8.   `npx tsx bench/partitions/forecast-cost.ts`
 */
import { mulberry32 } from '../../src/core/random.js';
import { fitForecaster } from '../../src/forecast/index.js';
import { PartitionForecaster } from '../../src/shadows/partitions/forecast.js';

const PARTITIONS = 4;
const WINDOWS = 300;
const H = 8;
const rand = mulberry32(1);
const series = Array.from({ length: PARTITIONS }, (_, p) => Array.from({ length: WINDOWS }, (_, i) => {
  const t = (i + 37 * p) % 100;
  return 0.16 + (rand() - 0.5) * 0.06 + (t > 60 && t < 80 ? (t - 60) * 0.035 : 0);
}));

function cpuMsPerWindow(run: () => void): number {
  const start = process.cpuUsage();
  run();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000 / WINDOWS;
}

let sink = 0;
const previous = cpuMsPerWindow(() => {
  for (let i = 0; i < WINDOWS; i++) {
    for (let p = 0; p < PARTITIONS; p++) {
      const ys = series[p].slice(Math.max(0, i - 59), i + 1);
      if (ys.length < 6) continue;
      sink += fitForecaster(ys, { seasons: [], method: 'ets', horizon: H }).predict(H, [80]).mean[0];
    }
  }
});
const current = cpuMsPerWindow(() => {
  const f = new PartitionForecaster(PARTITIONS);
  for (let i = 0; i < WINDOWS; i++) {
    f.observe(series.map((s) => s[i]));
    for (let p = 0; p < PARTITIONS; p++) sink += f.forecast(p, H)[0];
  }
});
process.stdout.write(`CPU ms per window (${PARTITIONS} partitions, horizon ${H}): ETS refit every window ${previous.toFixed(2)}, PartitionForecaster ${current.toFixed(2)} (ratio ${(current / previous).toFixed(3)})${sink < 0 ? '' : ''}\n`);
