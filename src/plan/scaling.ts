/**
 * The scaling policy: forecast-driven scale-up with pre-allocation and a reactive path, plus
 * trigger refinement. Pure: the same function decides in the live loop and in the replay; all
 * state it needs from one tick to the next travels in `ScalingView.memory` and comes back in
 * `ScalingDecision.memory`.
 *
 * One tick:
 *  1. needs from a capacity model: units = demand quantile / capacity per unit / target utilisation,
 *     for the forecast at every step until capacity launched now would be ready (pre-allocation with
 *     a lead time equal to the provisioning delay) and for the demand just observed;
 *  2. proactive when the forecast need exceeds the current units while current use is below
 *     `proactiveBelowUse` (80 %; above it the scale-up is still applied, labelled busy); reactive
 *     when current use exceeds `reactiveAboveUse` or the forecast is missing or thin;
 *  3. behavior, each step recorded: scale-in tolerance, stabilization (up fast, down slow: the
 *     maximum recommendation of the window), rate limits, min/max;
 *  4. trigger refinement: the headroom rises when under-provisioning is seen or the forecast's upper
 *     bound is missed more often than its nominal level allows, and decays slowly otherwise,
 *     always within [headroomMin, headroomMax].
 * `calculateScaling` is the calculator (1, 2 and 4: the recommendation); `BEHAVIOR_STAGES` apply 3
 * in order, as the Kubernetes HPA separates its replica calculator from its behaviors.
 */
import type { Forecast } from '../model/forecast.js';

/** Stable reason codes of a scaling decision. */
export const ScalingReason = {
  /** The forecast need at the moment new capacity would be ready exceeds the current units, current use below 80 %. */
  ProactiveForecastAboveThreshold: 'ProactiveForecastAboveThreshold',
  /** As above while current use is already between 80 % and 90 %. */
  ProactiveForecastAboveThresholdBusy: 'ProactiveForecastAboveThresholdBusy',
  /** Current use above the reactive threshold (90 %): the observed demand sets the step. */
  ReactiveUtilisationAbove90: 'ReactiveUtilisationAbove90',
  /** No usable forecast (thin history or none given): decided on observed demand only. */
  InsufficientData: 'InsufficientData',
  /** Demand fits the current units (within tolerance for scale-in). */
  WithinTolerance: 'WithinTolerance',
  /** Scale-in wanted but a higher recommendation is still inside the stabilization window. */
  ScaleInStabilizing: 'ScaleInStabilizing',
  /** Scale-in after the stabilization window agreed. */
  ScaleIn: 'ScaleIn',
} as const;
/** One of the ScalingReason codes. */
export type ScalingReasonCode = (typeof ScalingReason)[keyof typeof ScalingReason];

/** Which policy path produced the decision. */
export type ScalingMode = 'proactive' | 'reactive' | 'none';

