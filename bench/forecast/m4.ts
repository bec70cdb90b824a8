/**
 * M4 Hourly benchmark: the engine through the real `shadowplane forecast` command, side by side
 * with @bsull/augurs MSTL+AutoETS and (when R's forecast package is installed) R's ets,
 * auto.arima, thetaf and stlf, all on the same machine in one run, scored by an M4 scorer given as $M4_SCORER.
 * The engine was tuned on the training file only (bench/forecast/validate.ts); the test file is
 * read only by the scorer.
 *
 *   npx tsx bench/forecast/m4.ts [--no-r] [--r-methods ets,auto.arima,thetaf,stlf] [--cores 2]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { M4_DIR, readM4 } from './m4data.js';
import { dataFromEnv } from '../util.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const cores = Number(opt('cores', String(availableParallelism())));
const outDir = opt('out', join(tmpdir(), 'shadowplane-m4'));
mkdirSync(outDir, { recursive: true });
const trainWide = join(M4_DIR, 'Hourly-train.csv');
const scorer = dataFromEnv('M4_SCORER', 'the M4 scorer script (score.mjs: sMAPE, MASE, OWA against Naive2, MSIS)');

// The command reads long CSV; M4 is wide, so convert the training file once.
const trainLong = join(outDir, 'hourly-train-long.csv');
let long = 'series_id,t,value\n';
for (const s of readM4(trainWide)) s.values.forEach((v, t) => (long += `${s.id},${t},${v}\n`));
writeFileSync(trainLong, long);

interface Run {
  name: string;
  file: string;
  seconds: number;
  cores: number;
}
const runs: Run[] = [];
function timed(name: string, file: string, usedCores: number, cmd: string, cmdArgs: string[]): void {
  const t0 = performance.now();
  const r = spawnSync(cmd, cmdArgs, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 26 });
  const seconds = (performance.now() - t0) / 1000;
  if (r.status !== 0) {
    process.stderr.write(`${name} failed (${r.status}): ${r.stderr.slice(-2000)}\n`);
    return;
  }
  process.stderr.write(`${name}: ${seconds.toFixed(1)} s\n`);
  runs.push({ name, file, seconds, cores: usedCores });
}

const cli = ['--import', 'tsx', 'bench/forecast/cli.ts', 'forecast', '--input', trainLong, '--horizon', '48', '--season', '24,168', '--level', '80,95'];
timed(`shadowplane auto (${cores} workers)`, join(outDir, 'shadowplane.csv'), cores, process.execPath, [...cli, '--workers', String(cores), '--output', join(outDir, 'shadowplane.csv')]);
timed('shadowplane auto (1 worker)', join(outDir, 'shadowplane-1.csv'), 1, process.execPath, [...cli, '--workers', '1', '--output', join(outDir, 'shadowplane-1.csv')]);
for (const method of (opt('methods', 'snaive,ets,theta,arima,mstl')).split(',').filter(Boolean)) {
  timed(`shadowplane ${method} (${cores} workers)`, join(outDir, `shadowplane-${method}.csv`), cores, process.execPath, [...cli, '--method', method, '--workers', String(cores), '--output', join(outDir, `shadowplane-${method}.csv`)]);
}
timed('augurs MSTL(24,168)+AutoETS (1 process)', join(outDir, 'augurs.csv'), 1, process.execPath, ['--import', 'tsx', 'bench/forecast/augurs-m4.ts', trainWide, join(outDir, 'augurs.csv')]);

const haveR = !args.includes('--no-r') && spawnSync('Rscript', ['-e', 'suppressPackageStartupMessages(library(forecast))']).status === 0;
if (haveR) {
  for (const method of opt('r-methods', 'thetaf,ets,stlf,auto.arima').split(',')) {
    timed(`R forecast::${method} (${cores} cores)`, join(outDir, `r-${method}.csv`), cores, 'Rscript', ['bench/forecast/r-peers.R', method, trainWide, join(outDir, `r-${method}.csv`), String(cores)]);
  }
} else {
  process.stderr.write('R forecast package not available: R peers skipped\n');
}

const scored = execFileSync(process.execPath, [scorer, ...runs.map((r) => r.file)], { encoding: 'utf8' });
const byFile = new Map(scored.trim().split('\n').slice(2).map((l) => [l.split('\t')[0], l.split('\t').slice(1)] as const));
const ours = runs[0]?.seconds ?? NaN;
const lines = [
  `M4 Hourly, 414 series, horizon 48 — ${cpus()[0]?.model ?? 'cpu'}, ${availableParallelism()} cores, Node ${process.version}`,
  '',
  '| method | sMAPE | MASE | OWA | MSIS95 | coverage95 % | wall s | cores | time / shadowplane (2 workers) |',
  '|---|---|---|---|---|---|---|---|---|',
  ...runs.map((r) => {
    const s = byFile.get(r.file) ?? ['?', '?', '?', '?', '?'];
    return `| ${r.name} | ${s.join(' | ')} | ${r.seconds.toFixed(1)} | ${r.cores} | ${(r.seconds / ours).toFixed(2)} |`;
  }),
];
const naive2 = scored.trim().split('\n')[1].split('\t');
lines.push(`| Naive2 (reference) | ${naive2.slice(1, 4).join(' | ')} | - | - | - | - | - |`);
const table = lines.join('\n');
console.log(table);
writeFileSync(join(outDir, 'table.md'), `${table}\n`);
process.stderr.write(`outputs in ${outDir}\n`);

