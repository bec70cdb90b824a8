/**
 * Shared helpers of the replay benchmarks: one trace at one cold start for shadowplane, hpa and
 * the oracle, scored on the full scoring window and on its second half (after tuningCut), and the
 * target checks.
 */
import { hpaPolicy, runPolicy, shadowplanePolicy, tuningCut } from '../../src/sim/replay.js';
import type { ScalingPolicyConfig } from '../../src/plan/scaling.js';
import type { ForecasterChoice } from '../../src/sim/replay.js';
import { runOracle, scoreRun, scoreStart } from '../../src/sim/world.js';
import type { ReplayMetrics, RunTrace } from '../../src/sim/world.js';

/** Metrics with the cost relative to the oracle's over the same minutes. */
export type Scored = ReplayMetrics & { readonly cost_x_oracle: number };
/** The three policies over one window. */
export interface WindowResult {
  readonly shadowplane: Scored;
  readonly hpa: Scored;
  readonly oracle: Scored;
}

/** Runs the three policies on `D` and scores the full window and, when asked, the second half. */
export function runSplit(D: readonly number[], delay: number, scaling: ScalingPolicyConfig, secondHalf: boolean, forecaster: ForecasterChoice = 'online', budgetShare?: number): { full: WindowResult; second?: WindowResult; runs: Record<'shadowplane' | 'hpa' | 'oracle', RunTrace>; seconds: number } {
  const oracle = runOracle(D, delay);
  const hpa = runPolicy(D, hpaPolicy(0.7), { delay, target: 0.7 });
  const t0 = performance.now();
  const sp = runPolicy(D, shadowplanePolicy({ delay, scaling, source: forecaster, budgetShare }), { delay, target: 0.7 });
  const seconds = (performance.now() - t0) / 1000;
  const runs = { shadowplane: sp, hpa, oracle };
  const window = (start: number, end: number): WindowResult => {
    const oc = scoreRun(D, oracle.ready, oracle.billed, start, end);
    const s = (r: RunTrace) => {
      const m = scoreRun(D, r.ready, r.billed, start, end);
      return { ...m, cost_x_oracle: m.cost / oc.cost };
    };
    return { shadowplane: s(sp), hpa: s(hpa), oracle: s(oracle) };
  };
  return { full: window(scoreStart(D.length), D.length), second: secondHalf ? window(tuningCut(D.length), D.length) : undefined, runs, seconds };
}

/** The replay targets for one trace (bursty: NASA, Alibaba; the rest smooth). */
export function judge(trace: string, sp: Scored, hpa: Scored): { met: number; checks: number; failed: string[]; costTarget: number; text: string } {
  const bursty = /^(nasa|alibaba)/.test(trace);
  const costTarget = bursty ? 1.25 : 1.15;
  const checks: [string, boolean][] = [
    bursty ? ['under ≤25% of hpa', sp.underprov_time_pct <= 0.25 * hpa.underprov_time_pct] : ['under ≤0.05%', sp.underprov_time_pct <= 0.05],
    [`cost ≤${costTarget}`, sp.cost_x_oracle <= costTarget],
    ['under ≤ hpa', sp.underprov_time_pct <= hpa.underprov_time_pct],
    ['actions ≤ hpa', sp.actions <= hpa.actions],
  ];
  return {
    met: checks.filter(([, ok]) => ok).length,
    checks: checks.length,
    failed: checks.filter(([, ok]) => !ok).map(([n]) => n),
    costTarget,
    text: checks.map(([n, ok]) => `${n}: ${ok ? 'yes' : 'NO'}`).join('; '),
  };
}
