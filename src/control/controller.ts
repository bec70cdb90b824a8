/**
 * The control plane of a service: one TargetLoop per controlled target (declared in the config
 * with an `actuator` and `control.enabled`), the executor that carries out their actions, and the
 * operator's operations the API and CLI call: settings, overrides (pause, dry-run, review, pin),
 * forced actions, approve / reject. Every operator change is persisted and written to the audit
 * trail with who, when and why.
 */
import { randomUUID } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import { durationMs } from '../core/schema.js';
import { type Config } from '../config.js';
import { ShadowplaneError } from '../core/errors.js';
import type { Actuator } from '../exec/actuator.js';
import { createActuator, parseActuatorConfig } from '../exec/config.js';
import { Executor } from '../exec/executor.js';
import { ReplayActuator } from '../exec/replay.js';
import type { AuditEntry, Condition, DecisionRecord, DecisionStatus, Overrides, PinOverride } from '../model/decision.js';
import type { Logger } from '../obs/log.js';
import type { ShadowStore } from '../store/store.js';
import { TargetLoop } from './loop.js';
import { parseControlSettings, type ControlSettings } from './settings.js';

/** What the controller needs from the service. */
export interface ControllerDeps {
  readonly config: Config;
  readonly clock: Clock;
  readonly store: ShadowStore;
  readonly granularities: readonly number[];
  readonly flush: () => Promise<void>;
  readonly log: Logger;
  /** Whether a target of that name exists (controlled or not): an unknown name is then SHADOWPLANE_ERR_TARGET_NOT_FOUND. */
  readonly targetExists?: (name: string) => boolean;
}

/** Who asks, and why (the time is the controller's clock). */
export interface Requester {
  readonly actor: string;
  readonly why: string;
}

/** Override kinds as the API names them. */
export type OverrideKind = 'pause' | 'dry-run' | 'review' | 'pin';

const OVERRIDE_KEY = { pause: 'pause', 'dry-run': 'dryRun', review: 'review', pin: 'pin' } as const;

/** Runs the control loops of a service. */
export class Controller {
  /** Executor for targets whose new capacity can be observed (the replay fleet): tasks are verified. */
  readonly executor: Executor;
  /** Executor for targets acted on through webhooks or commands, which report but cannot be observed here. */
  readonly unverifiedExecutor: Executor;
  private readonly loops = new Map<string, TargetLoop>();
  private readonly actuators = new Map<string, Actuator>();

  constructor(private readonly deps: ControllerDeps) {
    const settings = deps.config.control.executor;
    const actuatorFor = (a: { target: string }) => this.actuators.get(a.target);
    this.executor = new Executor({
      clock: deps.clock,
      settings,
      actuatorFor,
      observe: async (a) => {
        const act = this.actuators.get(a.target);
        return act instanceof ReplayActuator ? act.fleet.ready(a.target) : undefined;
      },
    });
    this.unverifiedExecutor = new Executor({ clock: deps.clock, settings, actuatorFor });
  }

  /**
   * Builds the loops of the controlled targets from the config, with settings stored through the
   * API taking precedence over the file's. Throws SHADOWPLANE_ERR_CONFIG_INVALID for settings or
   * an actuator that break a rule, naming the key.
   */
  async init(): Promise<void> {
    const { config } = this.deps;
    const finest = this.deps.granularities[0] * 1000;
    for (const [i, t] of config.targets.entries()) {
      if (!t.actuator || !t.control.enabled) continue;
      const at = `/targets/${i}`;
      const file = asConfigError(() => parseControlSettings(t.control, `${at}/control`, finest));
      const actuatorConfig = parseActuatorConfig(t.actuator, `${at}/actuator`);
      const actuator = createActuator(actuatorConfig, { clock: this.deps.clock });
      this.actuators.set(t.name, actuator);
      const executor = actuator instanceof ReplayActuator ? this.executor : this.unverifiedExecutor;
      const loop = await TargetLoop.open(t.name, file, {
        clock: this.deps.clock,
        store: this.deps.store,
        granularities: this.deps.granularities,
        flush: this.deps.flush,
        log: this.deps.log,
        submit: (action) => executor.submit(action),
        task: (taskId) => executor.get(taskId),
        observeCapacity: actuator instanceof ReplayActuator ? () => fleetCapacity(actuator, t.name) : undefined,
      });
      if (loop.state.settings) {
        try {
          loop.configure(parseControlSettings(loop.state.settings, '', finest));
        } catch (err) {
          this.deps.log.warn({ target: t.name, err: (err as Error).message }, 'stored control settings are no longer valid; using the config file\'s');
        }
      }
      if (actuator instanceof ReplayActuator && actuator.fleet.desired(t.name) === 0) {
        actuator.fleet.establish(t.name, loop.state.units ?? loop.current.initialUnits);
      }
      this.loops.set(t.name, loop);
    }
  }

