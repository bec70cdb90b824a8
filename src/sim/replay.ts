/**
 * The autoscaling replay: runs a policy minute by minute on a VirtualClock against the world of
 * docs/replay-model.md and scores it. A policy only ever receives the demand observed so far
 * (the runner pushes D[t] into the policy's view after minute t is served), so decisions are
 * causal by construction; test/sim checks it the way docs/replay-model.md prescribes.
 */
import { VirtualClock } from '../core/clock.js';
import { DEFAULT_SCALING_POLICY, decideScaling, initialScalingMemory } from '../plan/scaling.js';
import type { ScalingDecision, ScalingMemory, ScalingPolicyConfig } from '../plan/scaling.js';
import { DEFAULT_ONLINE_FORECASTER, OnlineForecaster } from '../forecast/online.js';
import type { OnlineForecasterConfig } from '../forecast/online.js';
import { EnginePoint } from '../forecast/engine-point.js';
import { Fleet, HpaReference, LIMIT, initialReplicas, runOracle, scoreRun, scoreStart } from './world.js';
import type { ReplayMetrics, RunTrace } from './world.js';

const MINUTE_MS = 60_000;

/** What a policy sees at the end of minute `minute`. */
export interface ReplayObservation {
  readonly minute: number;
  /** Demand observed so far, D[0..minute]; the policy must not keep a reference past the call. */
  readonly observed: readonly number[];
  readonly ready: number;
  readonly booting: number;
  /** Virtual time in ms (end of the minute). */
  readonly nowMs: number;
}

/** A causal replay policy: returns the replica count to set at the end of each minute, called in order. */
export interface ReplayPolicy {
  decide(obs: ReplayObservation): number;
}

/** Replay parameters. */
export interface ReplayOptions {
  /** Cold start in minutes (DELAY). */
  readonly delay: number;
  /** Utilisation target of the world's start and of the hpa reference (TARGET, 0.7). */
  readonly target: number;
}

/**
 * Runs `policy` over `demand` on a VirtualClock ticking once per minute. Returns per-minute ready,
 * billed and desired counts. The policy's answers are rounded and floored at 0, as the referee does.
 */
export function runPolicy(demand: readonly number[], policy: ReplayPolicy, opts: ReplayOptions): RunTrace {
  const clock = new VirtualClock(0);
  const fleet = new Fleet(initialReplicas(demand[0], opts.target), opts.delay);
  const observed: number[] = [];
  const ready: number[] = [];
  const billed: number[] = [];
  const desired: number[] = [];
  let t = 0;
  // minute t is served during [t, t+1) minutes of virtual time; the policy acts at its end
  const tick = () => {
    fleet.activate(t);
    ready.push(fleet.ready);
    billed.push(fleet.spec);
    observed.push(demand[t]);
    const n = Math.max(0, Math.round(policy.decide({ minute: t, observed, ready: fleet.ready, booting: fleet.booting, nowMs: clock.now() })));
    desired.push(n);
    fleet.setSpec(t, n);
    t++;
    if (t < demand.length) clock.setTimer(MINUTE_MS, tick);
  };
  clock.setTimer(MINUTE_MS, tick);
  clock.advance(MINUTE_MS * demand.length);
  return { ready, billed, desired };
}

/** The hpa reference as a replay policy. */
export function hpaPolicy(target: number): ReplayPolicy {
  const hpa = new HpaReference(target);
  return { decide: (o) => hpa.decide(o.minute, o.observed[o.observed.length - 1], o.ready, o.ready + o.booting) };
}

/** Options of the shadowplane policy in the replay. */
export interface ShadowplanePolicyOptions {
  readonly delay: number;
  readonly scaling?: ScalingPolicyConfig;
  readonly forecaster?: Partial<OnlineForecasterConfig>;
  /** Receives every decision (e.g. to write a decision log); optional. */
  readonly onDecision?: (minute: number, decision: ScalingDecision) => void;
  /** Point forecasts: the online level + daily shape (default) or the src/forecast engine refitted daily. */
  readonly source?: ForecasterChoice;
  /**
   * Action budget (only with `scaling.actionCost > 0`): the hpa reference is run alongside on the
   * same observed demand with its own fleet, and the action price is raised while this policy's
   * actions approach `budgetShare` of the reference's (×`budgetStep` per tick, up to
   * `budgetMaxFactor`) and lowered again when well below. Default true.
   */
  readonly actionBudget?: boolean;
  /** Share of the reference's actions the budget aims at (default ACTION_BUDGET.budgetShare). */
  readonly budgetShare?: number;
}

/** Action-budget controller constants (see ShadowplanePolicyOptions.actionBudget). */
export const ACTION_BUDGET = { budgetShare: 0.8, budgetStep: 1.02, budgetMaxFactor: 64 } as const;

