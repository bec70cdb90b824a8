/**
 * The control plane of a service: one TargetLoop per target — declared in the config or created
 * through the API — the executor that carries out their actions, and the operator's operations
 * the API and CLI call: settings, actuators, overrides (pause, dry-run, review, pin), forced
 * actions, approve / reject. A target with an actuator is controlled; one without is observed
 * only: its loop forecasts and scores anomalies and risk, and acts on nothing. Every operator
 * change is persisted and written to the audit trail with who, when and why.
 */
import { randomUUID } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import { ConcurrencyLimit } from '../core/limit.js';
import { durationMs } from '../core/schema.js';
import type { Config } from '../config.js';
import { ShadowplaneError } from '../core/errors.js';
import type { Actuator, ObservableWorld } from '../exec/actuator.js';
import { createActuator, parseActuatorConfig, type ActuatorConfig } from '../exec/config.js';
import { Executor } from '../exec/executor.js';
import type { AuditEntry, Condition, DecisionComponent, DecisionRecord, DecisionStatus, Overrides, PinOverride } from '../model/decision.js';
import type { Logger } from '../obs/log.js';
import type { ShadowStore } from '../store/store.js';
import { decisionRecord, TargetLoop, type ActuatorBinding, type LoopDeps } from './loop.js';
import { parseControlSettings, type ControlSettings } from './settings.js';
import type { TargetRegistry } from './targets.js';
import { parseResponseRules, type ResponseRule } from './respond.js';
import { RuleResponder } from './responder.js';
import { triageAnomaly } from './anomaly.js';
import { learnedDelayMs, MIN_SCALE_UPS, raiseAlarmLevel, resetAlarmLevel } from './learned.js';
import type { AnomalyRecord, TriageState } from '../model/detect.js';
import type { ShadowRegistry } from './shadows/registry.js';

/** What the controller needs from the service. */
export interface ControllerDeps {
  readonly config: Config;
  readonly clock: Clock;
  readonly store: ShadowStore;
  readonly granularities: readonly number[];
  /** Writes open windows to the store unless a flush that took its rows at or after `since` (ms) did (see LoopDeps). */
  readonly flush: (since: number) => Promise<void>;
  readonly log: Logger;
  /** The executors' log. */
  readonly execLog: Logger;
  /** The targets: every one gets a loop, created and removed with it. */
  readonly targets: TargetRegistry;
  /** The shadow components response rules act through. */
  readonly shadows: ShadowRegistry;
  /** The capacity per unit each loop decides with (capacity runs); without it, the settings'. */
  readonly capacity?: LoopDeps['capacity'];
}

/** Who asks, and why (the time is the controller's clock). */
export interface Requester {
  readonly actor: string;
  readonly why: string;
}

/** Override kinds as the API names them. */
export type OverrideKind = 'pause' | 'dry-run' | 'review' | 'pin';

/** How far in the future a component's report may be dated (clocks differ a little between hosts). */
const MAX_REPORT_SKEW_MS = 300_000;

const OVERRIDE_KEY = { pause: 'pause', 'dry-run': 'dryRun', review: 'review', pin: 'pin' } as const;

/** Runs the control loops of a service. */
export class Controller {
  /** Executor for targets whose actuator's world can be observed (the replay fleet): tasks are verified. */
  readonly executor: Executor;
  /** Executor for targets acted on through webhooks or commands, which report but cannot be observed here. */
  readonly unverifiedExecutor: Executor;
  /** Carries out response rules' actions other than scaling. */
  readonly responder: RuleResponder;
  private readonly loops = new Map<string, TargetLoop>();
  private readonly actuators = new Map<string, Actuator>();
  /** The actuator each target is given (the API's, else the config's); it acts only while its settings say `enabled`. */
  private readonly configured = new Map<string, ActuatorConfig | undefined>();
  /** Loops being added or removed for registry changes, in order. */
  private following: Promise<unknown> = Promise.resolve();
  private started = false;
  /** The loops' scheduled ticks, `control.concurrentTicks` at a time. */
  private readonly ticks: ConcurrencyLimit;

