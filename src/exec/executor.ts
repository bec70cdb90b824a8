/**
 * The executor: runs actions as tasks that move through the table in states.ts, with concurrency
 * limits (global and per target), bounded retries with exponential backoff and jitter, verification
 * that the new capacity is observed within a deadline, and rollback where the actuator has one.
 * Every transition is timestamped from the injected clock and emitted to listeners. All waiting is
 * on that clock, so the same code runs live and on a VirtualClock.
 */
import type { Clock } from '../core/clock.js';
import { ShadowplaneError, type FieldProblem } from '../core/errors.js';
import type { Logger } from '../obs/log.js';
import type { Action, ActionValue, Outcome, TaskSnapshot, TaskState, TaskTransition } from '../model/action.js';
import { abortReason, failure, type Actuator } from './actuator.js';
import { backoffDelay, deadlineSignal, sleep, unlessAborted, type BackoffPolicy } from './timing.js';
import { parseExecutorConfig, type ExecutorConfig } from './config.js';
import { assertTransition, isTerminal } from './states.js';

const ACTION_KINDS = new Set(['scale', 'preallocate', 'release', 'migrate', 'route']);
const ACTION_MODES = new Set(['proactive', 'reactive', 'manual']);

/** Executor settings as a caller may give them: any subset; the rest take their defaults. */
export type ExecutorSettings = Partial<Omit<ExecutorConfig, 'backoff'>> & { backoff?: Partial<BackoffPolicy> };

/** What the executor needs from its surroundings. */
export interface ExecutorOptions {
  /** The clock for timestamps, backoff, timeouts and verification. */
  readonly clock: Clock;
  /** Where a crashed task or a failing transition listener is logged. */
  readonly log: Logger;
  /** The actuator for an action (usually by target); undefined refuses the action with `NoActuator`. */
  readonly actuatorFor: (action: Action) => Actuator | undefined;
  /**
   * Reads the target's current capacity (or value) for verification; undefined when unknown.
   * Without it, tasks succeed as soon as the actuator reports success (reason says "not verified").
   * A rejection counts as "nothing observed" for that poll.
   */
  readonly observe?: (action: Action, signal: AbortSignal) => Promise<ActionValue | undefined>;
  readonly settings?: ExecutorSettings;
  /** Random numbers in [0, 1) for backoff jitter; injectable for reproducible runs. */
  readonly random?: () => number;
  /** How many finished tasks `get` still knows (oldest forgotten first). Default 500. */
  readonly keepFinished?: number;
}

/** Why a submission was refused: a value the control loop records, not an error. */
export type RefusalReason = 'ExecutorBusy' | 'DuplicateAction' | 'NoActuator' | 'ExecutorClosed';

/** The answer to `submit`: an accepted task, or a refusal with its reason. */
export type Submission =
  | { readonly accepted: true; readonly taskId: string; readonly done: Promise<TaskSnapshot> }
  | { readonly accepted: false; readonly reason: RefusalReason; readonly message: string; readonly taskId?: string };

/** A listener for transitions. It runs synchronously; what it throws is logged and ignored. */
export type TransitionListener = (transition: TaskTransition) => void;

interface Task {
  readonly id: string;
  readonly action: Action;
  readonly actuator: Actuator;
  readonly controller: AbortController;
  readonly transitions: TaskTransition[];
  readonly done: Promise<TaskSnapshot>;
  resolve: (s: TaskSnapshot) => void;
  state: TaskState;
  attempt: number;
  outcome?: Outcome;
  observed?: ActionValue;
}

/**
 * Checks the shape of an action; returns one problem per bad field (empty when it is valid).
 * Paths are relative to the action (`/to`).
 */
export function checkAction(value: unknown): FieldProblem[] {
  if (typeof value !== 'object' || value === null) return [{ path: '/', message: 'must be an object' }];
  const a = value as Record<string, unknown>;
  const problems: FieldProblem[] = [];
  const need = (ok: boolean, key: string, rule: string): void => {
    if (!ok) problems.push({ path: `/${key}`, message: rule });
  };
  for (const key of ['id', 'target', 'reason', 'idempotencyKey']) {
    need(typeof a[key] === 'string' && a[key] !== '', key, 'must be a non-empty string');
  }
  need(ACTION_KINDS.has(a.kind as string), 'kind', `must be one of ${[...ACTION_KINDS].join(', ')}`);
  need(ACTION_MODES.has(a.mode as string), 'mode', `must be one of ${[...ACTION_MODES].join(', ')}`);
  for (const key of ['from', 'to']) {
    const v = a[key];
    need((typeof v === 'number' && Number.isFinite(v)) || (typeof v === 'string' && v !== ''), key, 'must be a finite number or a non-empty string');
  }
  need(typeof a.createdAt === 'number' && Number.isFinite(a.createdAt), 'createdAt', 'must be a time in ms since the epoch');
  return problems;
}

