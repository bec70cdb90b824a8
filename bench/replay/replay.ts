/**
 * Autoscaling replay benchmark: every trace in shared/data/traces at cold starts 5 and 3, for
 * shadowplane (default configuration, one for all traces), hpa and the oracle, with the targets of
 * issue 6 checked, and the shadowplane decisions re-scored by the shared python referee when
 * python3 is available. Prints a markdown table.
 *
 *   npx tsx bench/replay/replay.ts [--traces DIR]
 */
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadDemand } from '../../src/sim/trace.js';
import { decisionsCsv, replay } from '../../src/sim/replay.js';
import type { PolicyName } from '../../src/sim/replay.js';

const args = process.argv.slice(2);
const arg = (name: string, dflt: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : dflt);
const shared = new URL('../../../shared/', import.meta.url.includes('/dist/') ? new URL('../', import.meta.url) : import.meta.url).pathname;
const dir = arg('--traces', join(shared, 'data/traces'));
const referee = join(shared, 'tools/replay-referee/score_decisions.py');
const bursty = ['nasa', 'alibaba'];
const out = mkdtempSync(join(tmpdir(), 'sp-replay-bench-'));

let python = true;
try {
  execFileSync('python3', ['--version'], { stdio: 'ignore' });
} catch {
  python = false;
}

const rows: string[] = ['| cold start | trace | policy | under-prov time % | unserved % | over-prov % | actions | cost / oracle | replay s | targets |', '|---:|---|---|---:|---:|---:|---:|---:|---:|---|'];
const notes: string[] = [];
for (const delay of [5, 3]) {
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.csv')).sort()) {
    const path = join(dir, file);
    const D = await loadDemand(path);
    const res: Record<string, ReturnType<typeof replay>> = {};
    const secs: Record<string, number> = {};
    for (const p of ['shadowplane', 'hpa', 'oracle'] as PolicyName[]) {
      const t0 = performance.now();
      res[p] = replay(D, p, { delay, target: 0.7 });
      secs[p] = (performance.now() - t0) / 1000;
    }
    const sp = res.shadowplane.metrics;
    const hpa = res.hpa.metrics;
    const isBursty = bursty.some((b) => file.startsWith(b));
    const checks = isBursty
      ? [`under ≤25% of hpa: ${sp.underprov_time_pct <= 0.25 * hpa.underprov_time_pct ? 'yes' : 'NO'}`, `cost ≤1.25: ${sp.cost_x_oracle <= 1.25 ? 'yes' : 'NO'}`]
      : [`under ≤0.05%: ${sp.underprov_time_pct <= 0.05 ? 'yes' : 'NO'}`, `cost ≤1.15: ${sp.cost_x_oracle <= 1.15 ? 'yes' : 'NO'}`];
    checks.push(`under ≤ hpa: ${sp.underprov_time_pct <= hpa.underprov_time_pct ? 'yes' : 'NO'}`, `actions ≤ hpa: ${sp.actions <= hpa.actions ? 'yes' : 'NO'}`);
    for (const p of ['shadowplane', 'hpa', 'oracle']) {
      const m = res[p].metrics;
      rows.push(`| ${delay} | ${file.replace(/\.csv$/, '')} | ${p} | ${m.underprov_time_pct.toFixed(2)} | ${m.unserved_pct.toFixed(3)} | ${m.overprov_pct.toFixed(1)} | ${m.actions} | ${m.cost_x_oracle.toFixed(3)} | ${secs[p].toFixed(2)} | ${p === 'shadowplane' ? checks.join('; ') : ''} |`);
    }
    if (python) {
      const csv = join(out, `${file}.d${delay}.csv`);
      writeFileSync(csv, decisionsCsv(D, res.shadowplane.run.desired));
      const ref = JSON.parse(execFileSync('python3', [referee, path, csv, '--delay', String(delay), '--json'], { encoding: 'utf8' }));
      const agree = ref.project.actions === sp.actions && ref.project.cost === sp.cost && Math.abs(ref.project.underprov_time_pct - sp.underprov_time_pct) < 1e-9 && ref.hpa.cost === hpa.cost && ref.hpa.actions === hpa.actions;
      notes.push(`referee ${agree ? 'agrees' : 'DISAGREES'} on ${file} at cold start ${delay} (project under ${ref.project.underprov_time_pct.toFixed(3)}%, cost x oracle ${ref.project.cost_x_oracle.toFixed(4)}; hpa ${ref.hpa.underprov_time_pct.toFixed(3)}%)`);
    }
    process.stderr.write(`done ${file} delay ${delay}\n`);
  }
}
console.log(rows.join('\n'));
console.log();
console.log(python ? notes.map((n) => `- ${n}`).join('\n') : '- python3 not found: referee cross-check skipped');
