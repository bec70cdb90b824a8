/** `shadowplane stream-bench`: runs one partition-shadowing scenario and prints its figures (last line: one JSON object). */
import type { Command } from 'commander';
import { runScenario } from '../shadows/partitions/scenario.js';
import { oneOf, positiveInt } from './common.js';

/** Registers the subcommand. */
export function register(program: Command): void {
  program
    .command('stream-bench')
    .description('Run a stream partition-shadowing scenario with real worker processes and print its figures')
    .requiredOption('--scenario <name>', 'ramps | crash', oneOf(['ramps', 'crash'] as const))
    .option('--policy <name>', 'shadow | reactive', oneOf(['shadow', 'reactive'] as const), 'shadow')
    .option('--seed <n>', 'random seed (trace offsets, ramp times, keys)', positiveInt, 1)
    .option('--trace <csv>', 'base-load trace (timestamp,value); default $SHADOWPLANE_TRACE, else the shipped examples/data/azure_vm_2019_cpu_5min_excerpt.csv')
    .action(async (opts: { scenario: 'ramps' | 'crash'; policy: 'shadow' | 'reactive'; seed: number; trace?: string }) => {
      const result = await runScenario({ ...opts, progress: (line) => process.stderr.write(`${line}\n`) });
      for (const [k, v] of Object.entries(result)) process.stdout.write(`${k.padEnd(32)} ${typeof v === 'object' ? JSON.stringify(v) : v}\n`);
      process.stdout.write(`${JSON.stringify(result)}\n`);
    });
}
