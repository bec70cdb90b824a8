/**
 * The command actuator: runs a configured program per action (without a shell unless the config
 * asks for one), with the action in SHADOWPLANE_ACTION_* environment variables and as one JSON
 * line on stdin. Exit status 0 is success, 75 (EX_TEMPFAIL) a retryable failure, anything else a
 * definite failure. The last stdout line that is a JSON object is the outcome's detail. On timeout
 * or cancellation the whole process group gets SIGTERM, then SIGKILL after a grace period.
 */
import { spawn } from 'node:child_process';
import { realClock, type Clock } from '../core/clock.js';
import type { Action, Outcome } from '../model/action.js';
import { abortReason, capacityOf, failure, inverseOf, type Actuator } from './actuator.js';
import type { CommandConfig } from './config.js';

/** sysexits.h EX_TEMPFAIL: "try again later". */
export const EXIT_TEMPFAIL = 75;
/** Output kept per stream (the tail): enough for the last JSON line and an error message. */
const STDOUT_KEEP = 64 * 1024;
const STDERR_KEEP = 2 * 1024;

/** The environment variables that describe an action to a command. */
export function actionEnv(action: Action, phase: 'apply' | 'rollback'): Record<string, string> {
  return {
    SHADOWPLANE_ACTION_ID: action.id,
    SHADOWPLANE_ACTION_KIND: action.kind,
    SHADOWPLANE_ACTION_TARGET: action.target,
    SHADOWPLANE_ACTION_FROM: String(action.from),
    SHADOWPLANE_ACTION_TO: String(action.to),
    SHADOWPLANE_ACTION_REASON: action.reason,
    SHADOWPLANE_ACTION_MODE: action.mode,
    SHADOWPLANE_ACTION_IDEMPOTENCY_KEY: action.idempotencyKey,
    SHADOWPLANE_ACTION_CREATED_AT: new Date(action.createdAt).toISOString(),
    SHADOWPLANE_PHASE: phase,
  };
}

/**
 * Runs a command per action. `rollback` exists only when the config enables it: it runs the same
 * command for the inverse action (see `inverseOf`) with SHADOWPLANE_PHASE=rollback.
 * The clock times the timeout and kill grace; it is the real clock unless a test injects one.
 */
export class CommandActuator implements Actuator {
  readonly kind = 'command';
  readonly rollback?: (action: Action, signal: AbortSignal) => Promise<Outcome>;
  private readonly clock: Clock;

  constructor(
    private readonly config: CommandConfig,
    deps: { clock?: Clock } = {},
  ) {
    this.clock = deps.clock ?? realClock;
    if (config.rollback) this.rollback = (action, signal) => this.run(inverseOf(action), 'rollback', signal);
  }

  /** Runs the command for `action`; see the module comment for how the outcome is read. */
  apply(action: Action, signal: AbortSignal): Promise<Outcome> {
    return this.run(action, 'apply', signal);
  }

  private run(action: Action, phase: 'apply' | 'rollback', signal: AbortSignal): Promise<Outcome> {
    const { command, args, shell, cwd, timeoutMs, killGraceMs } = this.config;
    const env = { ...(this.config.inheritEnv ? process.env : {}), ...this.config.env, ...actionEnv(action, phase) };
    return new Promise((resolve) => {
      let stdout = '';
      let stderr = '';
      let killedFor: { reason: string; retryable: boolean } | undefined;
      let cancelKill = (): void => {};
      let settled = false;
      const child = spawn(command, args, { shell, cwd, env, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });

      const finish = (outcome: Outcome): void => {
        if (settled) return;
        settled = true;
        cancelTimeout();
        cancelKill();
        signal.removeEventListener('abort', onAbort);
        resolve(outcome);
      };
      // detached makes the child a process-group leader; a negative pid signals the whole group,
      // so a shell's children die with it.
      const signalGroup = (sig: NodeJS.Signals): void => {
        try {
          if (child.pid !== undefined) process.kill(-child.pid, sig);
        } catch {
          // The group is already gone.
        }
      };
      const kill = (reason: string, retryable: boolean): void => {
        if (killedFor || settled) return;
        killedFor = { reason, retryable };
        signalGroup('SIGTERM');
        cancelKill = this.clock.setTimer(killGraceMs, () => signalGroup('SIGKILL'));
      };
      const cancelTimeout = this.clock.setTimer(timeoutMs, () => kill(`timed out after ${timeoutMs} ms`, true));
      const onAbort = (): void => kill(`cancelled: ${abortReason(signal)}`, false);
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });

      child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout = (stdout + chunk).slice(-STDOUT_KEEP)));
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-STDERR_KEEP)));
      // A command that never reads stdin closes the pipe early; that is not a failure.
      child.stdin.on('error', () => {});
      child.stdin.end(`${JSON.stringify(action)}\n`);

      child.on('error', (err: NodeJS.ErrnoException) => {
        const reason = err.code === 'ENOENT' ? `command not found: ${command}` : `cannot run ${command}: ${err.message}`;
        finish(failure(reason, false, 1));
      });
      child.on('close', (code, sig) => {
        const detail = lastJsonObject(stdout);
        const errTail = stderr.trim() ? `: ${stderr.trim().split('\n').slice(-3).join(' | ')}` : '';
        if (killedFor) {
          finish(failure(`${killedFor.reason} (process group sent ${sig ?? 'SIGTERM'})`, killedFor.retryable, 1, detail));
        } else if (code === 0) {
          const capacity = capacityOf(detail);
          const ok: Outcome = { ok: true, reason: 'exit status 0', retryable: false, attempts: 1, detail };
          finish(capacity === undefined ? ok : { ...ok, capacity });
        } else if (code !== null) {
          finish(failure(`exit status ${code}${errTail}`, code === EXIT_TEMPFAIL, 1, detail));
        } else {
          finish(failure(`killed by signal ${sig}${errTail}`, false, 1, detail));
        }
      });
    });
  }
}

/** The last line of `text` that parses as a JSON object, if any. */
export function lastJsonObject(text: string): Record<string, unknown> | undefined {
  const lines = text.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i].trim();
    if (!line.startsWith('{')) continue;
    try {
      const value: unknown = JSON.parse(line);
      if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
    } catch {
      // Not JSON after all; keep looking further up.
    }
  }
  return undefined;
}