  constructor(private readonly deps: ControllerDeps) {
    this.ticks = new ConcurrencyLimit(deps.config.control.concurrentTicks);
    const settings = deps.config.control.executor;
    const actuatorFor = (a: { target: string }) => this.actuators.get(a.target);
    this.executor = new Executor({
      clock: deps.clock,
      log: deps.execLog,
      settings,
      actuatorFor,
      observe: async (a) => this.actuators.get(a.target)?.world?.ready(a.target),
    });
    this.unverifiedExecutor = new Executor({ clock: deps.clock, log: deps.execLog, settings, actuatorFor });
    this.responder = new RuleResponder({ clock: deps.clock, log: deps.execLog, shadows: deps.shadows, settings });
  }

  /**
   * Builds a loop for every target, with settings and actuator stored through the API taking
   * precedence over the file's, and follows the registry: a target created later gets its loop,
   * a deleted one loses it. Throws SHADOWPLANE_ERR_CONFIG_INVALID for settings or an actuator in
   * the file that break a rule, naming the key.
   */
  async init(): Promise<void> {
    for (const t of this.deps.targets.list()) await this.add(t.name);
    this.deps.targets.on('change', (name: string) => {
      const change = () => (this.deps.targets.find(name) ? this.add(name) : this.release(name));
      this.following = this.following.then(change).catch((err: unknown) => this.deps.log.error({ target: name, err: (err as Error).message }, 'following a target change failed'));
    });
  }

  /** Resolves when the loops of every target change so far are in place. */
  async settled(): Promise<void> {
    await this.following;
  }

  /** Starts every loop (unless `control.enabled` is false). */
  start(): void {
    this.started = true;
    if (!this.deps.config.control.enabled) return;
    for (const loop of this.loops.values()) loop.start();
  }

  /**
   * Stops the loops (waiting for running ticks), then the executors — tasks not yet applied are
   * cancelled, tasks verifying end failed ("not verified", not rolled back), a rollback under way
   * runs to its end — and resolves once every outcome is in the store, so the store can close.
   */
  async stop(): Promise<void> {
    this.started = false;
    await this.following;
    await Promise.all([...this.loops.values()].map((l) => l.stop()));
    await Promise.all([this.executor.close(), this.unverifiedExecutor.close(), this.responder.close()]);
    await Promise.all([...this.loops.values()].map((l) => l.outcomesRecorded()));
  }

  /** The loop of a target; SHADOWPLANE_ERR_TARGET_NOT_FOUND when there is no such target. */
  loop(target: string): TargetLoop {
    const loop = this.loops.get(target);
    if (!loop) throw new ShadowplaneError('SHADOWPLANE_ERR_TARGET_NOT_FOUND', `no target is called "${target}"`);
    return loop;
  }

  /** The loop of a target with an actuator; SHADOWPLANE_ERR_NOT_CONTROLLED for an observe-only one. */
  private acting(target: string): TargetLoop {
    const loop = this.loop(target);
    if (!loop.actuatorKind) throw new ShadowplaneError('SHADOWPLANE_ERR_NOT_CONTROLLED', `target "${target}" is observed only: give it an actuator (PUT /v1/targets/${target}/actuator, or \`actuator\` in the config) to act on it`);
    return loop;
  }

  /** Names of every target with a loop (all of them, controlled or observed only). */
  analysed(): string[] {
    return [...this.loops.keys()].sort();
  }

  /** Names of the controlled targets (those with an actuator). */
  controlled(): string[] {
    return [...this.loops.values()].filter((l) => l.actuatorKind).map((l) => l.target).sort();
  }

  /** Resolves when no loop is in the middle of a tick. */
  async idle(): Promise<void> {
    await Promise.all([...this.loops.values()].map((l) => l.idle()));
  }

  /**
   * Makes the loop of `target` (if it has one) read its history again on its next tick, after
   * history was written behind it (an import): forecaster and detectors start over from the store.
   */
  async rewarm(target: string): Promise<void> {
    const loop = this.loops.get(target);
    if (!loop) return;
    await loop.idle();
    loop.configure(loop.current);
  }

  /** The control view of a target: settings, overrides, capacity, actuator (null: observed only). */
  view(target: string) {
    const loop = this.loop(target);
    const configured = this.configured.get(target);
    const actuatorSource = configured ? (loop.state.actuator ? 'api' : 'config') : null;
    return {
      target, settings: loop.current, overrides: loop.state.overrides, capacity: loop.capacity(), actuator: configured?.type ?? null, actuatorSource,
      mode: loop.actuatorKind ? 'controlled' : 'observe-only', settingsSource: loop.state.settings ? 'api' : 'config',
    };
  }

