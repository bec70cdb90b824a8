/**
 * The live control loop of one target. On the injected clock (real in production, virtual in
 * tests) it ticks once per step: read the target's windows from the Shadow Store → online forecast
 * (src/forecast/online.ts, the forecaster of the replay) → anomaly score of the demand
 * (src/detect) → component anomaly score of the demand and the target's metrics, failure risk and
 * anomaly events (src/control/anomaly.ts, events written to the store) → decideScaling (src/plan/scaling.ts, the same pure policy as the replay) → gate
 * (pin, pause, dry-run, review, busy executor) → execute through the executor → record a
 * DecisionRecord and the conditions that changed. Thin data is the condition
 * DataComplete=False/InsufficientWindows and the policy then decides on observed demand only.
 * Every target has a loop: one without an actuator (`bind(undefined)`) is observe-only — it
 * forecasts, scores anomalies and risk and records them, and decides no action.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { ConcurrencyLimit } from '../core/limit.js';
import type { Clock } from '../core/clock.js';
import { durationMs } from '../core/schema.js';
import { UnivariateDetector } from '../detect/univariate.js';
import type { Action, TaskSnapshot } from '../model/action.js';
import type { Score } from '../model/detect.js';
import type { Forecast } from '../model/forecast.js';
import type { Condition, ConditionType, ControlState, DecisionInputs, DecisionRecord, DecisionStep, LearnedState, Overrides } from '../model/decision.js';
import type { UnitCapacity } from '../model/capacity.js';
import type { Logger } from '../obs/log.js';
import { OnlineForecaster } from '../forecast/online.js';
import { decideScaling, initialScalingMemory, type ScalingDecision, type ScalingMemory, type ScalingPolicyConfig } from '../plan/scaling.js';
import { bucket, granularityForStep } from '../store/query.js';
import { OTHER_KEY, type Window } from '../store/window.js';
import { limitValue, MAX_COMPONENT_METRICS, storedHandover, TargetAnomalies, type AnomalyHandover, type TargetAlarm, type TargetRisk } from './anomaly.js';
import { emptyLearned, learnedDelayMs, noteHeadroom, recordScaleUp } from './learned.js';
import type { ShadowStore } from '../store/store.js';
import type { Submission } from '../exec/executor.js';
import { forecasterOf, scalingPolicyOf, stepsOf, type ControlSettings } from './settings.js';
import { advanceEpisodes, describeAction, describeCondition, type Firing, type ResponseAction, type ResponseRule } from './respond.js';

/** At most this many ticks' ready units are kept (and read from the stored decisions at open). */
const MAX_READY_HISTORY = 10_000;

/** Units ready and booting, as the actuator's world reports them. */
export interface Capacity {
  readonly ready: number;
  readonly booting: number;
}

/** What a loop needs from the service around it. */
export interface LoopDeps {
  readonly clock: Clock;
  readonly store: ShadowStore;
  /** Store window lengths in seconds, finest first. */
  readonly granularities: readonly number[];
  /**
   * Writes open windows to the store unless a flush that took its rows at or after `since` (ms)
   * already did: a tick reads everything ingested before the step boundary it reads up to.
   */
  readonly flush: (since: number) => Promise<void>;
  readonly log: Logger;
  /** Carries out response rules' actions other than scaling; without it they are refused. */
  readonly responder?: Responder;
  /** The capacity per unit in force for a target with these settings (a capacity run's); without it, `capacityPerUnit`. */
  readonly capacity?: (target: string, settings: ControlSettings) => UnitCapacity;
  /** How far into each step the loops' ticks are spread, ms (see tickOffsetMs); 0 or absent: on the step boundary. */
  readonly tickSpreadMs?: number;
  /** Shared by a fleet's loops: how many scheduled ticks run at once (`control.concurrentTicks`); absent: no bound. */
  readonly ticks?: ConcurrencyLimit;
}

/**
 * When in each step `target`'s loop ticks, ms after the step boundary: stable across restarts (a
 * hash of the name), below both `spreadMs` and `stepMs`, so a fleet's ticks are spread over the
 * spread rather than all at the boundary.
 */
export function tickOffsetMs(target: string, spreadMs: number, stepMs: number): number {
  const range = Math.floor(Math.min(spreadMs, stepMs));
  if (range <= 0) return 0;
  return createHash('sha1').update(target).digest().readUInt32BE(0) % range;
}

/** Carries out the non-scaling actions of response rules (the controller's responder). */
export interface Responder {
  /** Submits the action of a firing recorded as `record`. */
  submit(target: string, record: DecisionRecord, action: ResponseAction): Submission;
}

/** How a loop acts: its actuator's kind and the executor that carries its actions out. */
export interface ActuatorBinding {
  /** The actuator's kind (`replay`, `webhook`, `command`), as the control view names it. */
  readonly kind: string;
  /** Hands an action to the executor. */
  readonly submit: (action: Action) => Submission;
  /** Capacity observed in the actuator's world (the replay fleet); undefined: estimate from confirmed units and the task in flight. */
  readonly observeCapacity?: () => Capacity;
  /** The executor's current view of a task (its state names it in a busy refusal); undefined when unknown. */
  readonly task?: (taskId: string) => TaskSnapshot | undefined;
}