/** The policy's tunables. Every field has a default in DEFAULT_SCALING_POLICY. */
export interface ScalingPolicyConfig {
  /** Utilisation of a unit the capacity model plans for (0..1]; units = quantile / capacity / this. */
  readonly targetUtilisation: number;
  /** Central interval level (percent) whose upper bound is the planned demand quantile, e.g. 90 -> q95. */
  readonly forecastLevel: number;
  /** Current use above which the reactive path acts. */
  readonly reactiveAboveUse: number;
  /** Utilisation the reactive path sizes for: units = recent demand / capacity / this. */
  readonly reactiveTargetUtilisation: number;
  /** Current use below which a forecast-driven scale-up counts as "proactive". */
  readonly proactiveBelowUse: number;
  /** Observed-demand steps (most recent) whose maximum guards scale-in and drives the reactive need. */
  readonly observedWindow: number;
  /** Scale-in only when it removes at least this fraction of the units (and at least one unit). */
  readonly scaleInTolerance: number;
  /** Scale-down stabilization window in steps: scale in to the maximum recommendation of the window. */
  readonly scaleInStabilizationSteps: number;
  /** Allow scale-in on the forecast alone; when false the observed window must agree. */
  readonly scaleInOnForecast: boolean;
  /** Extra fraction added on every scale-up, so that one action covers a rising stretch. */
  readonly scaleUpStepHeadroom: number;
  /** A scale-up goes to the largest forecast need of this many steps (>= delay + 1), so one action covers a rising stretch. */
  readonly scaleUpLookaheadSteps: number;
  /** A scale-in goes no lower than the largest forecast need of this many steps, so demand about to return does not cost two actions. */
  readonly scaleInLookaheadSteps: number;
  /** Rate limit: at most this many units added per step (Infinity: none). */
  readonly maxScaleUpUnits: number;
  /** Rate limit: at most this fraction of the units removed per step. */
  readonly maxScaleInFraction: number;
  /** Bounds on units. */
  readonly minUnits: number;
  readonly maxUnits: number;
  /** Trigger refinement: bounds and start of the headroom (fraction added to the planned quantile). */
  readonly headroomMin: number;
  readonly headroomMax: number;
  readonly headroomInitial: number;
  /** Headroom added after each under-provisioned step. */
  readonly headroomRaiseOnUnderprov: number;
  /** Headroom added after each step whose demand exceeded the forecast's upper bound. */
  readonly headroomRaiseOnMiss: number;
  /** Headroom removed per step otherwise (slow decay). */
  readonly headroomDecay: number;
  /** Fewest observed steps before a forecast is trusted. */
  readonly minHistory: number;
  /**
   * Price of one scaling action in unit-steps (replica-minutes in the replay). When > 0, scale-in
   * follows the savings rule instead of the tolerance: go down to the level L that maximises
   * (current - L) × T, where L is the largest forecast need of the next T steps (T from the lead
   * time up to `scaleInHorizonSteps`), and only when that saving exceeds the price. 0 keeps the
   * tolerance rule (`scaleInTolerance`, `scaleInLookaheadSteps`).
   */
  readonly actionCost: number;
  /** Longest look-ahead (steps) the savings rule counts; the forecast should reach this far. */
  readonly scaleInHorizonSteps: number;
  /**
   * Interval level (percent) whose upper bound sizes a scale-in and the rent-or-buy scale-up of the
   * savings rule; higher than `forecastLevel` so that a scale-in is not undone by the next tick's
   * noise. 0: `forecastLevel`. Falls back to `forecastLevel` when the forecast lacks this level.
   */
  readonly scaleInForecastLevel: number;
}

/**
 * Defaults: the one configuration used for every trace in docs/benchmarks.md (replay), chosen on the
 * first half of each trace's scoring window (bench/replay/tune.ts). The tolerance-rule fields
 * (scaleInTolerance, scaleInLookaheadSteps, scaleUpLookaheadSteps) only act when actionCost is 0.
 */
export const DEFAULT_SCALING_POLICY: ScalingPolicyConfig = {
  targetUtilisation: 0.95,
  forecastLevel: 90,
  reactiveAboveUse: 0.9,
  reactiveTargetUtilisation: 0.8,
  proactiveBelowUse: 0.8,
  observedWindow: 3,
  scaleInTolerance: 0.2,
  scaleInStabilizationSteps: 5,
  scaleInOnForecast: false,
  scaleUpStepHeadroom: 0,
  scaleUpLookaheadSteps: 30,
  scaleInLookaheadSteps: 60,
  maxScaleUpUnits: Infinity,
  maxScaleInFraction: 1,
  minUnits: 1,
  maxUnits: Infinity,
  headroomMin: 0,
  headroomMax: 0.5,
  headroomInitial: 0.05,
  headroomRaiseOnUnderprov: 0.02,
  headroomRaiseOnMiss: 0.002,
  headroomDecay: 0.0005,
  minHistory: 30,
  actionCost: 30,
  scaleInHorizonSteps: 720,
  scaleInForecastLevel: 95,
};

/** State carried from one tick to the next (start with `initialScalingMemory`). */
export interface ScalingMemory {
  /** Recommendations of the last steps, [step, units], oldest first (stabilization window). */
  readonly recommendations: readonly (readonly [number, number])[];
  /** Upper bounds forecast for future steps, [forStep, demand], for the forecast-miss signal. */
  readonly pendingBounds: readonly (readonly [number, number])[];
  /** Current headroom (trigger refinement). */
  readonly headroom: number;
}

/** Fresh memory for a target. */
export function initialScalingMemory(config: ScalingPolicyConfig = DEFAULT_SCALING_POLICY): ScalingMemory {
  return { recommendations: [], pendingBounds: [], headroom: config.headroomInitial };
}