  /** The response rules of a target and where they come from. */
  rules(target: string): { rules: readonly ResponseRule[]; source: 'api' | 'config'; episodes: Record<string, unknown> } {
    const loop = this.loop(target);
    return { rules: loop.responseRules, source: loop.state.respond ? 'api' : 'config', episodes: loop.state.episodes ?? {} };
  }

  /** Replaces a target's response rules (validated), persists and audits them; in force from the next tick. */
  async putRules(target: string, raw: unknown, who: Requester): Promise<readonly ResponseRule[]> {
    const loop = this.loop(target);
    const rules = parseResponseRules(raw, '/body/rules');
    await loop.idle();
    loop.setRules(rules);
    loop.state.respond = rules as unknown as Record<string, unknown>[];
    await loop.saveState();
    await this.audit(target, 'respond', who, { rules: rules.map((r) => r.name) });
    return rules;
  }

  /**
   * Gives a target an actuator (validated like the config's `actuator`; replaces the one it has),
   * persists and audits it; the loop acts through it from its next tick. Refused with
   * SHADOWPLANE_ERR_ACTUATOR_BUSY while a task of the target is in flight.
   */
  async putActuator(target: string, raw: unknown, who: Requester): Promise<ActuatorConfig> {
    const loop = this.loop(target);
    const config = asValidationError(() => parseActuatorConfig(raw, '/body/actuator'));
    await loop.idle();
    this.assertIdle(loop);
    this.configured.set(target, config);
    this.bind(loop);
    loop.state.actuator = config as unknown as Record<string, unknown>;
    await loop.saveState();
    await this.audit(target, 'actuator', who, { type: config.type });
    return config;
  }

  /** Takes a target's actuator away (it is observed only from then on), persists and audits it; refused while a task is in flight. */
  async removeActuator(target: string, who: Requester): Promise<void> {
    const loop = this.loop(target);
    await loop.idle();
    this.assertIdle(loop);
    this.configured.set(target, undefined);
    this.bind(loop);
    loop.state.actuator = null;
    await loop.saveState();
    await this.audit(target, 'remove-actuator', who, null);
  }

  /** Changes some settings (validated together with the rest), persists and audits them; the loop re-warms on its next tick. */
  async putSettings(target: string, patch: Record<string, unknown>, who: Requester): Promise<ControlSettings> {
    const loop = this.loop(target);
    const merged = parseControlSettings({ ...loop.current, ...patch }, '/body/settings', this.deps.granularities[0] * 1000);
    await loop.idle();
    const rebind = merged.enabled !== loop.current.enabled;
    if (rebind) this.assertIdle(loop);
    loop.configure(merged);
    if (rebind) this.bind(loop);
    loop.state.settings = merged;
    await loop.saveState();
    await this.audit(target, 'settings', who, patch);
    return merged;
  }

  /** Sets an override for `forMs` (undefined: until cleared), persists and audits it. */
  async setOverride(target: string, kind: OverrideKind, who: Requester, forMs?: number, pin?: Pick<PinOverride, 'min' | 'max' | 'exact'>): Promise<Overrides> {
    const loop = this.loop(target);
    const now = this.deps.clock.now();
    const base = { actor: who.actor, why: who.why, at: now, ...(forMs !== undefined ? { until: now + forMs } : {}) };
    if (kind === 'pin') {
      const p = pin ?? {};
      if (p.exact === undefined && p.min === undefined && p.max === undefined) throw new ShadowplaneError('SHADOWPLANE_ERR_VALIDATION', 'a pin needs a bound', [{ path: '/body', message: 'give at least one of min, max, exact' }]);
      if (p.min !== undefined && p.max !== undefined && p.min > p.max) throw new ShadowplaneError('SHADOWPLANE_ERR_VALIDATION', 'the pin is empty', [{ path: '/body/min', message: `must be <= max (${p.max})` }]);
      loop.state.overrides.pin = { ...base, ...p };
    } else {
      loop.state.overrides[OVERRIDE_KEY[kind]] = base;
    }
    await loop.saveState();
    await this.audit(target, kind, who, { ...pin, ...(forMs !== undefined ? { forMs } : {}) });
    return loop.state.overrides;
  }

  /** Removes an override (resume, leave dry-run or review, unpin), persists and audits it. */
  async clearOverride(target: string, kind: OverrideKind, who: Requester): Promise<Overrides> {
    const loop = this.loop(target);
    delete loop.state.overrides[OVERRIDE_KEY[kind]];
    await loop.saveState();
    await this.audit(target, `clear-${kind}`, who, null);
    return loop.state.overrides;
  }

