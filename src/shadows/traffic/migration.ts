/**
 * Gradual migration of a route's live traffic from primary to shadow: steps of weight,
 * each verified over a minimum request count and time against the primary (error rate, p99,
 * mismatch rate); a failed check rolls back to the last good weight (or to zero), and so does a
 * primary that recovers when the policy says so. Every step and verdict is recorded.
 */
import type { Clock } from '../../core/clock.js';
import { ShadowplaneError } from '../../core/errors.js';
import { logger } from '../../obs/log.js';
import type { MigrationPolicy } from './config.js';
import type { WindowSummary } from './stats.js';

const log = logger('traffic.migration');

/** Where a migration stands. */
export type MigrationStatus = 'running' | 'paused' | 'completed' | 'rolled_back' | 'aborted';

/** The measurements one verdict is based on. */
export interface StepEvidence {
  primary: WindowSummary;
  shadow: WindowSummary;
  /** Primary reference used for the p99 check (the current window, or the last one with enough requests). */
  primaryP99RefMs: number;
  mismatchRate: number;
  compared: number;
}

/** One recorded event of a migration. */
export interface MigrationRecord {
  at: number;
  event: 'start' | 'step' | 'verdict' | 'rollback' | 'promote' | 'pause' | 'resume' | 'abort' | 'complete';
  weight: number;
  pass?: boolean;
  reasons?: string[];
  evidence?: StepEvidence;
}

/** What a migration needs from its route. */
export interface MigrationDeps {
  clock: Clock;
  /** Sets the share of live traffic served by the shadow. */
  setWeight(weight: number): void;
  /** Current step window of both upstreams and the mirror comparison. */
  window(): { primary: WindowSummary; shadow: WindowSummary; mismatchRate: number; compared: number };
  /** Starts new windows (called at every step change). */
  resetWindow(): void;
  /** True when the primary, once degraded, is healthy again by the policy's recovery rule. */
  primaryRecovered(): boolean;
  /** Told of every recorded event (the proxy puts them on the target's timeline). */
  onRecord?(migration: Migration, record: MigrationRecord): void;
}

/** A snapshot for the API. */
export interface MigrationView {
  id: string;
  route: string;
  status: MigrationStatus;
  reason: string;
  steps: number[];
  stepIndex: number;
  weight: number;
  lastGoodWeight: number;
  stepStartedAt: number;
  history: MigrationRecord[];
}

let nextId = 1;

/**
 * One migration of one route. Evaluates on a timer of the injected clock every `tickMs`; stops
 * its timer when it reaches a final state. Commands on a finished migration throw
 * SHADOWPLANE_ERR_MIGRATION_STATE.
 */
export class Migration {
  readonly id: string;
  status: MigrationStatus = 'running';
  stepIndex = 0;
  weight: number;
  lastGoodWeight: number;
  stepStartedAt: number;
  readonly history: MigrationRecord[] = [];
  private primaryRef = 0;
  private stopTimer: (() => void) | undefined;

  constructor(readonly route: string, readonly policy: MigrationPolicy, private readonly deps: MigrationDeps, initialWeight: number, readonly reason = 'manual', private readonly tickMs = 250) {
    this.id = `mig-${deps.clock.now().toString(36)}-${nextId++}`;
    this.lastGoodWeight = initialWeight;
    this.weight = initialWeight;
    this.stepStartedAt = deps.clock.now();
    this.record({ event: 'start', weight: initialWeight, reasons: [reason] });
    this.enterStep(0);
    this.schedule();
  }

  private schedule(): void {
    this.stopTimer = this.deps.clock.setTimer(this.tickMs, () => {
      this.stopTimer = undefined;
      this.evaluate();
      if (this.watching()) this.schedule();
    });
  }

  /** Running, paused, or completed but still watching for the primary to recover. */
  private watching(): boolean {
    return this.status === 'running' || this.status === 'paused' || (this.status === 'completed' && this.policy.rollbackOnPrimaryRecovery);
  }

  private record(r: Omit<MigrationRecord, 'at'>): void {
    const rec = { at: this.deps.clock.now(), ...r };
    this.history.push(rec);
    this.deps.onRecord?.(this, rec);
    log.info({ route: this.route, migration: this.id, event: r.event, weight: r.weight, pass: r.pass, reasons: r.reasons }, 'migration event');
  }

  private enterStep(i: number): void {
    this.stepIndex = i;
    this.weight = this.policy.steps[i]!;
    this.stepStartedAt = this.deps.clock.now();
    this.deps.resetWindow();
    this.deps.setWeight(this.weight);
    this.record({ event: 'step', weight: this.weight });
  }