/** What the policy sees at the end of step `step`. Demand is in the unit of `capacityPerUnit`. */
export interface ScalingView {
  /** Monotonic step index of this tick (minutes in the replay). */
  readonly step: number;
  /** Observed demand per step, oldest first; the last entry is the step that just ended. Non-empty. */
  readonly demand: readonly number[];
  /** Units ready (serving) during the step that just ended. */
  readonly ready: number;
  /** Units launched but not ready yet. */
  readonly booting: number;
  /** Demand one ready unit serves at 100 % utilisation (> 0). */
  readonly capacityPerUnit: number;
  /** Steps a launched unit needs before it serves (the pre-allocation lead time). */
  readonly provisioningDelaySteps: number;
  /**
   * Forecast for steps 1..H after the last observed one (H >= delay + 1, ideally >= the
   * lookaheads), with the configured level; absent when none could be made.
   */
  readonly forecast?: Forecast;
  /** Tick-to-tick state. */
  readonly memory: ScalingMemory;
}

/** One behavior step and what it did. */
export interface BehaviorStep {
  /** 'capacity-model' | 'tolerance' | 'stabilization' | 'rate-limit' | 'bounds' | 'refinement'. */
  readonly step: string;
  /** Units before and after the step. */
  readonly from: number;
  readonly to: number;
  /** Why, in words. */
  readonly note: string;
}

/** The outcome of one tick. */
export interface ScalingDecision {
  /** Units to run from now on (ready + booting). */
  readonly desiredUnits: number;
  /** Units that existed before (ready + booting). */
  readonly currentUnits: number;
  readonly mode: ScalingMode;
  readonly reason: ScalingReasonCode;
  /** Current use: last demand / (ready * capacity). Infinity when nothing is ready but demand is. */
  readonly currentUse: number;
  /** Planned demand quantile (with headroom) at the step new capacity would be ready, or null. */
  readonly forecastDemandAtReady: number | null;
  /** Units the capacity model asks for from the forecast (max over the lead time) and from observations. */
  readonly forecastUnits: number | null;
  readonly observedUnits: number;
  /** Pre-allocation lead time in steps (= provisioning delay). */
  readonly leadTimeSteps: number;
  /** Behavior steps applied, in order. */
  readonly behavior: BehaviorStep[];
  /** Memory for the next tick. */
  readonly memory: ScalingMemory;
}

/**
 * What the capacity model asks for in one tick, before any behavior stage: the calculator's half of
 * the policy (as the HPA separates the replica calculator from its behaviors). Pure.
 */
export interface ScalingCalculation {
  /** Units that existed before (ready + booting). */
  readonly current: number;
  readonly currentUse: number;
  /** Headroom after this tick's trigger refinement. */
  readonly headroom: number;
  /** Pre-allocation lead in steps: provisioning delay + 1. */
  readonly lead: number;
  /** Forecast upper bounds at the scale-up level (null: no usable forecast) and the units each step needs at the scale-in level. */
  readonly bound: readonly number[] | null;
  readonly needs: readonly number[];
  readonly forecastUnits: number | null;
  readonly forecastAtReady: number | null;
  readonly observedUnits: number;
  /** Largest forecast need over the scale-up and scale-in look-aheads (tolerance rule). */
  readonly upUnits: number;
  readonly inUnits: number;
  /** The recommendation of this tick, its path and reason. */
  readonly recommendation: number;
  readonly mode: ScalingMode;
  readonly reason: ScalingReasonCode;
  /** Memory for the next tick: the stabilization window with this recommendation, the bounds due later. */
  readonly recommendations: readonly (readonly [number, number])[];
  readonly pendingBounds: readonly (readonly [number, number])[];
  /** Steps recorded so far (refinement, capacity-model). */
  readonly behavior: readonly BehaviorStep[];
}

/**
 * The capacity model of one tick: trigger refinement, units from the forecast over the lead time
 * and from observed demand, and the recommendation with its path (proactive, reactive, none).
 * Throws RangeError for a malformed view (see decideScaling).
 */
