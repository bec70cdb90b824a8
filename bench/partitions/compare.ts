/**
 * Runs every scenario under both policies, one after the other in one process, and prints a
 * Markdown table. `npx tsx bench/partitions/compare.ts [seed]`
 */
import { runScenario, type ScenarioResult } from '../../src/shadows/partitions/scenario.js';

const seed = Number(process.argv[2] ?? 1);
const rows: ScenarioResult[] = [];
for (const scenario of ['ramps', 'crash'] as const) {
  for (const policy of ['shadow', 'reactive'] as const) {
    const r = await runScenario({ scenario, policy, seed, progress: (l) => process.stderr.write(`${l}\n`) });
    process.stderr.write(`${JSON.stringify(r)}\n`);
    rows.push(r);
  }
}
const cols = ['scenario', 'policy', 'ramps', 'readyBefore90', 'lost', 'duplicated', 'orderViolations', 'lagP99Ms', 'peakUtilisation', 'secondsAbove90', 'moves', 'maxCyclesPerPartitionPer30Min', 'produced'] as const;
process.stdout.write(`| ${cols.join(' | ')} |\n|${cols.map(() => '---').join('|')}|\n`);
for (const r of rows) process.stdout.write(`| ${cols.map((c) => String(r[c])).join(' | ')} |\n`);