/** One target's loop. Create with `TargetLoop.open`; `start` schedules ticks, `stop` ends them. */
export class TargetLoop {
  private settings!: ControlSettings;
  private policy!: ScalingPolicyConfig;
  private stepMs = 60_000;
  private forecaster!: OnlineForecaster;
  private detector!: UnivariateDetector;
  private score: Score | undefined;
  /** Created at the first step with data, with the metric keys seen then. */
  private anomalies: TargetAnomalies | undefined;
  /** What the next TargetAnomalies takes over: open events from the store at start, from the previous detectors after new settings. */
  private handover!: AnomalyHandover;
  private memory!: ScalingMemory;
  /** Outcome writes of ended tasks still in flight (see outcomesRecorded). */
  private readonly recordings = new Set<Promise<void>>();
  /** Recent demand, oldest first (as many as the policy reads). */
  private demand: number[] = [];
  /** End (ms) of the last step observed; undefined until the first tick warms up. */
  private observedUntil: number | undefined;
  private seenData = false;
  private windows = 0;
  private lastValue: number | undefined;
  /**
   * Units ready at each tick (time ms, oldest first): from the stored decisions at open, then one
   * per tick, so a step replayed later (the history at start, after new settings) is measured
   * against the capacity that served it, not today's.
   */
  private readyAt: { at: number; ready: number }[] = [];
  private stepIndex = 0;
  /** True once the policy decided a tick since open. */
  private decided = false;
  private conditions = new Map<ConditionType, Condition>();
  /** The task this loop submitted that has not ended yet (at most one: `execute` refuses while it runs). */
  private inFlight: { readonly taskId: string; readonly from: number; readonly to: number } | undefined;
  private cancelTimer: (() => void) | undefined;
  private running: Promise<unknown> = Promise.resolve();
  private stopped = true;
  /** How this loop acts; undefined: observe-only. */
  private actuator: ActuatorBinding | undefined;
  /** The response rules in force. */
  private rules: readonly ResponseRule[] = [];
  /** The record of the last tick (updated in place as its task moves); undefined before the first since start. */
  private lastOwn: DecisionRecord | undefined;
  /** The latest record of the loop's own stored before this start, if any. */
  private storedOwn: DecisionRecord | undefined;

  private constructor(
    readonly target: string,
    readonly state: ControlState,
    private readonly deps: LoopDeps,
  ) {}

  /** Loads the target's persisted state and conditions; `settings` are the effective ones. */
  static async open(target: string, settings: ControlSettings, deps: LoopDeps): Promise<TargetLoop> {
    const fresh = { target, settings: null, overrides: {}, units: null, lastScaleUp: null, updatedAt: deps.clock.now() };
    const state = (await deps.store.getControlState(target)) ?? fresh;
    const loop = new TargetLoop(target, state, deps);
    for (const c of await deps.store.listConditions(target)) loop.conditions.set(c.type, c);
    const historySteps = Math.ceil(durationMs(settings.history) / durationMs(settings.interval));
    const past = await deps.store.listDecisions({ target, limit: Math.min(MAX_READY_HISTORY, historySteps + 1) });
    // the loop's own records (not rule firings or components' reports, which carry no units of their own)
    const own = past.filter((d) => !d.component && !d.response);
    loop.readyAt = own.map((d) => ({ at: d.at, ready: d.inputs.ready })).reverse();
    loop.storedOwn = own[0];
    loop.handover = await storedHandover(deps.store, target, deps.clock.now());
    loop.configure(settings);
    return loop;
  }

  /** The settings in force. */
  get current(): ControlSettings {
    return this.settings;
  }

  /** The kind of the actuator this loop acts through; undefined for an observe-only loop. */
  get actuatorKind(): string | undefined {
    return this.actuator?.kind;
  }

  /** The response rules in force. */
  get responseRules(): readonly ResponseRule[] {
    return this.rules;
  }

  /** Replaces the response rules (validated); episodes of rules that are gone are dropped at the next tick. */
  setRules(rules: readonly ResponseRule[]): void {
    this.rules = rules;
  }

  /** True while a task this loop submitted has not ended. */
  get busy(): boolean {
    return this.inFlight !== undefined;
  }

  /**
   * Gives the loop an actuator to act through, or takes it away (undefined: observe-only from the
   * next tick on). The caller makes sure no task is in flight.
   */
  bind(actuator: ActuatorBinding | undefined): void {
    this.actuator = actuator;
  }

  /**
   * Applies new settings: the forecaster and the detectors start again from the stored history on
   * the next tick. What the loop learned stays unless the settings invalidate it (another demand
   * signal or step length): at open the whole scaling memory is restored, after a settings change
   * its headroom (within the new bounds) while the stabilization window starts again.
   */
  configure(settings: ControlSettings): void {
    // before the first decision since open, the whole memory is resumed
    const opening = !this.decided;
    this.settings = settings;
    this.policy = scalingPolicyOf(settings);
    this.stepMs = durationMs(settings.interval);
    this.forecaster = new OnlineForecaster(forecasterOf(settings));
    this.detector = new UnivariateDetector(`${this.target}:demand`, { alarm: { alarmScore: settings.anomaly.alarmThreshold, rearmSteps: settings.anomaly.rearmSteps } });
    if (this.anomalies) this.handover = this.anomalies.handover();
    this.anomalies = undefined;
    this.memory = initialScalingMemory(this.policy);
    const kept = this.state.learned?.scaling;
    if (kept && kept.signal === (settings.metric ?? 'requests') && kept.stepMs === this.stepMs) {
      const headroom = Math.min(this.policy.headroomMax, Math.max(this.policy.headroomMin, kept.memory.headroom));
      this.memory = opening ? { ...kept.memory, headroom } : { ...this.memory, headroom };
      if (opening) this.stepIndex = kept.step;
    }
    this.demand = [];
    this.observedUntil = undefined;
    this.seenData = false;
    this.windows = 0;
    this.lastValue = undefined;
  }