export function calculateScaling(view: ScalingView, config: ScalingPolicyConfig = DEFAULT_SCALING_POLICY): ScalingCalculation {
  if (view.demand.length === 0) throw new RangeError('ScalingView.demand must not be empty');
  if (!(view.capacityPerUnit > 0)) throw new RangeError('ScalingView.capacityPerUnit must be positive');
  if (view.ready < 0 || view.booting < 0 || view.provisioningDelaySteps < 0) throw new RangeError('ScalingView counts and delay must be non-negative');

  const cap = view.capacityPerUnit;
  const util = config.targetUtilisation;
  const current = view.ready + view.booting;
  const last = view.demand[view.demand.length - 1];
  const currentUse = view.ready > 0 ? last / (view.ready * cap) : last > 0 ? Infinity : 0;
  const behavior: BehaviorStep[] = [];

  const headroom = refineHeadroom(view, config);
  if (headroom !== view.memory.headroom) {
    behavior.push({ step: 'refinement', from: current, to: current, note: `headroom ${view.memory.headroom.toFixed(4)} -> ${headroom.toFixed(4)}` });
  }

  let recent = 0;
  for (let i = Math.max(0, view.demand.length - config.observedWindow); i < view.demand.length; i++) recent = Math.max(recent, view.demand[i]);
  const unitsFor = (d: number) => Math.ceil((d * (1 + headroom)) / cap / util - 1e-9);
  const observedUnits = unitsFor(recent);

  const lead = view.provisioningDelaySteps + 1;
  const bound = usableBound(view, config, lead);
  const scaleInConfig = { ...config, forecastLevel: config.scaleInForecastLevel };
  const planBound = bound && config.scaleInForecastLevel > 0 ? (usableBound(view, scaleInConfig, lead) ?? bound) : bound;
  const needs = planBound ? planBound.map(unitsFor) : [];
  let forecastUnits: number | null = null;
  let forecastAtReady: number | null = null;
  let upUnits = 0;
  let inUnits = 0;
  const pendingBounds = view.memory.pendingBounds.filter(([s]) => s > view.step);
  if (bound) {
    const maxUnits = (steps: number) => {
      let u = 0;
      for (let h = 1; h <= Math.min(steps, bound.length); h++) u = Math.max(u, unitsFor(bound[h - 1]));
      return u;
    };
    forecastUnits = maxUnits(lead);
    upUnits = maxUnits(Math.max(lead, config.scaleUpLookaheadSteps));
    inUnits = maxUnits(Math.max(lead, config.scaleInLookaheadSteps));
    forecastAtReady = bound[lead - 1] * (1 + headroom);
    pendingBounds.push([view.step + lead, bound[lead - 1]]);
  }

  let rec: number;
  let mode: ScalingMode = 'none';
  let reason: ScalingReasonCode = ScalingReason.WithinTolerance;
  const reactiveNeed =
    currentUse > config.reactiveAboveUse ? Math.ceil((recent * (1 + headroom)) / cap / config.reactiveTargetUtilisation - 1e-9) : observedUnits;
  if (forecastUnits === null) {
    rec = observedUnits;
    reason = ScalingReason.InsufficientData;
    if (rec > current) mode = 'reactive';
  } else {
    rec = Math.max(forecastUnits, reactiveNeed);
    if (rec > current) {
      if (reactiveNeed > forecastUnits) {
        mode = 'reactive';
        reason = ScalingReason.ReactiveUtilisationAbove90;
      } else {
        mode = 'proactive';
        reason = currentUse < config.proactiveBelowUse ? ScalingReason.ProactiveForecastAboveThreshold : ScalingReason.ProactiveForecastAboveThresholdBusy;
      }
    }
  }
  // scale-in never lands in reactive territory, and on the forecast alone only when configured
  const reactiveFloor = Math.ceil(recent / cap / config.reactiveAboveUse - 1e-9);
  rec = Math.max(rec, Math.min(current, config.scaleInOnForecast ? reactiveFloor : Math.max(reactiveFloor, observedUnits)));
  behavior.push({ step: 'capacity-model', from: current, to: rec, note: `forecast units ${forecastUnits ?? 'n/a'}, observed units ${observedUnits}, headroom ${headroom.toFixed(3)}, target utilisation ${util}` });

  const recommendations = [...view.memory.recommendations.filter(([s]) => s > view.step - config.scaleInStabilizationSteps), [view.step, rec] as const];
  return {
    current, currentUse, headroom, lead, bound, needs, forecastUnits, forecastAtReady, observedUnits, upUnits, inUnits,
    recommendation: rec, mode, reason, recommendations, pendingBounds, behavior,
  };
}

/** Where a tick's units stand between behavior stages. */
export interface ScalingProposal {
  readonly units: number;
  readonly mode: ScalingMode;
  readonly reason: ScalingReasonCode;
}

/**
 * One behavior stage: takes the proposal so far and returns the next, recording what it changed in
 * `behavior`. Pure apart from that list.
 */
export type BehaviorStage = (p: ScalingProposal, calc: ScalingCalculation, config: ScalingPolicyConfig, behavior: BehaviorStep[]) => ScalingProposal;