/**
 * True when `observed` shows `action` took effect: for numbers, at least `to` when scaling up and at
 * most `to` when scaling down (other capacity may come and go meanwhile); otherwise equal to `to`.
 */
export function reached(action: Action, observed: ActionValue): boolean {
  const { from, to } = action;
  if (typeof from === 'number' && typeof to === 'number' && typeof observed === 'number') {
    return to >= from ? observed >= to : observed <= to;
  }
  return observed === to;
}

/** Runs actions as tasks; see the module comment. One instance serves every target. */
export class Executor {
  private readonly clock: Clock;
  private readonly settings: ExecutorConfig;
  private readonly random: () => number;
  private readonly keepFinished: number;
  private readonly active = new Map<string, Task>();
  private readonly finished = new Map<string, Task>();
  private readonly listeners = new Set<TransitionListener>();
  private seq = 0;
  private closed = false;
  /** Aborted by `close`: verification stops waiting (a shutdown must not wait out its deadline). */
  private readonly closing = new AbortController();

  /** @throws ShadowplaneError SHADOWPLANE_ERR_CONFIG_INVALID when a setting breaks its rule. */
  constructor(private readonly options: ExecutorOptions) {
    this.clock = options.clock;
    this.settings = parseExecutorConfig(options.settings ?? {}, '/executor');
    this.random = options.random ?? Math.random;
    this.keepFinished = options.keepFinished ?? 500;
  }

