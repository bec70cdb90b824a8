/**
 * Time, injected. Pure code (forecast/, detect/, plan/) never reads the wall clock; it is handed a
 * Clock, so the same code runs live, in tests and in replays.
 */

/** A source of time in milliseconds since the Unix epoch, and timers on that time. */
export interface Clock {
  /** The current time in ms since the epoch. */
  now(): number;
  /**
   * Milliseconds on a monotonic, sub-millisecond scale with an arbitrary origin, for measuring
   * durations (I/O service times, pacing) that `now()`'s whole milliseconds would round away.
   */
  monotonic(): number;
  /** Calls `fn` after `ms` of this clock's time; returns a function that cancels it. */
  setTimer(ms: number, fn: () => void, options?: TimerOptions): () => void;
}

/** How a timer treats the process. */
export interface TimerOptions {
  /** The timer alone does not keep the process running (a background flush, poll or retry). */
  readonly background?: boolean;
}

/**
 * Runs `job` every `ms` of `clock`'s time, each run `ms` after the previous one settled (runs never
 * overlap). A run that rejects is handed to `failed`; no run follows once `goOn()` says no after
 * one. Returns a function that cancels every later run.
 */
export function repeat(clock: Clock, ms: number, job: () => Promise<unknown>, failed: (err: Error) => void, goOn: () => boolean = () => true): () => void {
  let cancelled = false;
  let cancelNext: () => void;
  const tick = (): void => {
    job()
      .catch((err: unknown) => failed(err as Error))
      .finally(() => {
        if (!cancelled && goOn()) cancelNext = clock.setTimer(ms, tick);
      });
  };
  cancelNext = clock.setTimer(ms, tick);
  return () => {
    cancelled = true;
    cancelNext();
  };
}

/** The wall clock. */
export const realClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  setTimer(ms, fn, options) {
    const handle = setTimeout(fn, ms);
    if (options?.background) handle.unref();
    return () => clearTimeout(handle);
  },
};

/** A clock that moves only when told to; timers fire in time order as it advances. */
export class VirtualClock implements Clock {
  private current: number;
  private timers: { at: number; seq: number; fn: () => void }[] = [];
  private seq = 0;

  constructor(startMs = 0) {
    this.current = startMs;
  }

  now(): number {
    return this.current;
  }

  monotonic(): number {
    return this.current;
  }

  setTimer(ms: number, fn: () => void): () => void {
    const timer = { at: this.current + Math.max(0, ms), seq: this.seq++, fn };
    this.timers.push(timer);
    return () => {
      this.timers = this.timers.filter((t) => t !== timer);
    };
  }

  /** Moves time forward by `ms`, firing every timer that falls due, in order. */
  advance(ms: number): void {
    const end = this.current + ms;
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.timers[0];
      if (!next || next.at > end) break;
      this.timers.shift();
      this.current = next.at;
      next.fn();
    }
    this.current = end;
  }
}

/** Resolves after `ms` of `clock`'s time. */
export function sleep(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => {
    clock.setTimer(ms, resolve);
  });
}

/** Calls `fn` every `ms` of `clock`'s time until the returned function is called. */
export function every(clock: Clock, ms: number, fn: () => void, options?: TimerOptions): () => void {
  let cancel: () => void = () => undefined;
  let stopped = false;
  const arm = (): void => {
    cancel = clock.setTimer(ms, () => {
      if (stopped) return;
      arm();
      fn();
    }, options);
  };
  arm();
  return () => {
    stopped = true;
    cancel();
  };
}
