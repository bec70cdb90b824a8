/**
 * The responder: carries out the actions of response rules other than scaling, as executor tasks
 * (retries with backoff, timeouts, the task state table, transitions on the executor's clock). A
 * shadow action is relayed to the named component through the shadow registry, which audits it
 * under the component with the rule as the actor; a webhook is POSTed the firing as JSON; a command
 * runs as the command actuator runs one, with the firing as its action. The
 * component does its own verification (a traffic migration checks every step and rolls itself
 * back), so tasks here succeed when the component accepted the action.
 */
import type { Clock } from '../core/clock.js';
import { ShadowplaneError } from '../core/errors.js';
import { failure, type Actuator } from '../exec/actuator.js';
import { CommandActuator } from '../exec/command.js';
import { Executor, type ExecutorSettings, type Submission } from '../exec/executor.js';
import type { Action, Outcome } from '../model/action.js';
import type { DecisionRecord } from '../model/decision.js';
import type { Logger } from '../obs/log.js';
import type { Responder } from './loop.js';
import { actionKind, describeAction, type ResponseAction } from './respond.js';
import type { ShadowAction } from './shadows/components.js';
import type { ShadowRegistry } from './shadows/registry.js';

/** What a rule's action asks of a shadow component, as the registry relays it; undefined for webhook, command and notify. */
export function shadowActionOf(a: ResponseAction): { shadow: string; action: ShadowAction } | undefined {
  if (a.migrate) return { shadow: a.migrate.shadow, action: { op: 'migration-start', route: a.migrate.route, ...(a.migrate.steps ? { steps: a.migrate.steps } : {}) } };
  if (a.abort) return { shadow: a.abort.shadow, action: { op: 'migration', route: a.abort.route, command: 'abort' } };
  if (a.failover) return { shadow: a.failover.shadow, action: { op: 'failover', volume: a.failover.volume } };
  if (a.failback) return { shadow: a.failback.shadow, action: { op: 'failback', volume: a.failback.volume } };
  if (a.move) return { shadow: a.move.shadow, action: { op: 'move', partition: a.move.partition, worker: a.move.worker } };
  if (a.pin) return { shadow: a.pin.shadow, action: { op: 'pin', partition: a.pin.partition, pinned: a.pin.pinned } };
  return undefined;
}

/** What a submitted firing carries to its actuator call. */
interface Pending {
  readonly record: DecisionRecord;
  readonly action: ResponseAction;
}

/** Carries out response actions (see the file comment). */
export class RuleResponder implements Responder {
  private readonly executor: Executor;
  private readonly pending = new Map<string, Pending>();

  constructor(
    private readonly deps: { readonly clock: Clock; readonly log: Logger; readonly shadows: ShadowRegistry; readonly settings?: ExecutorSettings },
  ) {
    const actuator: Actuator = { kind: 'respond', apply: (action, signal) => this.apply(action, signal) };
    this.executor = new Executor({ clock: deps.clock, log: deps.log, settings: deps.settings, actuatorFor: () => actuator });
  }

  submit(target: string, record: DecisionRecord, action: ResponseAction): Submission {
    const kind = actionKind(action);
    const task: Action = {
      id: record.id, target, kind: kind === 'migrate' || kind === 'abort' ? 'migrate' : 'route', from: `rule:${record.response?.rule ?? ''}`, to: describeAction(action),
      reason: `${record.reason}:${record.response?.rule ?? ''}`, mode: 'proactive', idempotencyKey: `${target}:${record.id}`, createdAt: this.deps.clock.now(),
    };
    this.pending.set(task.id, { record, action });
    const sub = this.executor.submit(task);
    if (!sub.accepted) this.pending.delete(task.id);
    else void sub.done.finally(() => this.pending.delete(task.id));
    return sub;
  }

  /** Ends the tasks not yet applied and waits for the running ones. */
  close(): Promise<void> {
    return this.executor.close();
  }

  private async apply(task: Action, signal: AbortSignal): Promise<Outcome> {
    const p = this.pending.get(task.id);
    if (!p) return failure('the firing is no longer known', false, 1);
    const who = { actor: `rule:${p.record.response?.rule ?? 'unknown'}`, why: p.record.message };
    const shadow = shadowActionOf(p.action);
    if (shadow) {
      try {
        const { result } = await this.deps.shadows.act(shadow.shadow, shadow.action, who);
        return { ok: true, reason: 'applied', retryable: false, attempts: 1, detail: result };
      } catch (err) {
        const e = err as Error;
        // an unreachable component may answer later; a refusal (wrong kind, state, validation) will not change
        return failure(e.message, e instanceof ShadowplaneError && e.code === 'SHADOWPLANE_ERR_SHADOW_UNREACHABLE', 1);
      }
    }
    if (p.action.command) {
      const c = p.action.command;
      const runner = new CommandActuator({
        type: 'command', command: c.command, args: c.args, shell: false, inheritEnv: true, timeoutMs: c.timeoutMs, killGraceMs: 2_000, rollback: false,
        env: { SHADOWPLANE_RULE: p.record.response?.rule ?? '', SHADOWPLANE_EVIDENCE: p.record.message },
      });
      return runner.apply(task, signal);
    }
    const hook = p.action.webhook!;
    try {
      const res = await fetch(hook.url, {
        method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': task.idempotencyKey },
        body: JSON.stringify({
          target: task.target, decision: p.record.id, at: p.record.at, reason: p.record.reason, message: p.record.message,
          response: p.record.response, scores: p.record.scores,
        }),
        signal: AbortSignal.any([signal, AbortSignal.timeout(hook.timeoutMs)]),
      });
      await res.arrayBuffer();
      return res.ok ? { ok: true, reason: `HTTP ${res.status}`, retryable: false, attempts: 1 } : failure(`HTTP ${res.status}`, res.status >= 500, 1);
    } catch (err) {
      return failure((err as Error).message, true, 1);
    }
  }
}
