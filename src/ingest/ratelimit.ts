/**
 * A token bucket: `ratePerSecond` tokens refill per second up to one second's worth. A batch takes
 * as many tokens as it has items, all or nothing, so a refused batch leaves nothing half-ingested.
 */
import type { Clock } from '../core/clock.js';

/** Admits work at a bounded rate. */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    /** Tokens refilled per second, and the most the bucket holds. */
    readonly ratePerSecond: number,
    private readonly clock: Clock,
  ) {
    this.tokens = ratePerSecond;
    this.last = clock.now();
  }

  /** Takes `n` tokens and returns 0, or takes none and returns the seconds to wait before retrying. */
  take(n: number): number {
    const now = this.clock.now();
    this.tokens = Math.min(this.ratePerSecond, this.tokens + ((now - this.last) / 1000) * this.ratePerSecond);
    this.last = now;
    if (n <= this.tokens) {
      this.tokens -= n;
      return 0;
    }
    // A batch larger than a whole second's budget is let through once the bucket is full.
    if (this.tokens >= this.ratePerSecond) {
      this.tokens = 0;
      return 0;
    }
    return Math.max(1, Math.ceil((Math.min(n, this.ratePerSecond) - this.tokens) / this.ratePerSecond));
  }
}