/**
 * Scale-up stabilization, rent or buy (savings rule, `actionCost` > 0): raise the step to the next
 * forecast level while holding the extra units until they would be needed costs less than the
 * action a later scale-up would take.
 */
const scaleUpRentOrBuy: BehaviorStage = (p, calc, config, behavior) => {
  const { needs, lead } = calc;
  let level = Math.max(p.units, ...needs.slice(0, lead));
  let levelAt = lead;
  for (let h = lead + 1; h <= Math.min(needs.length, config.scaleInHorizonSteps); h++) {
    if (needs[h - 1] <= level) continue;
    if ((needs[h - 1] - level) * (h - levelAt) > config.actionCost) break;
    level = needs[h - 1];
    levelAt = h;
  }
  const stepped = Math.ceil(level * (1 + config.scaleUpStepHeadroom));
  if (stepped !== p.units) behavior.push({ step: 'stabilization', from: p.units, to: stepped, note: `scale up to the forecast need ${levelAt} steps ahead: holding the extra units until then costs less than an action (${config.actionCost})` });
  return { ...p, units: stepped };
};

/** Scale-up stabilization, tolerance rule: up fast, to the largest need of the scale-up look-ahead. */
const scaleUpLookahead: BehaviorStage = (p, calc, config, behavior) => {
  const stepped = Math.ceil(Math.max(p.units, calc.upUnits) * (1 + config.scaleUpStepHeadroom));
  if (stepped !== p.units) behavior.push({ step: 'stabilization', from: p.units, to: stepped, note: `scale up fast, to the need of the next ${config.scaleUpLookaheadSteps} steps plus ${config.scaleUpStepHeadroom * 100}%` });
  return { ...p, units: stepped };
};

/**
 * Scale-in stabilization, savings rule: a scale-in is worth an action when the unit-steps it saves
 * before demand is forecast to need the units again exceed the action's price.
 */
const scaleInSavings: BehaviorStage = (p, calc, config, behavior) => {
  const { current, needs, lead } = calc;
  const windowMax = Math.max(p.units, ...calc.recommendations.map(([, u]) => u));
  let level = Math.min(current, windowMax);
  let bestSaving = 0;
  let bestLevel = current;
  for (let h = 1; h <= Math.min(needs.length, config.scaleInHorizonSteps) && level < current; h++) {
    level = Math.max(level, needs[h - 1]);
    const saving = (current - level) * h;
    if (h >= lead && saving > bestSaving) {
      bestSaving = saving;
      bestLevel = level;
    }
  }
  if (bestLevel < current && bestSaving > config.actionCost) {
    behavior.push({ step: 'stabilization', from: p.units, to: bestLevel, note: `scale in to the forecast need of the next steps: saves ${bestSaving.toFixed(0)} unit-steps > action price ${config.actionCost}` });
    return { units: bestLevel, mode: 'none', reason: ScalingReason.ScaleIn };
  }
  behavior.push({ step: 'tolerance', from: p.units, to: current, note: `scale-in would save ${bestSaving.toFixed(0)} unit-steps, not more than the action price ${config.actionCost}` });
  return { ...p, units: current, reason: windowMax >= current ? ScalingReason.ScaleInStabilizing : ScalingReason.WithinTolerance };
};

/** Scale-in stabilization, tolerance rule: down slowly (max recommendation of the window and forecast look-ahead), and only beyond the tolerance. */
const scaleInWindow: BehaviorStage = (p, calc, config, behavior) => {
  const { current } = calc;
  const windowMax = Math.max(calc.inUnits, ...calc.recommendations.map(([, u]) => u));
  const stabilized = Math.min(current, windowMax);
  if (stabilized !== p.units) behavior.push({ step: 'stabilization', from: p.units, to: stabilized, note: `scale in slowly: max recommendation of the last ${config.scaleInStabilizationSteps} steps and forecast need of the next ${config.scaleInLookaheadSteps}` });
  if (stabilized === current) return { ...p, units: stabilized, reason: ScalingReason.ScaleInStabilizing };
  if (current - stabilized < Math.max(1, config.scaleInTolerance * current)) {
    behavior.push({ step: 'tolerance', from: stabilized, to: current, note: `removing ${current - stabilized} of ${current} units is within the ${config.scaleInTolerance * 100}% tolerance` });
    return { ...p, units: current, reason: ScalingReason.WithinTolerance };
  }
  return { units: stabilized, mode: 'none', reason: ScalingReason.ScaleIn };
};