  /** Forces a scale to `units` now, past pause, dry-run and review (not past a busy executor); records and audits it. */
  async force(target: string, units: number, who: Requester): Promise<DecisionRecord> {
    const loop = this.acting(target);
    const now = this.deps.clock.now();
    const cap = loop.capacity();
    const current = cap.ready + cap.booting;
    const inputs = { signal: loop.current.metric ?? 'requests', demand: 0, windows: 0, minWindows: loop.current.minWindows, stepSeconds: durationMs(loop.current.interval) / 1000, ready: cap.ready, booting: cap.booting, capacityPerUnit: loop.current.capacityPerUnit, provisioningDelaySteps: 0 };
    const record = decisionRecord(target, now, inputs, {
      overrides: ['force'], reason: 'Forced', message: `keep ${current} units: forced to what is there already`,
      review: { actor: who.actor, at: now, why: who.why, verdict: 'forced' },
    });
    if (units !== current) {
      Object.assign(record, { action: { id: record.id, kind: 'scale', from: current, to: units, mode: 'manual' } });
      loop.execute(record);
    }
    await this.deps.store.putDecision(record);
    await this.audit(target, 'force', who, { units, decision: record.id });
    return record;
  }

  /** Approves a decision waiting in review mode and submits its action from the units there are now. */
  async approve(id: string, who: Requester): Promise<DecisionRecord> {
    const record = await this.pending(id);
    const loop = record.action ? this.acting(record.target) : this.loop(record.target);
    const cap = loop.capacity();
    if (record.action) Object.assign(record, { action: { ...record.action, from: cap.ready + cap.booting } });
    record.review = { actor: who.actor, at: this.deps.clock.now(), why: who.why, verdict: 'approved' };
    loop.carryOut(record);
    await this.deps.store.putDecision(record);
    await this.audit(record.target, 'approve', who, { decision: id });
    return record;
  }

  /** Rejects a decision waiting in review mode. */
  async reject(id: string, who: Requester): Promise<DecisionRecord> {
    const record = await this.pending(id);
    record.status = 'rejected';
    record.message = `${record.message}; rejected by ${who.actor}`;
    record.review = { actor: who.actor, at: this.deps.clock.now(), why: who.why, verdict: 'rejected' };
    await this.deps.store.putDecision(record);
    await this.audit(record.target, 'reject', who, { decision: id });
    return record;
  }

  /**
   * Records an action a shadow component took on its own as a decision on the target's timeline
   * (reason: the action in PascalCase, status succeeded, the component and its evidence).
   */
  async recordComponentDecision(target: string, report: { component: string; kind: DecisionComponent['kind']; action: string; message: string; evidence?: Record<string, unknown>; at?: number }): Promise<DecisionRecord> {
    this.loop(target);
    const now = this.deps.clock.now();
    if (report.at !== undefined && report.at > now + MAX_REPORT_SKEW_MS) throw new ShadowplaneError('SHADOWPLANE_ERR_VALIDATION', 'the report lies in the future', [{ path: '/body/at', message: `must not lie more than ${MAX_REPORT_SKEW_MS / 1000} s in the future` }]);
    const inputs = { signal: 'component', demand: 0, windows: 0, minWindows: 0, stepSeconds: 0, ready: 0, booting: 0, capacityPerUnit: 0, provisioningDelaySteps: 0 };
    const record = decisionRecord(target, report.at ?? now, inputs, {
      status: 'succeeded',
      reason: report.action.replace(/(^|-)([a-z])/g, (_m, _d, c: string) => c.toUpperCase()),
      message: `${report.component}: ${report.message}`,
      component: { name: report.component, kind: report.kind, action: report.action, evidence: report.evidence ?? {} },
    });
    await this.deps.store.putDecision(record);
    return record;
  }