  /** Schedules a tick in every step of the clock, at the target's offset from the boundary (tickOffsetMs). */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule();
  }

  /** Cancels the next tick and waits for a running one to finish. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.cancelTimer?.();
    await this.idle();
  }

  /** Resolves when no tick is running. */
  async idle(): Promise<void> {
    await this.running.catch(() => undefined);
  }

  /**
   * Units as the policy sees them now: observed in the actuator's world, else estimated from
   * confirmed units, with the units a scale-up still in flight adds counted as booting.
   */
  capacity(): Capacity {
    if (this.actuator?.observeCapacity) return this.actuator.observeCapacity();
    const units = this.state.units ?? this.settings.initialUnits;
    const up = this.state.lastScaleUp;
    const booting = up && this.deps.clock.now() < up.at + durationMs(this.settings.provisioningDelay) ? Math.max(0, Math.min(units, up.to) - up.from) : 0;
    // asked for and on their way: without them the policy would ask for the same units again
    const coming = this.inFlight ? Math.max(0, this.inFlight.to - units) : 0;
    return { ready: units - booting, booting: booting + coming };
  }

  /** The capacity per unit in force, and where it comes from: a capacity run's, else the setting. */
  private unitCapacity(): UnitCapacity {
    return this.deps.capacity?.(this.target, this.settings) ?? { capacityPerUnit: this.settings.capacityPerUnit, source: 'config' };
  }

  /** The record of the last tick since start (not a rule's firing or a component's report); undefined before it. */
  latestDecision(): DecisionRecord | undefined {
    return this.lastOwn;
  }

  /** The loop's latest own record: its last tick's, or before its first tick since start, the latest stored one. */
  latestOwnRecord(): DecisionRecord | undefined {
    return this.lastOwn ?? this.storedOwn;
  }

  /** The latest anomaly and failure-risk view, or undefined before the first step with data. */
  latestRisk(): TargetRisk | undefined {
    return this.anomalies?.latest();
  }

  /** Conditions as last written. */
  listConditions(): Condition[] {
    return [...this.conditions.values()];
  }

  /** Runs one tick now (ticks never overlap: this one waits for a running one). Resolves with its record. */
  tick(): Promise<DecisionRecord | undefined> {
    const run = this.running.catch(() => undefined).then(() => this.tickOnce());
    this.running = run;
    return run;
  }

  private schedule(): void {
    const now = this.deps.clock.now();
    const offset = tickOffsetMs(this.target, this.deps.tickSpreadMs ?? 0, this.stepMs);
    const sinceTick = (now - offset) % this.stepMs;
    const wait = this.stepMs - (sinceTick < 0 ? sinceTick + this.stepMs : sinceTick);
    this.cancelTimer = this.deps.clock.setTimer(wait, () => {
      if (this.stopped) return;
      const ticks = this.deps.ticks;
      void (ticks ? ticks.run(() => (this.stopped ? Promise.resolve(undefined) : this.tick())) : this.tick()).finally(() => {
        if (!this.stopped) this.schedule();
      });
    });
  }

  private async tickOnce(): Promise<DecisionRecord | undefined> {
    try {
      const record = await this.decide();
      await this.setCondition('Ready', 'True', 'TickSucceeded', 'the last tick read its data and recorded its decision');
      return record;
    } catch (err) {
      this.deps.log.error({ target: this.target, err: (err as Error).message }, 'control tick failed');
      await this.setCondition('Ready', 'False', 'TickFailed', (err as Error).message).catch(() => undefined);
      return undefined;
    }
  }

  /**
   * Units ready during the step starting at `t`, for a tick that reads up to `end`: the step just
   * completed was served by today's units; an older one by those of the last tick at or before its
   * end; NaN when no tick was recorded by then (history from before the loop ran: the utilisation
   * of that step is not known, and today's units would misjudge it).
   */
  private readyDuring(t: number, end: number): number {
    const stepEnd = t + this.stepMs;
    if (stepEnd >= end) return this.capacity().ready;
    const r = this.readyAt;
    let lo = 0, hi = r.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (r[mid].at <= stepEnd) lo = mid + 1;
      else hi = mid;
    }
    return lo > 0 ? r[lo - 1].ready : Number.NaN;
  }

  /** Reads the steps completed since the last tick and feeds them to the forecaster and detector. */
  private async observe(end: number): Promise<void> {
    const s = this.settings;
    const from = this.observedUntil ?? end - Math.max(durationMs(s.history), this.stepMs * (s.minWindows + 1));
    if (from >= end) return;
    await this.deps.flush(end);
    const granularity = granularityForStep(this.deps.granularities, this.stepMs);
    const series = s.metric ? { dim: 'metric' as const, key: s.metric } : { dim: 'total' as const, key: '' };
    const rows = await this.deps.store.queryWindows({ target: this.target, granularity, ...series, from, to: end });
    const byStart = new Map(bucket(rows, this.stepMs).map((b) => [b.t, b.w]));
    const keep = Math.max(this.policy.minHistory, this.policy.observedWindow) + 1;
    const metrics = await this.metricSteps(granularity, from, end);
    // Risk limits on request statistics of a target whose demand is a metric read the request windows too.
    const requests = s.metric && s.risk.limits.some((l) => l.requests !== undefined)
      ? new Map(bucket(await this.deps.store.queryWindows({ target: this.target, granularity, dim: 'total', key: '', from, to: end }), this.stepMs).map((b) => [b.t, b.w]))
      : undefined;
    for (let t = from - (from % this.stepMs); t < end; t += this.stepMs) {
      const w = byStart.get(t);
      let value: number | undefined;
      if (s.metric) value = w && w.count > 0 ? w.sum / w.count : this.lastValue;
      else if (w && w.estCount > 0) value = w.estCount / (this.stepMs / 1000);
      else if (this.seenData) value = 0;
      if (value === undefined) continue;
      if (w) this.seenData = true;
      // a carried-forward metric value is not a new observation
      if (!s.metric || w) this.windows++;
      this.lastValue = value;
      this.forecaster.observe(value);
      this.score = this.detector.update(t + this.stepMs, value);
      this.anomalies ??= new TargetAnomalies(this.target, [s.metric ?? 'requests', ...metrics.keys], s.risk, this.handover, this.alarm());
      // an observe-only target's serving capacity is unknown: no utilisation limit to score
      const ready = this.actuator ? this.readyDuring(t, end) : 0;
      const values = [value, ...this.anomalies.metrics.map((k) => meanOf(metrics.steps.get(k)?.get(t)))];
      const limits = this.anomalies.limitInputs.map((l) => limitValue(l, l.metric === s.metric ? w : metrics.steps.get(l.metric ?? '')?.get(t), s.metric ? requests?.get(t) : w));
      this.anomalies.observe(t + this.stepMs, values, ready > 0 ? value / (this.unitCapacity().capacityPerUnit * ready) : Number.NaN, limits);
      this.demand.push(value);
      if (this.demand.length > keep) this.demand.shift();
    }
    this.observedUntil = end;
  }

  /**
   * The target's metric series per step start over [from, end): the component's metrics (other
   * than the demand metric) as `keys`, and in `steps` those plus the metrics of the risk limits.
   */
  private async metricSteps(granularity: number, from: number, end: number): Promise<{ keys: readonly string[]; steps: Map<string, Map<number, Window>> }> {
    const keys = this.anomalies?.metrics ?? (await this.deps.store.topKeys({ target: this.target, granularity, dim: 'metric', from, to: end, by: 'count', limit: MAX_COMPONENT_METRICS + 2 }))
      .map((r) => r.key).filter((k) => k !== this.settings.metric && k !== OTHER_KEY).slice(0, MAX_COMPONENT_METRICS);
    const limited = this.settings.risk.limits.flatMap((l) => (l.metric !== undefined && l.metric !== this.settings.metric ? [l.metric] : []));
    const steps = new Map<string, Map<number, Window>>();
    for (const key of new Set([...keys, ...limited])) {
      const rows = await this.deps.store.queryWindows({ target: this.target, granularity, dim: 'metric', key, from, to: end });
      steps.set(key, new Map(bucket(rows, this.stepMs).map((b) => [b.t, b.w])));
    }
    return { keys, steps };
  }

  /**
   * One tick, in named steps: catch up on the data (`observe`, events, expired overrides), write
   * the record's inputs and the conditions they imply, recommend (the scaling policy), apply the
   * operator's pin, gate (pause, dry-run, review) and execute, then store and run the response rules.
   */
  private async decide(): Promise<DecisionRecord> {
    const now = this.deps.clock.now();
    await this.catchUp(now);
    const cap = this.actuator ? this.capacity() : { ready: 0, booting: 0 };
    this.readyAt.push({ at: now, ready: cap.ready });
    if (this.readyAt.length > MAX_READY_HISTORY) this.readyAt.shift();
    const record = decisionRecord(this.target, now, this.inputs(cap), { overrides: overridesIn(this.state.overrides) });
    await this.inputConditions();

    if (this.demand.length === 0) {
      record.reason = 'NoData';
      record.message = `no ${record.inputs.signal} data in the store for ${this.target} yet`;
      await this.setCondition('ScalingActive', 'False', 'NoData', record.message);
      await this.store(record);
      return record;
    }
    const forecast = this.windows >= this.settings.minWindows ? this.forecaster.forecast() : null;
    Object.assign(record, { forecast: forecast && { model: forecast.model, mean: forecast.mean, intervals: forecast.intervals }, scores: this.scores() });
    if (!this.actuator) {
      await this.observeOnly(record, forecast !== null);
    } else {
      const scaling = await this.recommend(record, cap, forecast);
      const desired = await this.pinned(record, scaling.desiredUnits);
      await this.gate(record, scaling, desired);
      await this.store(record);
    }
    await this.respond(record, now);
    return record;
  }

  /** What this loop has learned (created empty on first use). */
  get learned(): LearnedState {
    return (this.state.learned ??= emptyLearned());
  }

  /**
   * The pre-allocation lead time in steps: the learned provisioning delay once enough scale-ups
   * were measured (settings `leadTime: learned`), else `provisioningDelay`; at most what the
   * forecast reaches.
   */
  leadSteps(): number {
    const s = this.settings;
    const learned = s.leadTime === 'learned' && this.state.learned ? learnedDelayMs(this.state.learned) : undefined;
    if (learned === undefined) return stepsOf(s.provisioningDelay, this.stepMs);
    return Math.min(Math.ceil(learned / this.stepMs), forecasterOf(s).horizon - 1);
  }

  /** How the detectors alarm: the `anomaly` settings and the levels triage taught. */
  private alarm(): TargetAlarm {
    const a = this.settings.anomaly;
    return {
      threshold: a.alarmThreshold,
      rearmSteps: a.rearmSteps,
      quietMs: durationMs(a.quiet),
      levelOf: (signal) => this.state.learned?.alarmLevels[signal],
    };
  }

  /** Keeps the policy's memory with the control state (written every tick, so a restart resumes it). */
  private async keepScaling(at: number, scaling: ScalingDecision): Promise<void> {
    const l = this.learned;
    const before = l.scaling?.memory.headroom;
    l.scaling = { signal: this.settings.metric ?? 'requests', stepMs: this.stepMs, step: this.stepIndex, memory: scaling.memory };
    if (before !== scaling.memory.headroom) noteHeadroom(l, scaling.memory.headroom, at, scaling.behavior.find((b) => b.step === 'refinement')?.note ?? 'trigger refinement');
    await this.saveState();
  }

  /** Reads the steps completed by `now`, writes the anomaly events they changed, expires overrides whose period ended. */
  private async catchUp(now: number): Promise<void> {
    await this.observe(now - (now % this.stepMs));
    await this.anomalies?.persist(this.deps.store, now);
    await this.expireOverrides(now);
  }

  /** What the loop sees at the start of a tick, with capacity `cap`. */
  private inputs(cap: Capacity): DecisionInputs {
    const s = this.settings;
    const unit = this.unitCapacity();
    return {
      signal: s.metric ?? 'requests', demand: this.demand.at(-1) ?? 0, windows: this.windows, minWindows: s.minWindows, stepSeconds: this.stepMs / 1000,
      ready: cap.ready, booting: cap.booting, capacityPerUnit: unit.capacityPerUnit, capacitySource: unit.source, ...(unit.tuned ? { tuned: unit.tuned } : {}),
      provisioningDelaySteps: this.leadSteps(),
    };
  }

  /** The conditions of the data read and the overrides in force: DataComplete, Paused, DryRun. */
  private async inputConditions(): Promise<void> {
    const s = this.settings;
    const o = this.state.overrides;
    const signal = s.metric ?? 'requests';
    const complete = this.windows >= s.minWindows;
    await this.setCondition('DataComplete', complete ? 'True' : 'False', complete ? 'EnoughWindows' : 'InsufficientWindows',
      complete ? `${this.windows} complete steps of ${signal} read` : `${this.windows} of ${s.minWindows} complete steps of ${signal} read: no forecast is trusted yet, decisions are reactive on observed demand`);
    await this.setCondition('Paused', o.pause ? 'True' : 'False', o.pause ? 'PausedByOperator' : 'NotPaused', o.pause ? `paused by ${o.pause.actor}: ${o.pause.why}` : 'the loop acts');
    await this.setCondition('DryRun', o.dryRun ? 'True' : 'False', o.dryRun ? 'DryRunByOperator' : 'NotDryRun', o.dryRun ? `forecast-only mode set by ${o.dryRun.actor}: ${o.dryRun.why}` : 'decisions are carried out');
  }

  /** The demand's anomaly score and the target's component anomaly and risk, as the record keeps them. */
  private scores(): DecisionRecord['scores'] {
    const score = this.score!;
    return { anomaly: score.value, anomalyReady: score.ready, anomalyKind: score.reason.kind, ...riskScores(this.anomalies?.latest()) };
  }

  /** Policy: the scaling policy's recommendation for this tick (recorded with its behavior steps) and the ScalingActive condition. */
  private async recommend(record: DecisionRecord, cap: Capacity, forecast: Forecast | null): Promise<ScalingDecision> {
    const s = this.settings;
    const scaling = decideScaling({
      step: this.stepIndex++, demand: this.demand, ready: cap.ready, booting: cap.booting, capacityPerUnit: record.inputs.capacityPerUnit,
      provisioningDelaySteps: record.inputs.provisioningDelaySteps, forecast: forecast ?? undefined, memory: this.memory,
    }, record.inputs.tuned ? { ...this.policy, ...record.inputs.tuned } : this.policy);
    this.memory = scaling.memory;
    this.decided = true;
    await this.keepScaling(record.at, scaling);
    Object.assign(record, { recommendation: recommendationOf(scaling), steps: [...scaling.behavior] });
    const active = forecast !== null;
    await this.setCondition('ScalingActive', active ? 'True' : 'False', this.state.overrides.pause ? 'Paused' : active ? 'ForecastDriven' : 'ReactiveOnly',
      active ? `forecast ${forecast.model} drives proactive scaling` : this.windows >= s.minWindows ? 'the forecaster is still collecting its errors; reactive on observed demand' : 'too little data for a forecast; reactive on observed demand');
    return scaling;
  }

  /** The operator's pin applied to the desired units (a recorded step when it changes them), and the ScalingLimited condition. */
  private async pinned(record: DecisionRecord, desired: number): Promise<number> {
    const pin = this.state.overrides.pin;
    if (pin) {
      const to = pin.exact ?? Math.min(pin.max ?? Infinity, Math.max(pin.min ?? 0, desired));
      if (to !== desired) record.steps.push(step('override-pin', desired, to, `pinned by ${pin.actor} (${pinText(pin)}): ${pin.why}`));
      desired = to;
    }
    const limiting = record.steps.filter((x) => ['bounds', 'rate-limit', 'override-pin'].includes(x.step) && x.from !== x.to).at(-1);
    await this.setCondition('ScalingLimited', limiting ? 'True' : 'False', limiting ? ({ bounds: 'BoundedByMinMax', 'rate-limit': 'RateLimited' } as Record<string, string>)[limiting.step] ?? 'Pinned' : 'WithinLimits', limiting ? limiting.note : 'the recommendation is within every limit');
    return desired;
  }

  /**
   * Gate and execution: keep, or record why not (paused, dry-run), or hold for approval (review),
   * or submit the action. Updates `record` in place.
   */
  private async gate(record: DecisionRecord, scaling: ScalingDecision, desired: number): Promise<void> {
    const o = this.state.overrides;
    const current = scaling.currentUnits;
    const mode = scaling.mode === 'none' ? (desired > current ? 'reactive' : 'proactive') : scaling.mode;
    if (desired === current) {
      record.reason = scaling.reason;
      record.message = `keep ${current} units (${scaling.reason})`;
    } else if (o.pause) {
      record.reason = 'Paused';
      record.message = `would scale ${current} -> ${desired} (${scaling.reason}), but the target is paused`;
    } else if (o.dryRun) {
      record.reason = 'DryRun';
      record.message = `would scale ${current} -> ${desired} (${scaling.reason}); forecast-only mode`;
    } else {
      Object.assign(record, { action: { id: record.id, kind: 'scale', from: current, to: desired, mode } });
      record.reason = scaling.reason;
      if (o.review) {
        await this.supersedePending(record.id);
        record.status = 'pending-approval';
        record.message = `scale ${current} -> ${desired} waits for approval (review mode)`;
      } else {
        this.execute(record);
      }
    }
  }

  /**
   * Moves the response rules' episodes on with what this tick saw and records each firing as its
   * own decision, gated like scaling: paused or dry-run, it is recorded and not carried out; in
   * review it waits for approval; else it is carried out (a `scale` action through the actuator,
   * any other through the responder).
   */
  private async respond(tick: DecisionRecord, now: number): Promise<void> {
    if (this.rules.length === 0 && !this.state.episodes) return;
    const episodes = (this.state.episodes ??= {});
    const latest = this.anomalies?.latest();
    const facts = {
      risk: latest?.ready ? latest.probability : undefined,
      openEvents: this.anomalies?.openEvents() ?? [],
      forecast: tick.forecast?.mean ?? null,
      stepMs: this.stepMs,
    };
    // Episodes count in whole steps: a real timer fires a few ms late or early, and `for: 1m` must
    // mean one step later, not one step and a few ms.
    const step = now - (now % this.stepMs);
    const { firings, changed } = advanceEpisodes(this.rules, episodes, facts, step);
    if (changed) await this.saveState();
    for (const f of firings) await this.fire(tick, f, now);
  }

  private async fire(tick: DecisionRecord, f: Firing, now: number): Promise<void> {
    const o = this.state.overrides;
    const what = describeAction(f.action);
    const record = decisionRecord(this.target, now, tick.inputs, {
      forecast: tick.forecast, scores: tick.scores, overrides: tick.overrides,
      reason: f.phase === 'do' ? 'RuleFired' : 'RuleUndone',
      message: `rule "${f.rule.name}" (${describeCondition(f.rule)}): ${f.evidence}; ${f.phase === 'undo' ? 'undo: ' : ''}${what}`,
      response: { rule: f.rule.name, phase: f.phase, condition: describeCondition(f.rule), evidence: f.evidence, action: f.action as Record<string, unknown> },
    });
    const held = o.pause || o.dryRun;
    if (f.action.scale && !held) {
      const cap = this.capacity();
      const from = cap.ready + cap.booting;
      Object.assign(record, { action: { id: record.id, kind: 'scale', from, to: Math.min(this.settings.maxUnits, from + f.action.scale.add), mode: 'proactive' } });
    }
    if (held) {
      record.message = `${record.message}: not carried out (${o.pause ? 'the target is paused' : 'forecast-only mode'})`;
    } else if (o.review) {
      record.status = 'pending-approval';
      record.message = `${record.message}: waits for approval (review mode)`;
    } else {
      this.carryOut(record);
    }
    await this.deps.store.putDecision(record);
  }

  /** Carries out a decision: its scaling action through the actuator, a rule's other action through the responder. Updates `record` in place. */
  carryOut(record: DecisionRecord): void {
    if (record.action) return this.execute(record);
    const action = record.response?.action as ResponseAction | undefined;
    if (!action || action.notify) {
      record.status = 'succeeded';
      record.outcome = { taskId: null, state: 'succeeded', reason: 'recorded (notify)', at: this.deps.clock.now() };
      return;
    }
    if (!this.deps.responder) return void Object.assign(record, { reason: 'NoResponder', message: `${record.message}: refused, the service has no responder` });
    const sub = this.deps.responder.submit(this.target, record, action);
    if (!sub.accepted) {
      record.message = `${record.message}: refused (${sub.message})`;
      record.outcome = { taskId: sub.taskId ?? null, state: sub.reason, reason: sub.message, at: this.deps.clock.now() };
      return;
    }
    record.status = 'submitted';
    record.outcome = { taskId: sub.taskId, state: 'pending', reason: 'submitted', at: this.deps.clock.now() };
    this.follow(sub.done.then(async (snap) => {
      const last = snap.transitions.at(-1)!;
      record.status = snap.state === 'succeeded' ? 'succeeded' : 'failed';
      record.outcome = { taskId: snap.id, state: snap.state, reason: last.reason, at: last.at };
      await this.deps.store.putDecision(record);
    }));
  }

  /** Keeps an outcome write until it is done (see outcomesRecorded); logs its failure. */
  private follow(write: Promise<void>): void {
    const recording = write
      .catch((err: unknown) => this.deps.log.error({ target: this.target, err: (err as Error).message }, 'recording a task outcome failed'))
      .finally(() => this.recordings.delete(recording));
    this.recordings.add(recording);
  }

  /** Writes this tick's record, kept as the latest first so whoever hears of the write reads it. */
  private async store(record: DecisionRecord): Promise<void> {
    this.lastOwn = record;
    await this.deps.store.putDecision(record);
  }

  /** Records the step of an observe-only target (forecast and scores already in `record`): no recommendation, no action. */
  private async observeOnly(record: DecisionRecord, forecasting: boolean): Promise<void> {
    record.reason = 'ObserveOnly';
    record.message = `observe only: forecast${forecasting ? '' : ' (not yet: too little data)'}, anomaly and risk recorded; no actuator, so no action`;
    await this.setCondition('ScalingActive', 'False', 'ObserveOnly', 'the target has no actuator: the loop forecasts and scores anomalies and risk, and decides no action');
    await this.store(record);
  }

  /**
   * Submits the decision's action and follows its task; updates `record` in place (status,
   * outcome, message) and stores it again when the task ends. The caller stores it first.
   * While an earlier task of this target is in flight (pending, running, retrying, verifying,
   * rolling back) nothing is submitted: the record becomes no action with reason `ExecutorBusy`,
   * whatever per-target limit the executor has. A refusal by the executor is recorded the same way
   * with its own reason.
   */
  execute(record: DecisionRecord): void {
    const a = record.action!;
    const busy = this.inFlight;
    if (busy) {
      const state = this.actuator?.task?.(busy.taskId)?.state ?? 'in flight';
      return refuse(record, busy.taskId, 'ExecutorBusy', `task ${busy.taskId} (scale ${busy.from} -> ${busy.to}) is still in flight (${state}); one task per target at a time`, this.deps.clock.now());
    }
    if (!this.actuator) return refuse(record, null, 'NoActuator', 'the target has no actuator (observe only)', this.deps.clock.now());
    const action: Action = { id: a.id, target: this.target, kind: 'scale', from: a.from, to: a.to, reason: record.reason, mode: a.mode, idempotencyKey: `${this.target}:${a.id}`, createdAt: this.deps.clock.now() };
    const sub = this.actuator.submit(action);
    if (!sub.accepted) return refuse(record, sub.taskId ?? null, sub.reason, sub.message, this.deps.clock.now());
    this.inFlight = { taskId: sub.taskId, from: a.from, to: a.to };
    record.status = 'submitted';
    record.message = `scale ${a.from} -> ${a.to} (${record.reason}) submitted as task ${sub.taskId}`;
    record.outcome = { taskId: sub.taskId, state: 'pending', reason: 'submitted', at: this.deps.clock.now() };
    this.follow(sub.done.then((snap) => this.finished(record, snap)));
  }

  /** Resolves when the outcomes of every task that has ended are written to the store. */
  async outcomesRecorded(): Promise<void> {
    await Promise.all(this.recordings);
  }

  private async finished(record: DecisionRecord, snap: TaskSnapshot): Promise<void> {
    const last = snap.transitions.at(-1)!;
    record.status = snap.state === 'succeeded' ? 'succeeded' : 'failed';
    record.outcome = { taskId: snap.id, state: snap.state, reason: last.reason, at: last.at };
    const a = record.action!;
    const applied = snap.state === 'succeeded' ? (snap.outcome?.capacity ?? a.to) : snap.state === 'rolled-back' ? a.from : undefined;
    if (applied !== undefined) {
      if (applied > (this.state.units ?? this.settings.initialUnits)) this.state.lastScaleUp = { at: record.at, from: a.from, to: applied };
      this.state.units = applied;
    }
    // How long capacity really took to arrive, the provisioning delay the lead time learns: only
    // when the executor saw it serve (a verified task); an actuator's answer says nothing of that.
    if (snap.state === 'succeeded' && a.to > a.from && snap.transitions.some((x) => x.to === 'verifying')) recordScaleUp(this.learned, last.at - snap.transitions[0].at, last.at);
    // cleared in the same synchronous step that confirms the units, so no tick sees neither
    if (this.inFlight?.taskId === snap.id) this.inFlight = undefined;
    if (applied !== undefined) await this.saveState();
    await this.deps.store.putDecision(record);
  }

  /** Marks the older decisions still waiting for approval as superseded by `by`. */
  async supersedePending(by: string): Promise<void> {
    for (const d of await this.deps.store.listDecisions({ target: this.target, limit: 100, status: 'pending-approval' })) {
      // a rule's firing waits for its own verdict: a later scaling decision does not replace it
      if (d.id === by || d.response) continue;
      d.status = 'superseded';
      d.message = `${d.message}; superseded by decision ${by}`;
      await this.deps.store.putDecision(d);
    }
  }

  /** Persists the control state. */
  async saveState(): Promise<void> {
    this.state.updatedAt = this.deps.clock.now();
    await this.deps.store.putControlState(this.state);
  }

  private async expireOverrides(now: number): Promise<void> {
    const o = this.state.overrides;
    let changed = false;
    for (const key of ['pause', 'dryRun', 'review', 'pin'] as const) {
      const until = o[key]?.until;
      if (until !== undefined && until <= now) {
        delete o[key];
        changed = true;
        await this.deps.store.appendAudit({ id: randomUUID(), target: this.target, at: now, actor: 'system', why: 'its period ended', action: `expire-${key}`, detail: null });
      }
    }
    if (changed) await this.saveState();
  }

  /** Writes a condition when its status or reason changed; the transition time moves only with the status. */
  async setCondition(type: ConditionType, status: Condition['status'], reason: string, message: string): Promise<void> {
    const old = this.conditions.get(type);
    if (old && old.status === status && old.reason === reason) return;
    const lastTransitionTime = old && old.status === status ? old.lastTransitionTime : this.deps.clock.now();
    const condition: Condition = { type, status, reason, message, lastTransitionTime };
    await this.deps.store.putCondition(this.target, condition);
    this.conditions.set(type, condition);
  }
}