  /** Starts every loop (unless `control.enabled` is false). */
  start(): void {
    if (!this.deps.config.control.enabled) return;
    for (const loop of this.loops.values()) loop.start();
  }

  /**
   * Stops the loops (waiting for running ticks), then the executors — tasks not yet applied are
   * cancelled, tasks verifying end failed ("not verified", not rolled back), a rollback under way
   * runs to its end — and resolves once every outcome is in the store, so the store can close.
   */
  async stop(): Promise<void> {
    await Promise.all([...this.loops.values()].map((l) => l.stop()));
    await Promise.all([this.executor, this.unverifiedExecutor].map((e) => e.close()));
    await Promise.all([...this.loops.values()].map((l) => l.outcomesRecorded()));
  }

  /** The loop of a controlled target; SHADOWPLANE_ERR_TARGET_NOT_FOUND for no target, SHADOWPLANE_ERR_NOT_CONTROLLED for one without a loop. */
  loop(target: string): TargetLoop {
    const loop = this.loops.get(target);
    if (!loop && this.deps.targetExists?.(target) === false) throw new ShadowplaneError('SHADOWPLANE_ERR_TARGET_NOT_FOUND', `no target is called "${target}"`);
    if (!loop) throw new ShadowplaneError('SHADOWPLANE_ERR_NOT_CONTROLLED', `target "${target}" has no control loop: declare it in the config with an actuator and control.enabled`);
    return loop;
  }

  /** Names of the controlled targets. */
  controlled(): string[] {
    return [...this.loops.keys()].sort();
  }

  /** Resolves when no loop is in the middle of a tick. */
  async idle(): Promise<void> {
    await Promise.all([...this.loops.values()].map((l) => l.idle()));
  }

  /** The control view of a target: settings, overrides, capacity, actuator. */
  view(target: string) {
    const loop = this.loop(target);
    return { target, settings: loop.current, overrides: loop.state.overrides, capacity: loop.capacity(), actuator: this.actuators.get(target)!.kind, settingsSource: loop.state.settings ? 'api' : 'config' };
  }

  /** Changes some settings (validated together with the rest), persists and audits them; the loop re-warms on its next tick. */
  async putSettings(target: string, patch: Record<string, unknown>, who: Requester): Promise<ControlSettings> {
    const loop = this.loop(target);
    const merged = parseControlSettings({ ...loop.current, ...patch }, '/body/settings', this.deps.granularities[0] * 1000);
    await loop.idle();
    loop.configure(merged);
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
    const loop = this.loop(target);
    const now = this.deps.clock.now();
    const cap = loop.capacity();
    const current = cap.ready + cap.booting;
    const record: DecisionRecord = {
      id: randomUUID(), target, at: now,
      inputs: { signal: loop.current.metric ?? 'requests', demand: 0, windows: 0, minWindows: loop.current.minWindows, stepSeconds: durationMs(loop.current.interval) / 1000, ready: cap.ready, booting: cap.booting, capacityPerUnit: loop.current.capacityPerUnit, provisioningDelaySteps: 0 },
      forecast: null, scores: null, recommendation: null, steps: [], overrides: ['force'],
      action: null, status: 'no-action', reason: 'Forced', message: `keep ${current} units: forced to what is there already`, outcome: null,
      review: { actor: who.actor, at: now, why: who.why, verdict: 'forced' },
    };
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
    const loop = this.loop(record.target);
    const cap = loop.capacity();
    Object.assign(record, { action: { ...record.action!, from: cap.ready + cap.booting }, review: { actor: who.actor, at: this.deps.clock.now(), why: who.why, verdict: 'approved' } });
    loop.execute(record);
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

  private async pending(id: string): Promise<DecisionRecord> {
    const record = await this.decision(id);
    if (record.status !== 'pending-approval') throw new ShadowplaneError('SHADOWPLANE_ERR_DECISION_STATE', `decision ${id} is ${record.status}, not pending-approval`);
    return record;
  }

  private async audit(target: string, action: string, who: Requester, detail: unknown): Promise<void> {
    await this.deps.store.appendAudit({ id: randomUUID(), target, at: this.deps.clock.now(), actor: who.actor, why: who.why, action, detail });
  }
}

/** Ready and booting units of a target in a replay fleet. */
function fleetCapacity(actuator: ReplayActuator, target: string) {
  const ready = actuator.fleet.ready(target);
  return { ready, booting: actuator.fleet.desired(target) - ready };
}

function asConfigError<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof ShadowplaneError) throw new ShadowplaneError('SHADOWPLANE_ERR_CONFIG_INVALID', `control settings in the config are not valid`, [...err.problems]);
    throw err;
  }
}
