/**
 * Peer for the M4 benchmark: @bsull/augurs MSTL(24, 168) with AutoETS on the remainder, one
 * series after another in this process, 95 % intervals from augurs.
 *
 *   npx tsx bench/forecast/augurs-m4.ts TRAIN_WIDE.csv OUT.csv
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { initSync, MSTL } from '@bsull/augurs/mstl';
import { readM4 } from './m4data.js';

const [trainFile, outFile] = process.argv.slice(2);
const require = createRequire(import.meta.url);
// The wasm file is not in the package's exports map; find it beside the resolved module.
initSync({ module: readFileSync(join(dirname(require.resolve('@bsull/augurs/mstl')), 'mstl_bg.wasm')) });
const H = 48;
let out = 'series_id,step,mean,lo95,hi95\n';
for (const s of readM4(trainFile)) {
  const model = MSTL.ets([24, 168]);
  model.fit(s.values);
  const fc = model.predict(H, 0.95);
  for (let h = 0; h < H; h++) out += `${s.id},${h + 1},${fc.point[h]},${fc.intervals!.lower[h]},${fc.intervals!.upper[h]}\n`;
}
writeFileSync(outFile, out);
