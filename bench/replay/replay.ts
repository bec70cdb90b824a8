/**
 * Autoscaling replay benchmark: every trace in --traces DIR (default: the excerpts in examples/data) at cold starts 5 and 3, for
 * shadowplane (DEFAULT_SCALING_POLICY, one configuration for all traces, chosen on the first half
 * of each scoring window with bench/replay/tune.ts), hpa and the oracle. Reports the held-out
 * second half (minutes [tuningCut, end)) and the full scoring window, checks the targets,
 * and re-scores the shadowplane decisions with an independent referee when $SHADOWPLANE_REPLAY_REFEREE
 * names one (python3). Prints markdown.
 *
 *   npx tsx bench/replay/replay.ts [--traces DIR] [--forecaster online|engine] [--delays 5,3]
 */
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadDemand } from '../../src/sim/trace.js';
import { PACKAGE_ROOT } from '../../src/core/version.js';
import { decisionsCsv } from '../../src/sim/replay.js';
import type { ForecasterChoice } from '../../src/sim/replay.js';
import { DEFAULT_SCALING_POLICY } from '../../src/plan/scaling.js';
import { judge, runSplit } from './split.js';
import type { WindowResult } from './split.js';

const args = process.argv.slice(2);
const arg = (name: string, dflt: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : dflt);
const dir = arg('--traces', join(PACKAGE_ROOT, 'examples', 'data'));
const source = arg('--forecaster', 'online') as ForecasterChoice;
const delays = arg('--delays', '5,3').split(',').map(Number);
const refereeDir = process.env.SHADOWPLANE_REPLAY_REFEREE;
const out = mkdtempSync(join(tmpdir(), 'sp-replay-bench-'));

let python = refereeDir !== undefined;
if (python) {
  try {
    execFileSync('python3', ['--version'], { stdio: 'ignore' });
  } catch {
    python = false;
  }
}
const referee = join(refereeDir ?? '', 'score_decisions.py');

const header = ['| cold start | trace | policy | under-prov time % | unserved % | over-prov % | actions | cost / oracle | targets |', '|---:|---|---|---:|---:|---:|---:|---:|---|'];
const tables: Record<'second' | 'full', string[]> = { second: [...header], full: [...header] };
const notes: string[] = [];
for (const delay of delays) {
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.csv')).sort()) {
    const path = join(dir, file);
    const name = file.replace(/\.csv$/, '');
    const D = await loadDemand(path);
    const r = runSplit(D, delay, DEFAULT_SCALING_POLICY, true, source);
    const add = (rows: string[], w: WindowResult) => {
      const j = judge(name, w.shadowplane, w.hpa);
      for (const p of ['shadowplane', 'hpa', 'oracle'] as const) {
        const m = w[p];
        rows.push(`| ${delay} | ${name} | ${p} | ${m.underprov_time_pct.toFixed(2)} | ${m.unserved_pct.toFixed(3)} | ${m.overprov_pct.toFixed(1)} | ${m.actions} | ${m.cost_x_oracle.toFixed(3)} | ${p === 'shadowplane' ? j.text : ''} |`);
      }
    };
    add(tables.second, r.second!);
    add(tables.full, r.full);
    if (python) {
      const csv = join(out, `${file}.d${delay}.csv`);
      writeFileSync(csv, decisionsCsv(D, r.runs.shadowplane.desired));
      const ref = JSON.parse(execFileSync('python3', [referee, path, csv, '--delay', String(delay), '--json'], { encoding: 'utf8' }));
      const sp = r.full.shadowplane;
      const hpa = r.full.hpa;
      const agree = ref.project.actions === sp.actions && ref.project.cost === sp.cost
        && Math.abs(ref.project.underprov_time_pct - sp.underprov_time_pct) < 1e-9 && ref.hpa.cost === hpa.cost && ref.hpa.actions === hpa.actions;
      notes.push(`referee ${agree ? 'agrees' : 'DISAGREES'} on ${file} at cold start ${delay} (project under ${ref.project.underprov_time_pct.toFixed(3)}%, cost x oracle ${ref.project.cost_x_oracle.toFixed(4)}; hpa ${ref.hpa.underprov_time_pct.toFixed(3)}%); shadowplane replay ${r.seconds.toFixed(1)} s`);
    }
    process.stderr.write(`done ${file} delay ${delay}\n`);
  }
}
console.log(`### Held-out second half of each scoring window (forecaster: ${source})\n`);
console.log(tables.second.join('\n'));
console.log(`\n### Full scoring window (forecaster: ${source})\n`);
console.log(tables.full.join('\n'));
console.log();
console.log(python ? notes.map((n) => `- ${n}`).join('\n') : '- referee cross-check skipped: SHADOWPLANE_REPLAY_REFEREE not set or python3 not found');
