/**
 * The Numenta Anomaly Benchmark (v1.1 rules) on the labelled univariate series of `nab-dev`, run
 * as a user would: the built CLI (`node dist/src/cli/main.js detect`, so run `npm run build`
 * first) on every data file, one process per file, then the independent NAB scorer
 * (`nab-score/nab_score.py`) with the corpus-optimised threshold and with the detector's fixed
 * default threshold (what a live system alarms at before any label is seen).
 *
 * The data folder comes from `--data DIR` or SHADOWPLANE_NAB_DIR (the nab-dev files of the development data)
 * beside the repository; the scorer from `--scorer FILE` or SHADOWPLANE_NAB_SCORER, else
 * the NAB re-implementation given by `--scorer FILE` or SHADOWPLANE_NAB_SCORER (nab_score.py of the development tools).
 *
 * Run: npm run build && npx tsx bench/detect/nab.ts [--data DIR] [--threshold 0.5] [--keep DIR]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const args = process.argv.slice(2);
function flag(name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}
/** A path the bench needs: from its flag or variable, else it stops naming both. */
function required(name: string, variable: string, what: string): string {
  const value = flag(name) ?? process.env[variable];
  if (!value) {
    process.stderr.write(`bench/detect/nab.ts needs ${what}: pass ${name} PATH or set ${variable}\n`);
    process.exit(2);
  }
  return resolve(value);
}
const dataDir = required('--data', 'SHADOWPLANE_NAB_DIR', 'the folder of NAB series (nab-dev)');
const scorer = required('--scorer', 'SHADOWPLANE_NAB_SCORER', "the NAB scorer (nab_score.py)");
/** The CLI's default alert threshold (`detect --threshold`, the live loop's). */
const threshold = Number(flag('--threshold') ?? 0.5);
const keep = flag('--keep');
const cli = join(repo, 'dist', 'src', 'cli', 'main.js');

/** NAB's shipped results rescored on nab-dev (its README), for comparison. */
const LEADERS: [string, number, number, number][] = [
  ['ARTime', 78.72, 69.17, 83.92],
  ['contextOSE', 73.56, 71.53, 76.08],
  ['Numenta HTM', 70.19, 64.94, 74.47],
  ['KNN-CAD', 63.19, 44.38, 71.06],
  ['windowed Gaussian', 47.33, 23.1, 57.0],
  ['random', 18.88, 7.89, 30.82],
];

function csvFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? csvFiles(p) : name.endsWith('.csv') ? [p] : [];
  });
}

interface Scored {
  scores: { standard: number; reward_low_FP_rate: number; reward_low_FN_rate: number };
  thresholds: Record<string, number>;
}

function score(results: string, extra: string[]): Scored {
  const out = execFileSync('python3', [scorer, results, 'shadowplane', '--nab', dataDir, ...extra], { encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').at(-1)!) as Scored;
}

const results = keep ? resolve(keep) : mkdtempSync(join(tmpdir(), 'sp-nab-'));
try {
  const files = csvFiles(join(dataDir, 'data')).sort();
  let rows = 0, ms = 0;
  const notes: string[] = [];
  for (const file of files) {
    const rel = relative(join(dataDir, 'data'), file);
    const out = join(results, rel);
    mkdirSync(dirname(out), { recursive: true });
    const start = process.hrtime.bigint();
    const run = spawnSync(process.execPath, [cli, 'detect', '--input', file, '--output', out, '--threshold', String(threshold)], { encoding: 'utf8' });
    ms += Number(process.hrtime.bigint() - start) / 1e6;
    if (run.status !== 0) {
      // A refused file counts as no detection (score 0 on every row), as NAB scores a silent detector.
      const n = readFileSync(file, 'utf8').trim().split('\n').length - 1;
      writeFileSync(out, 'anomaly_score\n' + '0\n'.repeat(n));
      notes.push(`${rel}: REFUSED, scored as no detection: ${run.stderr.trim().split('\n').join(' ')}`);
      continue;
    }
    const m = /detect: (\d+) rows/.exec(run.stderr);
    rows += m ? Number(m[1]) : 0;
    const irregular = run.stderr.split('\n').filter((l) => l.startsWith('detect: ') && !/ rows \(/.test(l));
    if (irregular.length) notes.push(`${rel}: ${irregular.map((l) => l.slice(8)).join('; ')}`);
  }
  const best = score(results, []);
  const fixed = score(results, ['--threshold', String(threshold)]);
  const row = (name: string, s: Scored['scores']) => `| ${name} | ${s.standard.toFixed(2)} | ${s.reward_low_FP_rate.toFixed(2)} | ${s.reward_low_FN_rate.toFixed(2)} |`;
  console.log(`NAB v1.1 on ${files.length} files of ${relative(process.cwd(), dataDir) || dataDir}\n`);
  console.log('| detector | standard | low FP | low FN |');
  console.log('|---|--:|--:|--:|');
  for (const [name, a, b, c] of LEADERS) console.log(row(name, { standard: a, reward_low_FP_rate: b, reward_low_FN_rate: c }));
  const t = best.thresholds;
  console.log(row(`**shadowplane detect, optimised threshold** (${t.standard.toFixed(3)} / ${t.reward_low_FP_rate.toFixed(3)} / ${t.reward_low_FN_rate.toFixed(3)})`, best.scores));
  console.log(row(`**shadowplane detect, default threshold ${threshold}**`, fixed.scores));
  const ratio = fixed.scores.standard / best.scores.standard;
  console.log(`\ndefault / optimised standard score: ${(100 * ratio).toFixed(1)} % (target >= 90 %: ${ratio >= 0.9 ? 'met' : 'MISSED'})`);
  console.log(`throughput of the CLI (process start, CSV in and out included): ${rows} rows in ${(ms / 1000).toFixed(1)} s = ${Math.round(rows / (ms / 1000)).toLocaleString('en-US')} rows/s; load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  if (notes.length) console.log(`\nfiles refused and input irregularities reported by detect:\n${notes.map((n) => `- ${n}`).join('\n')}`);
} finally {
  if (!keep) rmSync(results, { recursive: true, force: true });
}
