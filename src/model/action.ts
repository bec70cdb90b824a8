/**
 * Plain types for actions (what the control loop decided to change) and the executor tasks that
 * carry them out. No imports, no behaviour: the executor lives in src/exec.
 */

/** What an action changes. Capacity kinds carry numbers in `from`/`to`; others may carry names. */
export type ActionKind = 'scale' | 'preallocate' | 'release' | 'migrate' | 'route';

/** Why the action was taken: ahead of a forecast, in reaction to current use, or by an operator. */
export type ActionMode = 'proactive' | 'reactive' | 'manual';

/** A capacity (replicas, units) or, for non-capacity kinds, a name such as a node or a route. */
export type ActionValue = number | string;

/** One change the control loop asks an actuator to make. Immutable once created. */
export interface Action {
  /** Unique id of the action (also names the decision that produced it in logs). */
  readonly id: string;
  /** The managed target the action applies to. */
  readonly target: string;
  readonly kind: ActionKind;
  /** The value before the change, as the loop saw it. */
  readonly from: ActionValue;
  /** The value asked for. */
  readonly to: ActionValue;
  /** Reason code from the decision, e.g. `ForecastAboveThreshold`. */
  readonly reason: string;
  readonly mode: ActionMode;
  /** Same key = same intended change; actuators pass it on so a retried request is applied once. */
  readonly idempotencyKey: string;
  /** When the action was decided, ms since the epoch (from the injected clock). */
  readonly createdAt: number;
}

/** What an actuator reports after one apply or rollback. Failures are values, not exceptions. */
export interface Outcome {
  /** True when the actuator did what was asked. */
  readonly ok: boolean;
  /** Short reason in words: `applied`, `HTTP 503 Service Unavailable`, `exit status 2`, `timed out after 5000 ms`. */
  readonly reason: string;
  /** True when a later attempt may succeed (5xx, network error, timeout); false for a definite refusal. */
  readonly retryable: boolean;
  /** The capacity the system reports after the change, when it reports one. */
  readonly capacity?: number;
  /** The actuator's structured answer (a webhook's JSON body, a command's last JSON line). */
  readonly detail?: unknown;
  /** Requests or processes the actuator made for this outcome (its own retries included). */
  readonly attempts: number;
}

/**
 * Executor task states. The allowed moves between them are the table in src/exec/states.ts:
 * pending -> running -> verifying -> succeeded, with retrying (waiting out a backoff), failed,
 * rolling-back -> rolled-back | rollback-failed, and cancelled.
 */
export type TaskState =
  | 'pending'
  | 'running'
  | 'retrying'
  | 'verifying'
  | 'succeeded'
  | 'failed'
  | 'rolling-back'
  | 'rolled-back'
  | 'rollback-failed'
  | 'cancelled';

/** One state change of one task, timestamped from the executor's clock. */
export interface TaskTransition {
  readonly taskId: string;
  readonly actionId: string;
  readonly target: string;
  /** The state left; null for the task's creation. */
  readonly from: TaskState | null;
  readonly to: TaskState;
  /** ms since the epoch, from the injected clock. */
  readonly at: number;
  /** Apply attempts made so far (1 on the first run). */
  readonly attempt: number;
  /** Why, in words: `apply failed: HTTP 503 ...`, `observed capacity 4 >= 4`, `verification deadline 60000 ms missed`. */
  readonly reason: string;
  /** The actuator outcome that caused this move, when one did. */
  readonly outcome?: Outcome;
}

/** A read-only view of a task. */
export interface TaskSnapshot {
  readonly id: string;
  readonly action: Action;
  readonly state: TaskState;
  readonly attempt: number;
  /** Every transition so far, oldest first (the first has `from: null`). */
  readonly transitions: readonly TaskTransition[];
  /** The last actuator outcome, if the actuator has been called. */
  readonly outcome?: Outcome;
  /** The last capacity (or value) observed during verification. */
  readonly observed?: ActionValue;
}
