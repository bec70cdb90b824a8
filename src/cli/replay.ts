/**
 * `shadowplane replay`: runs a scaling policy minute by minute on a virtual clock against the
 * world of docs/replay-model.md, writes the `minute,demand,desired` decisions file and prints
 * the metrics (underprov_time_pct, unserved_pct, overprov_pct, actions, cost, cost_x_oracle).
 */
import { writeFile } from 'node:fs/promises';
import { InvalidArgumentError, type Command } from 'commander';
import { checkWritable, positiveInt } from './common.js';
import { ShadowplaneError } from '../core/errors.js';
import { loadDemand } from '../sim/trace.js';
import { decisionsCsv, replay, type PolicyName } from '../sim/replay.js';

const POLICY_NAMES: readonly PolicyName[] = ['shadowplane', 'hpa', 'oracle'];

function policyName(v: string): PolicyName {
  if (!(POLICY_NAMES as readonly string[]).includes(v)) throw new InvalidArgumentError(`must be one of ${POLICY_NAMES.join(', ')}`);
  return v as PolicyName;
}

function targetUtilisation(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || n > 1) throw new InvalidArgumentError('must be a number in (0, 1]');
  return n;
}

/** Registers the subcommand. */
export function register(program: Command): void {
  program
    .command('replay')
    .description('Replay a demand trace against the autoscaling world of docs/replay-model.md and print the metrics')
    .requiredOption('--trace <file>', 'trace CSV with header timestamp,value (seconds)')
    .requiredOption('--out <file>', 'decisions CSV to write (minute,demand,desired)')
    .option('--cold-start <minutes>', 'provisioning delay of a replica in minutes', positiveInt, 5)
    .option('--target <fraction>', 'utilisation target of the world start and of the hpa reference', targetUtilisation, 0.7)
    .option('--policy <name>', `policy: ${POLICY_NAMES.join('|')}`, policyName, 'shadowplane' as PolicyName)
    .option('--json', 'print the metrics as one JSON object')
    .action(async (opts: { trace: string; out: string; coldStart: number; target: number; policy: PolicyName; json?: boolean }) => {
      checkWritable(opts.out, '--out');
      const demand = await loadDemand(opts.trace);
      const result = replay(demand, opts.policy, { delay: opts.coldStart, target: opts.target });
      try {
        await writeFile(opts.out, decisionsCsv(demand, result.run.desired));
      } catch (err) {
        throw new ShadowplaneError('SHADOWPLANE_ERR_OUTPUT_FILE', `cannot write ${opts.out}: ${(err as Error).message}`, [{ path: '--out', message: 'must be a writable file path' }]);
      }
      const m = result.metrics;
      if (opts.json) {
        process.stdout.write(JSON.stringify({ policy: opts.policy, cold_start: opts.coldStart, trace_minutes: demand.length, ...m }) + '\n');
      } else {
        process.stdout.write(
          `policy=${opts.policy} cold_start=${opts.coldStart} minutes=${demand.length} scored=${m.minutes}\n` +
            `underprov_time_pct=${m.underprov_time_pct.toFixed(3)} unserved_pct=${m.unserved_pct.toFixed(4)} overprov_pct=${m.overprov_pct.toFixed(2)} ` +
            `actions=${m.actions} cost=${m.cost} cost_x_oracle=${m.cost_x_oracle.toFixed(4)}\n`,
        );
      }
    });
}
