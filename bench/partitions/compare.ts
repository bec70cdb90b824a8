/**
 * Runs every scenario under both policies for each seed, one after the other in one process, and
 * prints a Markdown table per seed and one of medians over the seeds (with the 1-minute load
 * average of the machine during each run). Per-ramp timelines go to stderr.
 *
 *     npx tsx bench/partitions/compare.ts [seeds]     seeds: `1`, `1,3,5` or `1..5` (default 1)
 */
import { loadavg } from 'node:os';
import { runScenario, type ScenarioResult } from '../../src/shadows/partitions/scenario.js';

function parseSeeds(arg: string): number[] {
  const range = /^(\d+)\.\.(\d+)$/.exec(arg);
  const seeds = range ? Array.from({ length: Number(range[2]) - Number(range[1]) + 1 }, (_, i) => Number(range[1]) + i) : arg.split(',').map(Number);
  if (seeds.length === 0 || seeds.some((s) => !Number.isInteger(s) || s < 1)) throw new RangeError(`seeds: ${JSON.stringify(arg)} must be N, N,M,... or N..M with positive integers`);
  return seeds;
}

type Row = ScenarioResult & { load1: number };
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const seeds = parseSeeds(process.argv[2] ?? '1');
const rows: Row[] = [];
for (const seed of seeds) {
  for (const scenario of ['ramps', 'crash'] as const) {
    for (const policy of ['shadow', 'reactive'] as const) {
      const before = loadavg()[0];
      const r = await runScenario({ scenario, policy, seed, progress: (l) => process.stderr.write(`${l}\n`) });
      const row = { ...r, load1: Math.round(((before + loadavg()[0]) / 2) * 100) / 100 };
      process.stderr.write(`${JSON.stringify(row)}\n`);
      rows.push(row);
    }
  }
}

const cols = ['scenario', 'policy', 'seed', 'ramps', 'readyBefore90', 'lost', 'duplicated', 'orderViolations', 'lagP99Ms', 'peakUtilisation', 'secondsAbove90', 'moves', 'failovers', 'maxCyclesPerPartitionPer30Min', 'produced', 'load1'] as const;
const table = (rs: readonly object[], cs: readonly string[]): string =>
  `| ${cs.join(' | ')} |\n|${cs.map(() => '---').join('|')}|\n${rs.map((r) => `| ${cs.map((c) => String((r as Record<string, unknown>)[c])).join(' | ')} |`).join('\n')}\n`;
process.stdout.write(`Per seed:\n\n${table(rows, cols)}\n`);

const numeric = cols.filter((c) => c !== 'scenario' && c !== 'policy' && c !== 'seed');
const medians: Record<string, unknown>[] = [];
for (const scenario of ['ramps', 'crash']) {
  for (const policy of ['shadow', 'reactive']) {
    const rs = rows.filter((r) => r.scenario === scenario && r.policy === policy);
    medians.push({ scenario, policy, seeds: rs.length, ...Object.fromEntries(numeric.map((c) => [c, median(rs.map((r) => r[c] as number))])) });
  }
}
process.stdout.write(`Medians over seeds ${seeds.join(',')}:\n\n${table(medians, ['scenario', 'policy', 'seeds', ...numeric])}\n`);

const lagRatios = (scenario: string) => seeds.map((seed) => {
  const get = (policy: string) => rows.find((r) => r.scenario === scenario && r.policy === policy && r.seed === seed)!;
  return { seed, lagRatio: Math.round((get('shadow').lagP99Ms / Math.max(1, get('reactive').lagP99Ms)) * 100) / 100 };
});
for (const scenario of ['ramps', 'crash']) {
  const ratios = lagRatios(scenario);
  process.stdout.write(`${scenario}, shadow vs reactive lag p99 ratio per seed (target <= 0.5): ${ratios.map((r) => `seed ${r.seed} ${r.lagRatio}`).join(', ')}; median ${median(ratios.map((r) => r.lagRatio))}\n`);
}
const ready = rows.filter((r) => r.scenario === 'ramps' && r.policy === 'shadow');
process.stdout.write(`ramps, shadow caught up before 90 %: ${ready.reduce((n, r) => n + r.readyBefore90, 0)} of ${ready.reduce((n, r) => n + r.ramps, 0)} ramps (target >= 95 %)\n`);