/** Records a decision's action as not carried out: no action, with the refusal's reason. */
function refuse(record: DecisionRecord, taskId: string | null, reason: string, why: string, at: number): void {
  const a = record.action!;
  record.status = 'no-action';
  record.message = `scale ${a.from} -> ${a.to} refused: ${why}`;
  record.outcome = { taskId, state: reason, reason: why, at };
  record.reason = reason;
}

/** A step's mean metric value, NaN when the step has no samples (the detectors skip it). */
function meanOf(w: Window | undefined): number {
  return w && w.count > 0 ? w.sum / w.count : Number.NaN;
}

/** The component-anomaly and risk fields of a decision's scores (none before the first step). */
function riskScores(r: TargetRisk | undefined) {
  if (!r) return {};
  return {
    component: r.anomaly.score,
    componentDrivers: r.anomaly.drivers,
    risk: r.probability,
    riskReady: r.ready,
    riskHorizonMs: r.horizonMs,
    riskDrivers: r.drivers,
    riskLimit: r.limit,
  };
}

function recommendationOf(d: ScalingDecision) {
  return {
    desiredUnits: d.desiredUnits, currentUnits: d.currentUnits, mode: d.mode, reason: d.reason,
    currentUse: Number.isFinite(d.currentUse) ? d.currentUse : null, forecastDemandAtReady: d.forecastDemandAtReady,
    forecastUnits: d.forecastUnits, observedUnits: d.observedUnits, leadTimeSteps: d.leadTimeSteps,
  };
}

