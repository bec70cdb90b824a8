/**
 * Tuning sweep of the scaling policy on the FIRST half of every trace's scoring window (minutes
 * [scoreStart, mid)), at cold starts 5 and 3. Each configuration is a JSON object of
 * ScalingPolicyConfig overrides, plus `budgetShare` of the replay's action budget (one per line of --grid FILE, or --config JSON once); the replay
 * runs on the trace cut at `mid`, so nothing after `mid` is seen, neither by the policy nor by the
 * scoring. Prints one JSON line per configuration: per-trace metrics and the target checks.
 *
 *   npx tsx bench/replay/tune.ts --config '{"actionCost":200}'
 *   npx tsx bench/replay/tune.ts --grid grid.jsonl [--shard 0/2]
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadDemand } from '../../src/sim/trace.js';
import { PACKAGE_ROOT } from '../../src/core/version.js';
import { DEFAULT_SCALING_POLICY } from '../../src/plan/scaling.js';
import type { ScalingPolicyConfig } from '../../src/plan/scaling.js';
import { tuningCut } from '../../src/sim/replay.js';
import { judge, runSplit } from './split.js';

const args = process.argv.slice(2);
const arg = (name: string, dflt: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : dflt);
const dir = arg('--traces', join(PACKAGE_ROOT, 'examples', 'data'));
const [shard, shards] = arg('--shard', '0/1').split('/').map(Number);
const configs: Partial<ScalingPolicyConfig>[] = args.includes('--grid')
  ? readFileSync(arg('--grid', ''), 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l))
  : [JSON.parse(arg('--config', '{}'))];
const delays = arg('--delays', '5,3').split(',').map(Number);

const traces: [string, number[]][] = [];
for (const file of readdirSync(dir).filter((f) => f.endsWith('.csv')).sort()) {
  const D = await loadDemand(join(dir, file));
  traces.push([file.replace(/\.csv$/, ''), D.slice(0, tuningCut(D.length))]);
}
configs.forEach((over, i) => {
  if (i % shards !== shard) return;
  const { budgetShare, ...rest } = over as Partial<ScalingPolicyConfig> & { budgetShare?: number };
  const scaling = { ...DEFAULT_SCALING_POLICY, ...rest };
  const per: Record<string, unknown> = {};
  let met = 0;
  let checks = 0;
  let costExcess = 0;
  for (const delay of delays) {
    for (const [name, D] of traces) {
      const r = runSplit(D, delay, scaling, false, 'online', budgetShare).full;
      const j = judge(name, r.shadowplane, r.hpa);
      met += j.met;
      checks += j.checks;
      costExcess += Math.max(0, r.shadowplane.cost_x_oracle - j.costTarget);
      per[`${name}@${delay}`] = { under: +r.shadowplane.underprov_time_pct.toFixed(3), hpaUnder: +r.hpa.underprov_time_pct.toFixed(3), actions: r.shadowplane.actions, hpaActions: r.hpa.actions, cost: +r.shadowplane.cost_x_oracle.toFixed(3), failed: j.failed };
    }
  }
  console.log(JSON.stringify({ config: over, met, checks, costExcess: +costExcess.toFixed(3), per }));
});
