/**
 * The webhook actuator: POSTs the action as JSON to a configured URL, with an `Idempotency-Key`
 * header, a per-request timeout and retries with backoff on 5xx, 408, 429, timeouts and network
 * errors (never on other 4xx). A 2xx JSON object is the outcome; anything else is a failure with
 * a reason that says what came back.
 */
import { realClock, type Clock } from '../core/clock.js';
import type { Action, Outcome } from '../model/action.js';
import { abortReason, capacityOf, failure, inverseOf, type Actuator } from './actuator.js';
import { backoffDelay, deadlineSignal, sleep } from './timing.js';
import type { WebhookConfig } from './config.js';

/** Statuses worth retrying besides 5xx: request timeout and too many requests. */
const RETRYABLE_4XX = new Set([408, 429]);
/** How much of a response body a failure reason quotes. */
const SNIPPET = 200;

/** Time and randomness for the webhook actuator; real ones unless a test injects others. */
export interface WebhookDeps {
  readonly clock?: Clock;
  readonly random?: () => number;
}

/**
 * Calls a webhook per action. `rollback` exists only when the config enables it: it POSTs the
 * inverse action (see `inverseOf`) with the header `X-Shadowplane-Phase: rollback`.
 */
export class WebhookActuator implements Actuator {
  readonly kind = 'webhook';
  readonly rollback?: (action: Action, signal: AbortSignal) => Promise<Outcome>;
  private readonly clock: Clock;
  private readonly random: () => number;

  constructor(
    private readonly config: WebhookConfig,
    deps: WebhookDeps = {},
  ) {
    this.clock = deps.clock ?? realClock;
    this.random = deps.random ?? Math.random;
    if (config.rollback) this.rollback = (action, signal) => this.send(inverseOf(action), 'rollback', signal);
  }

  /** POSTs `action`; see the class comment for what counts as success and what is retried. */
  apply(action: Action, signal: AbortSignal): Promise<Outcome> {
    return this.send(action, 'apply', signal);
  }

  private async send(action: Action, phase: 'apply' | 'rollback', signal: AbortSignal): Promise<Outcome> {
    for (let attempt = 1; ; attempt++) {
      const outcome = await this.request(action, phase, signal, attempt);
      if (outcome.ok || !outcome.retryable || attempt > this.config.retries || signal.aborted) return outcome;
      try {
        await sleep(this.clock, backoffDelay(this.config.backoff, attempt, this.random), signal);
      } catch {
        return failure(`cancelled: ${abortReason(signal)}`, false, attempt);
      }
    }
  }

  private async request(action: Action, phase: string, signal: AbortSignal, attempt: number): Promise<Outcome> {
    const { url, timeoutMs } = this.config;
    const deadline = deadlineSignal(this.clock, timeoutMs, signal);
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: this.headers(action, phase),
        body: JSON.stringify(action),
        signal: deadline.signal,
        // A redirected POST may silently turn into a GET; report it instead of following it.
        redirect: 'manual',
      });
      const body = await res.text();
      return interpret(res.status, res.statusText, body, attempt);
    } catch (err) {
      if (deadline.timedOut()) return failure(`timed out after ${timeoutMs} ms waiting for ${url}`, true, attempt);
      if (signal.aborted) return failure(`cancelled: ${abortReason(signal)}`, false, attempt);
      return failure(`cannot reach ${url}: ${networkError(err)}`, true, attempt);
    } finally {
      deadline.dispose();
    }
  }

  private headers(action: Action, phase: string): Record<string, string> {
    const headers: Record<string, string> = {
      ...this.config.headers,
      'content-type': 'application/json',
      accept: 'application/json',
      'idempotency-key': action.idempotencyKey,
      'x-shadowplane-phase': phase,
    };
    if (this.config.token) headers.authorization = `Bearer ${this.config.token}`;
    return headers;
  }
}

/** Turns one HTTP response into an outcome. */
function interpret(status: number, statusText: string, body: string, attempt: number): Outcome {
  const quoted = body.length > SNIPPET ? `${body.slice(0, SNIPPET)}...` : body;
  const line = `HTTP ${status}${statusText ? ` ${statusText}` : ''}`;
  if (status < 200 || status > 299) {
    const retryable = status >= 500 || RETRYABLE_4XX.has(status);
    return failure(`${line}${quoted ? `: ${quoted}` : ''}`, retryable, attempt);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    parsed = undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return failure(`malformed response: ${line} body is not a JSON object: ${JSON.stringify(quoted)}`, false, attempt);
  }
  const answer = parsed as { applied?: unknown; reason?: unknown };
  if (answer.applied === false) {
    const why = typeof answer.reason === 'string' ? `: ${answer.reason}` : '';
    return failure(`receiver answered applied=false${why}`, false, attempt, parsed);
  }
  const capacity = capacityOf(parsed);
  const outcome: Outcome = { ok: true, reason: `applied (${line})`, retryable: false, attempts: attempt, detail: parsed };
  return capacity === undefined ? outcome : { ...outcome, capacity };
}

/** fetch() hides the socket error in `cause`; dig it out for a useful reason. */
function networkError(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } } | undefined)?.cause;
  if (cause?.code) return `${cause.code}${cause.message ? ` (${cause.message})` : ''}`;
  return err instanceof Error ? err.message : String(err);
}
