/** Test helper: runs the shared replay referee (python3, standard library) when it is installed. */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** Where the shared traces and the referee live (relative to the repository's parent). */
export const SHARED = process.env.SHADOWPLANE_SHARED ?? new URL('../../../shared/', new URL('.', import.meta.url).pathname.includes('/dist/') ? new URL('../', import.meta.url) : import.meta.url).pathname;
export const TRACES = `${SHARED}data/traces`;
const REFEREE = `${SHARED}tools/replay-referee`;

/** Metrics as the referee prints them. */
export interface RefereeMetrics {
  underprov_time_pct: number;
  unserved_pct: number;
  overprov_pct: number;
  actions: number;
  cost: number;
  cost_x_oracle: number;
}

/** The referee, if python3 and its scripts are present. */
export function referee(): {
  available: boolean;
  simulate: (trace: string, delay: number) => Record<'hpa' | 'oracle', RefereeMetrics>;
  scoreDecisions: (trace: string, decisions: string, delay: number) => Record<'project' | 'hpa' | 'oracle', RefereeMetrics>;
} {
  let available = existsSync(`${REFEREE}/sim.py`);
  if (available) {
    try {
      execFileSync('python3', ['--version'], { stdio: 'ignore' });
    } catch {
      available = false;
    }
  }
  return {
    available,
    simulate(trace, delay) {
      const code = `import sys,json;sys.path.insert(0,${JSON.stringify(REFEREE)});import sim
D=sim.demand_from_trace(${JSON.stringify(trace)},20);s=sim.DAY if len(D)>=2*sim.DAY else 0
c,b=sim.run_feedback(D,${delay},0.7);h=sim.score(D,c,b,s);c,b=sim.run_oracle(D,${delay});o=sim.score(D,c,b,s)
h['cost_x_oracle']=h['cost']/o['cost'];o['cost_x_oracle']=1.0;print(json.dumps(dict(hpa=h,oracle=o)))`;
      return JSON.parse(execFileSync('python3', ['-c', code], { encoding: 'utf8' }));
    },
    scoreDecisions(trace, decisions, delay) {
      return JSON.parse(execFileSync('python3', [`${REFEREE}/score_decisions.py`, trace, decisions, '--delay', String(delay), '--json'], { encoding: 'utf8' }));
    },
  };
}