/** Stabilization: the scale-up or scale-in rule the configuration selects (savings rule when an action has a price and the forecast is usable). */
const stabilize: BehaviorStage = (p, calc, config, behavior) => {
  const savings = config.actionCost > 0 && calc.bound !== null;
  if (p.units > calc.current) return (savings ? scaleUpRentOrBuy : scaleUpLookahead)(p, calc, config, behavior);
  if (p.units < calc.current) return (savings ? scaleInSavings : scaleInWindow)(p, calc, config, behavior);
  return p;
};

/** Rate limits: at most `maxScaleUpUnits` added and `maxScaleInFraction` removed per step. */
const rateLimit: BehaviorStage = (p, calc, config, behavior) => {
  const maxUp = calc.current + config.maxScaleUpUnits;
  const maxDown = Math.floor(calc.current * (1 - config.maxScaleInFraction));
  const limited = Math.min(maxUp, Math.max(maxDown, p.units));
  if (limited !== p.units) behavior.push({ step: 'rate-limit', from: p.units, to: limited, note: `at most +${config.maxScaleUpUnits} units or -${config.maxScaleInFraction * 100}% per step` });
  return { ...p, units: limited };
};

/** Bounds: `minUnits` .. `maxUnits`. */
const bounds: BehaviorStage = (p, _calc, config, behavior) => {
  const bounded = Math.min(config.maxUnits, Math.max(config.minUnits, p.units));
  if (bounded !== p.units) behavior.push({ step: 'bounds', from: p.units, to: bounded, note: `min ${config.minUnits}, max ${config.maxUnits}` });
  return { ...p, units: bounded };
};

/** The behavior stages, in the order they apply to the calculator's recommendation. */
export const BEHAVIOR_STAGES: readonly BehaviorStage[] = [stabilize, rateLimit, bounds];

/**
 * Decides the units for one tick: the calculator, then the behavior stages in order. Pure and total
 * for a valid view; throws RangeError when the view is malformed (empty demand, non-positive
 * capacity, negative counts or delay), which is a programming error of the caller, not an
 * operational condition.
 */
export function decideScaling(view: ScalingView, config: ScalingPolicyConfig = DEFAULT_SCALING_POLICY): ScalingDecision {
  const calc = calculateScaling(view, config);
  const behavior = [...calc.behavior];
  let p: ScalingProposal = { units: calc.recommendation, mode: calc.mode, reason: calc.reason };
  for (const stage of BEHAVIOR_STAGES) p = stage(p, calc, config, behavior);
  // a reactive or proactive path that ends where it started took no action
  const mode = p.units === calc.current && p.mode !== 'none' && p.reason !== ScalingReason.InsufficientData ? 'none' : p.mode;
  return {
    desiredUnits: p.units,
    currentUnits: calc.current,
    mode,
    reason: p.reason,
    currentUse: calc.currentUse,
    forecastDemandAtReady: calc.forecastAtReady,
    forecastUnits: calc.forecastUnits,
    observedUnits: calc.observedUnits,
    leadTimeSteps: view.provisioningDelaySteps,
    behavior,
    memory: { recommendations: calc.recommendations, pendingBounds: calc.pendingBounds, headroom: calc.headroom },
  };
}

/** The forecast's upper bounds for steps 1..lead at the configured level, or null when unusable. */
function usableBound(view: ScalingView, config: ScalingPolicyConfig, lead: number): number[] | null {
  const f = view.forecast;
  if (!f || view.demand.length < config.minHistory) return null;
  const interval = f.intervals.find((i) => i.level === config.forecastLevel);
  if (!interval || interval.hi.length < lead) return null;
  return interval.hi.every(Number.isFinite) ? interval.hi.map((v) => Math.max(0, v)) : null;
}

/** Trigger refinement: the headroom after observing the step that just ended. */
function refineHeadroom(view: ScalingView, config: ScalingPolicyConfig): number {
  const last = view.demand[view.demand.length - 1];
  let h = view.memory.headroom;
  const underprov = last > view.ready * view.capacityPerUnit + 1e-9;
  const due = view.memory.pendingBounds.find(([s]) => s === view.step);
  const missed = due !== undefined && last > due[1] * (1 + h);
  if (underprov) h += config.headroomRaiseOnUnderprov;
  if (missed) h += config.headroomRaiseOnMiss;
  if (!underprov && !missed) h -= config.headroomDecay;
  return Math.min(config.headroomMax, Math.max(config.headroomMin, h));
}