  /** Subscribes to every transition of every task; returns the unsubscribe function. */
  on(listener: TransitionListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Starts a task for `action`, or refuses it with a reason: `DuplicateAction` when a task with the
   * same idempotency key is still active, `ExecutorBusy` at a concurrency limit, `NoActuator` when
   * no actuator serves it, `ExecutorClosed` after `close()`. The task starts on the next microtask,
   * so listeners registered now see it from `pending`.
   * @throws ShadowplaneError SHADOWPLANE_ERR_VALIDATION when the action is malformed.
   */
  submit(action: Action): Submission {
    const problems = checkAction(action);
    if (problems.length > 0) {
      throw new ShadowplaneError('SHADOWPLANE_ERR_VALIDATION', `action ${String(action?.id)} is malformed`, problems);
    }
    if (this.closed) return { accepted: false, reason: 'ExecutorClosed', message: 'the executor is shutting down' };
    const tasks = [...this.active.values()];
    const twin = tasks.find((t) => t.action.idempotencyKey === action.idempotencyKey);
    if (twin) {
      return { accepted: false, reason: 'DuplicateAction', message: `task ${twin.id} already carries idempotency key ${action.idempotencyKey}`, taskId: twin.id };
    }
    const { maxConcurrent, maxPerTarget } = this.settings;
    const onTarget = tasks.filter((t) => t.action.target === action.target);
    if (onTarget.length >= maxPerTarget) {
      return { accepted: false, reason: 'ExecutorBusy', message: `target ${action.target} has ${onTarget.length} active task(s) (${onTarget.map((t) => `${t.id} ${t.state}`).join(', ')}); limit ${maxPerTarget} per target` };
    }
    if (tasks.length >= maxConcurrent) {
      return { accepted: false, reason: 'ExecutorBusy', message: `${tasks.length} tasks active; global limit ${maxConcurrent}` };
    }
    const actuator = this.options.actuatorFor(action);
    if (!actuator) return { accepted: false, reason: 'NoActuator', message: `no actuator is configured for target ${action.target}` };

    let resolve!: (s: TaskSnapshot) => void;
    const done = new Promise<TaskSnapshot>((r) => (resolve = r));
    const task: Task = { id: `${action.id}/t${++this.seq}`, action, actuator, controller: new AbortController(), transitions: [], done, resolve, state: 'pending', attempt: 0 };
    this.active.set(task.id, task);
    this.emit(task, null, 'pending', `submitted to ${actuator.kind} actuator`);
    queueMicrotask(() => {
      // run() settles every task itself; reaching this catch means a bug in the table or the loop.
      this.run(task).catch((err: unknown) => this.options.log.error({ err, taskId: task.id }, 'executor task crashed'));
    });
    return { accepted: true, taskId: task.id, done };
  }

  /**
   * Asks a task to stop. Pending and retrying tasks stop at once; a running task's actuator is
   * aborted and the task ends `cancelled` unless the actuator had already applied the action.
   * @throws ShadowplaneError SHADOWPLANE_ERR_NOT_FOUND for an unknown task id;
   *   SHADOWPLANE_ERR_EXEC_TRANSITION when the task is verifying, rolling back or finished.
   */
  cancel(taskId: string, why = 'cancelled by request'): void {
    const task = this.active.get(taskId) ?? this.finished.get(taskId);
    if (!task) throw new ShadowplaneError('SHADOWPLANE_ERR_NOT_FOUND', `no task ${taskId}`, [{ path: 'taskId', message: 'no such task' }]);
    assertTransition(task.id, task.state, 'cancelled');
    task.controller.abort(new Error(why));
  }

  /** The task with this id, while active or among the recently finished; undefined otherwise. */
  get(taskId: string): TaskSnapshot | undefined {
    const task = this.active.get(taskId) ?? this.finished.get(taskId);
    return task && snapshot(task);
  }

  /** Active tasks, optionally for one target only. */
  list(target?: string): TaskSnapshot[] {
    return [...this.active.values()].filter((t) => target === undefined || t.action.target === target).map(snapshot);
  }

  /**
   * Stops accepting actions, cancels every task that can still be cancelled, ends verifying tasks
   * as failed ("not verified") without rolling them back, and resolves when all tasks have
   * finished (a rollback already under way runs to its end, within applyTimeoutMs).
   */
  async close(): Promise<void> {
    this.closed = true;
    this.closing.abort(new Error('the executor is closing'));
    for (const task of this.active.values()) {
      if (task.state === 'pending' || task.state === 'running' || task.state === 'retrying') task.controller.abort(new Error('executor closing'));
    }
    await Promise.all([...this.active.values()].map((t) => t.done));
  }

  private async run(task: Task): Promise<void> {
    const { signal } = task.controller;
    const { maxAttempts, backoff } = this.settings;
    if (signal.aborted) return this.move(task, 'cancelled', abortReason(signal));
    task.attempt = 1;
    this.move(task, 'running', `attempt 1 of ${maxAttempts}`);
    for (;;) {
      const outcome = await this.applyOnce(task);
      task.outcome = outcome;
      if (outcome.ok) break;
      if (signal.aborted) return this.move(task, 'cancelled', `${abortReason(signal)}; actuator said: ${outcome.reason}`, outcome);
      if (!outcome.retryable || task.attempt >= maxAttempts) {
        const tail = outcome.retryable ? ` (gave up after ${task.attempt} attempt(s))` : ' (not retryable)';
        return this.move(task, 'failed', `apply failed: ${outcome.reason}${tail}`, outcome);
      }
      const delay = backoffDelay(backoff, task.attempt, this.random);
      this.move(task, 'retrying', `apply failed: ${outcome.reason}; retry in ${delay} ms`, outcome);
      try {
        await sleep(this.clock, delay, signal);
      } catch {
        return this.move(task, 'cancelled', abortReason(signal));
      }
      task.attempt += 1;
      this.move(task, 'running', `attempt ${task.attempt} of ${maxAttempts}`);
    }

    const applied = `applied: ${task.outcome.reason}`;
    if (!this.options.observe) return this.move(task, 'succeeded', `${applied}; not verified (no observer configured)`, task.outcome);
    this.move(task, 'verifying', `${applied}; waiting up to ${this.settings.verifyDeadlineMs} ms to observe ${task.action.to}`, task.outcome);
    const verdict = await this.verify(task);
    if (verdict.ok) return this.move(task, 'succeeded', verdict.reason);
    if (this.closing.signal.aborted) return this.move(task, 'failed', `${applied}; not verified: the executor closed while verifying (not rolled back)`, task.outcome);
    if (!task.actuator.rollback) return this.move(task, 'failed', `${verdict.reason}; the ${task.actuator.kind} actuator has no rollback`);

    this.move(task, 'rolling-back', verdict.reason);
    const undo = await this.call(task, (s) => task.actuator.rollback!(task.action, s));
    task.outcome = undo;
    this.move(task, undo.ok ? 'rolled-back' : 'rollback-failed', `rollback to ${task.action.from}: ${undo.reason}`, undo);
  }

  private applyOnce(task: Task): Promise<Outcome> {
    return this.call(task, (s) => task.actuator.apply(task.action, s));
  }

  /**
   * Calls the actuator with a signal that aborts on cancellation or after applyTimeoutMs, and
   * never waits longer than that even if the actuator ignores the signal. A throw becomes a
   * non-retryable failure.
   */
  private async call(task: Task, fn: (signal: AbortSignal) => Promise<Outcome>): Promise<Outcome> {
    const { applyTimeoutMs } = this.settings;
    const deadline = deadlineSignal(this.clock, applyTimeoutMs, task.controller.signal);
    const { kind } = task.actuator;
    const attempt = fn(deadline.signal).catch((err: unknown) => failure(`the ${kind} actuator threw: ${messageOf(err)}`, false, 1));
    try {
      return await unlessAborted(attempt, deadline.signal, () =>
        deadline.timedOut() ? failure(`no answer from the ${kind} actuator within ${applyTimeoutMs} ms`, true, 1) : failure(abortReason(deadline.signal), false, 1),
      );
    } finally {
      deadline.dispose();
    }
  }

  /** Polls `observe` until the action shows or the verification deadline passes. */
  private async verify(task: Task): Promise<{ ok: boolean; reason: string }> {
    const { verifyDeadlineMs, verifyIntervalMs } = this.settings;
    const { action } = task;
    const observe = this.options.observe!;
    const deadlineAt = this.clock.now() + verifyDeadlineMs;
    let problem = '';
    for (;;) {
      const left = Math.max(0, deadlineAt - this.clock.now());
      // Bound each observation by the time left, so a hanging observer cannot stall the task.
      const bound = deadlineSignal(this.clock, Math.max(1, left), this.closing.signal);
      let observed: ActionValue | undefined;
      try {
        observed = await unlessAborted(observe(action, bound.signal), bound.signal, () => undefined);
        problem = '';
      } catch (err) {
        problem = `; observer failed: ${messageOf(err)}`;
      } finally {
        bound.dispose();
      }
      if (observed !== undefined) task.observed = observed;
      if (observed !== undefined && reached(action, observed)) {
        return { ok: true, reason: `observed ${observed} for ${action.to} asked` };
      }
      const remaining = deadlineAt - this.clock.now();
      if (remaining <= 0) {
        const last = task.observed === undefined ? 'nothing observed' : `last observed ${task.observed}`;
        return { ok: false, reason: `verification deadline of ${verifyDeadlineMs} ms missed: ${last}, ${action.to} asked${problem}` };
      }
      if (this.closing.signal.aborted) return { ok: false, reason: 'the executor closed' };
      try {
        await sleep(this.clock, Math.min(verifyIntervalMs, remaining), this.closing.signal);
      } catch {
        return { ok: false, reason: 'the executor closed' };
      }
    }
  }

  private move(task: Task, to: TaskState, reason: string, outcome?: Outcome): void {
    assertTransition(task.id, task.state, to);
    const from = task.state;
    task.state = to;
    this.emit(task, from, to, reason, outcome);
    if (isTerminal(to)) {
      this.active.delete(task.id);
      this.finished.set(task.id, task);
      if (this.finished.size > this.keepFinished) this.finished.delete(this.finished.keys().next().value!);
      task.resolve(snapshot(task));
    }
  }

  private emit(task: Task, from: TaskState | null, to: TaskState, reason: string, outcome?: Outcome): void {
    const { action } = task;
    const transition: TaskTransition = {
      taskId: task.id, actionId: action.id, target: action.target, from, to, at: this.clock.now(), attempt: task.attempt, reason,
      ...(outcome ? { outcome } : {}),
    };
    task.transitions.push(transition);
    for (const listener of this.listeners) {
      try {
        listener(transition);
      } catch (err) {
        this.options.log.error({ err, taskId: task.id }, 'transition listener failed');
      }
    }
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function snapshot(task: Task): TaskSnapshot {
  return {
    id: task.id,
    action: task.action,
    state: task.state,
    attempt: task.attempt,
    transitions: [...task.transitions],
    ...(task.outcome ? { outcome: task.outcome } : {}),
    ...(task.observed !== undefined ? { observed: task.observed } : {}),
  };
}
