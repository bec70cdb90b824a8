/**
 * The one interface every actuator implements, and small helpers they share. An actuator turns an
 * Action into a change in the real system (an HTTP call, a process, a virtual fleet) and reports
 * an Outcome. Expected failures are Outcome values; a thrown error is treated by the executor as a
 * non-retryable failure.
 */
import type { Action, Outcome } from '../model/action.js';

/** Something that can carry out actions on a target system. */
export interface Actuator {
  /** The actuator type: `webhook`, `command`, `replay`, or a plug-in's own name. */
  readonly kind: string;
  /**
   * Carries out `action`. Resolves with the outcome (ok or not, and whether retrying may help);
   * stops early when `signal` aborts and then resolves with a failed outcome saying so.
   */
  apply(action: Action, signal: AbortSignal): Promise<Outcome>;
  /**
   * Undoes `action` (brings the target back to `action.from`). Present only where the actuator
   * supports it; resolves with the outcome like `apply`.
   */
  rollback?(action: Action, signal: AbortSignal): Promise<Outcome>;
  /**
   * Present when the actuator's world can be observed from here (the replay fleet): its units
   * ready and asked for per target, so tasks are verified against what serves and the loop reads
   * its capacity from the world instead of estimating it.
   */
  readonly world?: ObservableWorld;
}

/** The units an observable world runs per target (see Actuator.world). */
export interface ObservableWorld {
  /** Units serving now (0 for an unknown target). */
  ready(target: string): number;
  /** Units that exist, ready or booting (0 for an unknown target). */
  desired(target: string): number;
  /** Declares the units a target already has, all ready now (a restarted service finds its units running). */
  establish(target: string, count: number): void;
}

/**
 * The action that undoes `action`: `from` and `to` swapped, its own id and idempotency key (so a
 * receiver that deduplicates by key does not mistake it for the original).
 */
export function inverseOf(action: Action): Action {
  return {
    ...action,
    id: `${action.id}:rollback`,
    from: action.to,
    to: action.from,
    reason: `RollbackOf:${action.reason}`,
    idempotencyKey: `${action.idempotencyKey}:rollback`,
  };
}

/** A failed outcome. */
export function failure(reason: string, retryable: boolean, attempts: number, detail?: unknown): Outcome {
  return detail === undefined ? { ok: false, reason, retryable, attempts } : { ok: false, reason, retryable, attempts, detail };
}

/** The capacity an actuator's structured answer reports, if it has a finite numeric `capacity` field. */
export function capacityOf(detail: unknown): number | undefined {
  if (typeof detail !== 'object' || detail === null) return undefined;
  const value = (detail as { capacity?: unknown }).capacity;
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/** Why an abort happened, in words (the executor aborts with an Error saying why). */
export function abortReason(signal: AbortSignal): string {
  const r: unknown = signal.reason;
  return r instanceof Error ? r.message : typeof r === 'string' ? r : 'aborted';
}