/** Which point forecaster feeds the conformal intervals of the replay's shadowplane policy. */
export type ForecasterChoice = 'online' | 'engine';

/**
 * The project's policy in the replay: the online forecaster feeds `decideScaling` (src/plan), the
 * same pure function the live loop calls; one replica serves LIMIT demand.
 */
export function shadowplanePolicy(opts: ShadowplanePolicyOptions): ReplayPolicy {
  const scaling = opts.scaling ?? DEFAULT_SCALING_POLICY;
  const lead = opts.delay + 1;
  const horizon = Math.max(lead, scaling.scaleUpLookaheadSteps, scaling.scaleInLookaheadSteps, scaling.actionCost > 0 ? scaling.scaleInHorizonSteps : 0);
  const forecaster = new OnlineForecaster({ ...DEFAULT_ONLINE_FORECASTER, ...opts.forecaster, horizon, errorHorizon: lead }, opts.source === 'engine' ? new EnginePoint() : undefined);
  let memory: ScalingMemory = initialScalingMemory(scaling);
  const budget = opts.actionBudget !== false && scaling.actionCost > 0;
  const shadowHpa = new HpaReference(0.7);
  const shadowFleet = new Fleet(0, opts.delay);
  let hpaActions = 0;
  let ownActions = 0;
  let lastHpaSpec = -1;
  let factor = 1;
  return {
    decide(o) {
      const last = o.observed[o.observed.length - 1];
      forecaster.observe(last);
      let config = scaling;
      if (budget) {
        // The reference's fleet starts where the real one started, and counts its own changes.
        if (o.minute === 0) shadowFleet.setSpec(-1 - opts.delay, o.ready + o.booting);
        shadowFleet.activate(o.minute);
        const spec = shadowHpa.decide(o.minute, last, shadowFleet.ready, shadowFleet.spec);
        if (lastHpaSpec >= 0 && spec !== lastHpaSpec) hpaActions++;
        lastHpaSpec = spec;
        shadowFleet.setSpec(o.minute, spec);
        const overBudget = ownActions + 1 > (opts.budgetShare ?? ACTION_BUDGET.budgetShare) * hpaActions;
        factor = overBudget ? Math.min(ACTION_BUDGET.budgetMaxFactor, factor * ACTION_BUDGET.budgetStep) : Math.max(1, factor / ACTION_BUDGET.budgetStep);
        config = { ...scaling, actionCost: scaling.actionCost * factor };
      }
      const decision = decideScaling(
        {
          step: o.minute,
          demand: o.observed,
          ready: o.ready,
          booting: o.booting,
          capacityPerUnit: LIMIT,
          provisioningDelaySteps: opts.delay,
          forecast: forecaster.forecast() ?? undefined,
          memory,
        },
        config,
      );
      if (decision.desiredUnits !== o.ready + o.booting) ownActions++;
      memory = decision.memory;
      opts.onDecision?.(o.minute, decision);
      return decision.desiredUnits;
    },
  };
}

/** Policies the replay command knows. */
export type PolicyName = 'shadowplane' | 'hpa' | 'oracle';

/** One policy's run and its metrics (cost_x_oracle relative to the oracle of the same world). */
export interface PolicyResult {
  readonly run: RunTrace;
  readonly metrics: ReplayMetrics & { readonly cost_x_oracle: number };
}

/** Runs one named policy (the oracle is computed in hindsight) and scores it against the oracle. */
export function replay(
  demand: readonly number[], name: PolicyName, opts: ReplayOptions & { scaling?: ScalingPolicyConfig; forecaster?: Partial<OnlineForecasterConfig> },
): PolicyResult {
  const oracle = runOracle(demand, opts.delay);
  const oracleCost = scoreRun(demand, oracle.ready, oracle.billed).cost;
  const run =
    name === 'oracle'
      ? oracle
      : runPolicy(demand, name === 'hpa' ? hpaPolicy(opts.target) : shadowplanePolicy({ delay: opts.delay, scaling: opts.scaling, forecaster: opts.forecaster }), opts);
  const m = scoreRun(demand, run.ready, run.billed);
  return { run, metrics: { ...m, cost_x_oracle: m.cost / oracleCost } };
}

/** The decisions file of docs/replay-model.md: header `minute,demand,desired`, one row per minute. */
export function decisionsCsv(demand: readonly number[], desired: readonly number[]): string {
  const rows = ['minute,demand,desired'];
  for (let t = 0; t < demand.length; t++) rows.push(`${t},${demand[t]},${desired[t]}`);
  return rows.join('\n') + '\n';
}

/**
 * The honest-protocol cut of a trace of `length` minutes: the middle of its scoring window. Tuning
 * sees only minutes [0, cut) (scored from scoreStart); results are reported on [cut, length) and on
 * the full window. Never throws.
 */
export function tuningCut(length: number): number {
  const start = scoreStart(length);
  return start + Math.floor((length - start) / 2);
}