  /** Checks the current step; advances, completes or rolls back. Called by the timer; safe to call any time. */
  evaluate(): void {
    const p = this.policy;
    if (p.rollbackOnPrimaryRecovery && (this.status === 'running' || this.status === 'completed') && this.deps.primaryRecovered()) {
      this.rollbackTo(0, 'rolled_back', ['primary recovered']);
      return;
    }
    if (this.status !== 'running') return;
    const w = this.deps.window();
    if (w.primary.requests >= p.minRequests) this.primaryRef = w.primary.p99Ms;
    if (w.shadow.requests < p.minRequests || this.deps.clock.now() - this.stepStartedAt < p.minDurationMs) return;
    const reasons: string[] = [];
    if (w.shadow.errorRate > w.primary.errorRate + p.errorRateTolerance) {
      reasons.push(`shadow error rate ${fmt(w.shadow.errorRate)} > primary ${fmt(w.primary.errorRate)} + ${p.errorRateTolerance}`);
    }
    const ref = this.primaryRef;
    if (ref > 0 && w.shadow.p99Ms > ref * (1 + p.p99Tolerance) + p.p99SlackMs) {
      reasons.push(`shadow p99 ${w.shadow.p99Ms.toFixed(1)} ms > primary ${ref.toFixed(1)} ms x ${1 + p.p99Tolerance} + ${p.p99SlackMs} ms`);
    }
    if (w.mismatchRate > p.maxMismatchRate) reasons.push(`mismatch rate ${fmt(w.mismatchRate)} > ${p.maxMismatchRate}`);
    const evidence: StepEvidence = { primary: w.primary, shadow: w.shadow, primaryP99RefMs: ref, mismatchRate: w.mismatchRate, compared: w.compared };
    const pass = reasons.length === 0;
    this.record({ event: 'verdict', weight: this.weight, pass, reasons, evidence });
    if (pass) this.advance();
    else this.rollbackTo(p.rollbackTo === 'zero' ? 0 : this.lastGoodWeight, 'rolled_back', reasons);
  }

  private advance(): void {
    this.lastGoodWeight = this.weight;
    if (this.stepIndex + 1 >= this.policy.steps.length) {
      this.status = 'completed';
      if (!this.watching()) this.stop();
      this.record({ event: 'complete', weight: this.weight });
    } else this.enterStep(this.stepIndex + 1);
  }

  private rollbackTo(weight: number, status: MigrationStatus, reasons: string[]): void {
    this.status = status;
    this.weight = weight;
    this.deps.setWeight(weight);
    this.stop();
    this.record({ event: status === 'aborted' ? 'abort' : 'rollback', weight, reasons });
  }

  private active(cmd: string, completedToo = false): void {
    if (this.status !== 'running' && this.status !== 'paused' && !(completedToo && this.status === 'completed')) {
      throw new ShadowplaneError('SHADOWPLANE_ERR_MIGRATION_STATE', `cannot ${cmd}: migration ${this.id} is ${this.status}`);
    }
  }

  /** Operator: accept the current step without verification and move to the next. */
  promote(): void {
    this.active('promote');
    this.record({ event: 'promote', weight: this.weight });
    if (this.status === 'paused') this.status = 'running';
    this.advance();
  }

  /** Operator: hold the current weight; no verdicts until resumed. */
  pause(): void {
    this.active('pause');
    this.status = 'paused';
    this.record({ event: 'pause', weight: this.weight });
  }

  /** Operator: continue a paused migration with a fresh window. */
  resume(): void {
    if (this.status !== 'paused') throw new ShadowplaneError('SHADOWPLANE_ERR_MIGRATION_STATE', `cannot resume: migration ${this.id} is ${this.status}`);
    this.status = 'running';
    this.stepStartedAt = this.deps.clock.now();
    this.deps.resetWindow();
    this.record({ event: 'resume', weight: this.weight });
  }

  /** Operator: all traffic back to the primary, migration over (also after completion). */
  abort(): void {
    this.active('abort', true);
    this.rollbackTo(0, 'aborted', ['aborted by operator']);
  }

  /**
   * Operator: back to the last good weight (or zero per policy), migration over. After completion
   * the last good weight is 100 %, so use abort to return to the primary.
   */
  rollback(): void {
    this.active('rollback', true);
    this.rollbackTo(this.policy.rollbackTo === 'zero' ? 0 : this.lastGoodWeight, 'rolled_back', ['rolled back by operator']);
  }

  /** Stops the timer (final states, or the route being removed). */
  stop(): void {
    this.stopTimer?.();
    this.stopTimer = undefined;
  }

  /** A copy for the API. */
  view(): MigrationView {
    return {
      id: this.id, route: this.route, status: this.status, reason: this.reason, steps: this.policy.steps, stepIndex: this.stepIndex,
      weight: this.weight, lastGoodWeight: this.lastGoodWeight, stepStartedAt: this.stepStartedAt, history: [...this.history],
    };
  }
}

function fmt(x: number): string {
  return x.toFixed(4);
}
