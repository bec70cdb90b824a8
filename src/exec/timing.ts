/**
 * Waiting on an injected clock: exponential backoff with jitter, sleeps and deadlines that honour
 * an AbortSignal. Shared by the executor and the actuators.
 */
import type { Clock } from '../core/clock.js';

/** How retries are spaced and bounded. */
export interface BackoffPolicy {
  /** Delay before the first retry, in ms. */
  readonly baseMs: number;
  /** Growth per retry (2 doubles the delay each time). */
  readonly factor: number;
  /** Upper bound on one delay, in ms. */
  readonly maxMs: number;
  /** Fraction of the delay that is random, 0..1: the delay is drawn from [d * (1 - jitter), d]. */
  readonly jitter: number;
}

/**
 * The delay before retry number `retry` (1 for the first retry): `min(maxMs, baseMs * factor^(retry-1))`,
 * shortened by up to `jitter` of itself so that many clients do not retry in step.
 * `random` returns a number in [0, 1) and is injectable for reproducible tests.
 */
export function backoffDelay(policy: BackoffPolicy, retry: number, random: () => number = Math.random): number {
  const full = Math.min(policy.maxMs, policy.baseMs * policy.factor ** Math.max(0, retry - 1));
  return Math.round(full * (1 - policy.jitter * random()));
}

/**
 * Resolves after `ms` of `clock` time, or rejects with the signal's reason as soon as `signal`
 * aborts (at once if it already has).
 */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = (): void => {
      cancelTimer();
      reject(signal?.reason);
    };
    const cancelTimer = clock.setTimer(ms, () => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    });
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * An AbortSignal that aborts when `parent` aborts or after `ms` of `clock` time, whichever comes
 * first. Call `dispose()` when done so the timer does not linger. `timedOut()` tells the two apart.
 */
export function deadlineSignal(
  clock: Clock,
  ms: number,
  parent?: AbortSignal,
): { signal: AbortSignal; timedOut: () => boolean; dispose: () => void } {
  const controller = new AbortController();
  let expired = false;
  const onParent = (): void => controller.abort(parent?.reason);
  if (parent?.aborted) onParent();
  else parent?.addEventListener('abort', onParent, { once: true });
  const cancelTimer = clock.setTimer(ms, () => {
    expired = true;
    controller.abort(new Error(`timed out after ${ms} ms`));
  });
  return {
    signal: controller.signal,
    timedOut: () => expired,
    dispose: () => {
      cancelTimer();
      parent?.removeEventListener('abort', onParent);
    },
  };
}

/**
 * Settles like `work`, unless `signal` aborts first: then resolves with `onAbort()` at once (the
 * work is left to finish on its own; its result is ignored).
 */
export function unlessAborted<T>(work: Promise<T>, signal: AbortSignal, onAbort: () => T): Promise<T> {
  if (signal.aborted) return Promise.resolve(onAbort());
  return new Promise<T>((resolve, reject) => {
    const stop = (): void => resolve(onAbort());
    signal.addEventListener('abort', stop, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', stop));
  });
}