  /**
   * Triages an anomaly event (src/control/anomaly.ts triageAnomaly). A "false-positive" verdict on
   * a target's own event teaches its loop: the alarm level of the event's top driver rises above
   * the event's severity (bounded by `anomaly.maxAlarmLevel`), audited as `learn-alarm-level`;
   * other verdicts keep the level.
   */
  async triage(id: string, state: TriageState, who: Requester): Promise<AnomalyRecord> {
    const before = await this.deps.store.getAnomaly(id);
    const event = await triageAnomaly(this.deps.store, this.deps.clock.now(), id, state, who);
    const loop = this.loops.get(event.target);
    if (state !== 'false-positive' || before?.triageState === 'false-positive' || !loop || event.component !== event.target) return event;
    await loop.idle();
    const signal = event.drivers[0]?.signal ?? loop.current.metric ?? 'requests';
    const change = raiseAlarmLevel(loop.learned, signal, event.severity, loop.current.anomaly, this.deps.clock.now(), who.actor, `event ${id} was a false positive: ${who.why}`);
    if (change) {
      await loop.saveState();
      await this.audit(event.target, 'learn-alarm-level', who, change);
    }
    return event;
  }

  /**
   * What a target's loop has learned, each value with where it comes from, and how they moved:
   * headroom, lead time (learned provisioning delay or the configured one), alarm levels.
   */
  learned(target: string) {
    const loop = this.loop(target);
    const l = loop.learned;
    const s = loop.current;
    const stepMs = durationMs(s.interval);
    const delay = learnedDelayMs(l);
    const leadSteps = loop.leadSteps();
    return {
      target,
      headroom: {
        value: l.scaling?.memory.headroom ?? null, max: s.headroomMax,
        learnedFor: l.scaling ? { signal: l.scaling.signal, stepSeconds: l.scaling.stepMs / 1000 } : null,
      },
      leadTime: {
        steps: leadSteps, seconds: (leadSteps * stepMs) / 1000, source: s.leadTime === 'learned' && delay !== undefined ? 'learned' : 'configured',
        learnedMs: delay ?? null, configured: s.provisioningDelay, measuredScaleUpsMs: l.scaleUpMs, needed: MIN_SCALE_UPS,
      },
      alarm: { threshold: s.anomaly.alarmThreshold, maxLevel: s.anomaly.maxAlarmLevel, levels: l.alarmLevels },
      history: [...l.history].reverse(),
    };
  }

  /** Forgets the alarm level triage taught `signal` (back to the threshold), persists and audits it; SHADOWPLANE_ERR_NOT_FOUND when it has none. */
  async resetAlarmLevel(target: string, signal: string, who: Requester): Promise<void> {
    const loop = this.loop(target);
    await loop.idle();
    const change = resetAlarmLevel(loop.learned, signal, this.deps.clock.now(), who.actor, `reset: ${who.why}`);
    if (!change) throw new ShadowplaneError('SHADOWPLANE_ERR_NOT_FOUND', `target "${target}" has no learned alarm level for "${signal}"`);
    await loop.saveState();
    await this.audit(target, 'reset-alarm-level', who, change);
  }

  /** A decision by id; SHADOWPLANE_ERR_NOT_FOUND otherwise. */
  async decision(id: string): Promise<DecisionRecord> {
    const d = await this.deps.store.getDecision(id);
    if (!d) throw new ShadowplaneError('SHADOWPLANE_ERR_NOT_FOUND', `no decision ${id}`);
    return d;
  }

  /** Decisions of a target, newest first. */
  decisions(target: string, limit: number, before?: number, status?: DecisionStatus): Promise<DecisionRecord[]> {
    this.loop(target);
    return this.deps.store.listDecisions({ target, limit, before, status });
  }

  /** Conditions of a target as stored. */
  conditions(target: string): Promise<Condition[]> {
    this.loop(target);
    return this.deps.store.listConditions(target);
  }

  /** The audit trail of a target, newest first. */
  auditTrail(target: string, limit: number): Promise<AuditEntry[]> {
    return this.deps.store.listAudit(target, limit);
  }