/**
 * A decision record of `target` at `at` with nothing decided yet — no forecast, scores,
 * recommendation, steps, overrides, action, outcome or review; status no-action — and `fields`
 * over it: the one skeleton every decision record (tick, rule firing, forced action, component
 * report) starts from.
 */
export function decisionRecord(target: string, at: number, inputs: DecisionInputs, fields: Partial<DecisionRecord> = {}): DecisionRecord {
  return {
    id: randomUUID(), target, at, inputs, forecast: null, scores: null, recommendation: null, steps: [], overrides: [],
    action: null, status: 'no-action', reason: '', message: '', outcome: null, review: null, ...fields,
  };
}

/** The overrides in force, as a record names them. */
function overridesIn(o: Overrides): string[] {
  return [o.pause && 'pause', o.dryRun && 'dry-run', o.review && 'review', o.pin && 'pin'].filter((x): x is string => Boolean(x));
}

function step(name: string, from: number, to: number, note: string): DecisionStep {
  return { step: name, from, to, note };
}

function pinText(p: { min?: number; max?: number; exact?: number }): string {
  return p.exact !== undefined ? `exactly ${p.exact}` : [p.min !== undefined && `min ${p.min}`, p.max !== undefined && `max ${p.max}`].filter(Boolean).join(', ');
}
