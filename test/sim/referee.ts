/**
 * Test helper: the repository's shipped trace excerpts, and the independent replay referee
 * (python3, standard library) when one is given through SHADOWPLANE_REPLAY_REFEREE.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../src/core/version.js';

/** The trace excerpts shipped with the repository (examples/data/README.md). */
export const TRACES = join(PACKAGE_ROOT, 'examples', 'data');
/** NASA HTTP requests per minute, 4 days (1-minute steps). */
export const NASA = join(TRACES, 'nasa_http_1995-07_excerpt.csv');
/** Azure VM CPU, 4 days (5-minute steps). */
export const AZURE = join(TRACES, 'azure_vm_2019_cpu_5min_excerpt.csv');

/** Metrics as the referee prints them. */
export interface RefereeMetrics {
  underprov_time_pct: number;
  unserved_pct: number;
  overprov_pct: number;
  actions: number;
  cost: number;
  cost_x_oracle: number;
}

/** Why the referee checks are skipped: the referee is an outside tool, run only when given. */
export const REFEREE_SKIP = 'the independent replay referee is not part of the repository: set SHADOWPLANE_REPLAY_REFEREE=DIR (holding sim.py and score_decisions.py, python3) to run this check';

/**
 * The referee given by SHADOWPLANE_REPLAY_REFEREE, or undefined when none is given. A referee
 * that is given but cannot run (missing scripts, no python3) throws: a check asked for is never skipped.
 */
export function referee(): {
  simulate: (trace: string, delay: number) => Record<'hpa' | 'oracle', RefereeMetrics>;
  scoreDecisions: (trace: string, decisions: string, delay: number) => Record<'project' | 'hpa' | 'oracle', RefereeMetrics>;
} | undefined {
  const dir = process.env.SHADOWPLANE_REPLAY_REFEREE;
  if (!dir) return undefined;
  if (!existsSync(join(dir, 'sim.py'))) throw new Error(`SHADOWPLANE_REPLAY_REFEREE=${dir} holds no sim.py`);
  execFileSync('python3', ['--version'], { stdio: 'ignore' });
  return {
    simulate(trace, delay) {
      const code = `import sys,json;sys.path.insert(0,${JSON.stringify(dir)});import sim
D=sim.demand_from_trace(${JSON.stringify(trace)},20);s=sim.DAY if len(D)>=2*sim.DAY else 0
c,b=sim.run_feedback(D,${delay},0.7);h=sim.score(D,c,b,s);c,b=sim.run_oracle(D,${delay});o=sim.score(D,c,b,s)
h['cost_x_oracle']=h['cost']/o['cost'];o['cost_x_oracle']=1.0;print(json.dumps(dict(hpa=h,oracle=o)))`;
      return JSON.parse(execFileSync('python3', ['-c', code], { encoding: 'utf8' }));
    },
    scoreDecisions(trace, decisions, delay) {
      return JSON.parse(execFileSync('python3', [join(dir, 'score_decisions.py'), trace, decisions, '--delay', String(delay), '--json'], { encoding: 'utf8' }));
    },
  };
}