  /** Creates the loop of a target (no-op when it has one) and starts it when the loops run. */
  private async add(target: string): Promise<void> {
    if (this.loops.has(target)) return;
    const { config } = this.deps;
    const finest = this.deps.granularities[0] * 1000;
    const i = config.targets.findIndex((t) => t.name === target);
    const declared = i >= 0 ? config.targets[i] : undefined;
    const at = `/targets/${i}`;
    const file = asConfigError(() => parseControlSettings(declared?.control ?? {}, `${at}/control`, finest));
    const fileActuator = declared?.actuator ? parseActuatorConfig(declared.actuator, `${at}/actuator`) : undefined;
    const { clock, store, granularities, flush, log, capacity } = this.deps;
    const tickSpreadMs = durationMs(config.control.tickSpread);
    const deps = { clock, store, granularities, flush, log, responder: this.responder, capacity, tickSpreadMs, ticks: this.ticks };
    const loop = await TargetLoop.open(target, file, deps);
    loop.setRules(this.rulesOf(target, loop, declared?.respond));
    if (loop.state.settings) {
      try {
        loop.configure(parseControlSettings(loop.state.settings, '', finest));
      } catch (err) {
        this.deps.log.warn({ target, err: (err as Error).message }, 'stored control settings are no longer valid; using the config file\'s');
      }
    }
    let actuator = fileActuator;
    if (loop.state.actuator === null) actuator = undefined;
    else if (loop.state.actuator) {
      try {
        actuator = parseActuatorConfig(loop.state.actuator);
      } catch (err) {
        this.deps.log.warn({ target, err: (err as Error).message }, 'the actuator stored through the API is no longer valid; using the config file\'s');
      }
    }
    this.configured.set(target, actuator);
    this.bind(loop);
    this.loops.set(target, loop);
    if (this.started && config.control.enabled) loop.start();
  }

  /** A loop's response rules: stored through the API, else the config's (already validated with the config). */
  private rulesOf(target: string, loop: TargetLoop, declared: unknown): ResponseRule[] {
    if (loop.state.respond) {
      try {
        return parseResponseRules(loop.state.respond);
      } catch (err) {
        this.deps.log.warn({ target, err: (err as Error).message }, 'response rules stored through the API are no longer valid; using the config file\'s');
      }
    }
    return parseResponseRules(declared ?? []);
  }

  /** Stops and forgets the loop of a target about to be deleted (the registry's change does it too, later). */
  async release(target: string): Promise<void> {
    const loop = this.loops.get(target);
    if (!loop) return;
    this.loops.delete(target);
    this.actuators.delete(target);
    this.configured.delete(target);
    await loop.stop();
  }

  /** Binds a loop to a new actuator made from its configured one, or to none when it has none or its settings say `enabled: false`. */
  private bind(loop: TargetLoop): void {
    const target = loop.target;
    const config = loop.current.enabled ? this.configured.get(target) : undefined;
    if (!config) {
      this.actuators.delete(target);
      return loop.bind(undefined);
    }
    const actuator = createActuator(config, { clock: this.deps.clock });
    this.actuators.set(target, actuator);
    const world = actuator.world;
    const executor = world ? this.executor : this.unverifiedExecutor;
    const binding: ActuatorBinding = {
      kind: config.type,
      submit: (action) => executor.submit(action),
      task: (taskId) => executor.get(taskId),
      observeCapacity: world ? () => worldCapacity(world, target) : undefined,
    };
    loop.bind(binding);
    if (world && world.desired(target) === 0) world.establish(target, loop.state.units ?? loop.current.initialUnits);
  }

  private assertIdle(loop: TargetLoop): void {
    if (loop.busy) throw new ShadowplaneError('SHADOWPLANE_ERR_ACTUATOR_BUSY', `a task of target "${loop.target}" is still in flight; change its actuator once it has ended`);
  }

  private async pending(id: string): Promise<DecisionRecord> {
    const record = await this.decision(id);
    if (record.status !== 'pending-approval') throw new ShadowplaneError('SHADOWPLANE_ERR_DECISION_STATE', `decision ${id} is ${record.status}, not pending-approval`);
    return record;
  }

  private async audit(target: string, action: string, who: Requester, detail: unknown): Promise<void> {
    await this.deps.store.appendAudit({ id: randomUUID(), target, at: this.deps.clock.now(), actor: who.actor, why: who.why, action, detail });
  }
}

/** Ready and booting units of a target in an observable world. */
function worldCapacity(world: ObservableWorld, target: string) {
  const ready = world.ready(target);
  return { ready, booting: world.desired(target) - ready };
}

/** Runs `fn`, turning a configuration error (the file's wording) into a request validation error. */
function asValidationError<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof ShadowplaneError && err.code === 'SHADOWPLANE_ERR_CONFIG_INVALID') throw new ShadowplaneError('SHADOWPLANE_ERR_VALIDATION', 'the actuator is not valid', [...err.problems]);
    throw err;
  }
}

function asConfigError<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof ShadowplaneError) throw new ShadowplaneError('SHADOWPLANE_ERR_CONFIG_INVALID', `control settings in the config are not valid`, [...err.problems]);
    throw err;
  }
}
