/**
 * A bound on how many async tasks run at once: the rest wait in arrival order. A fleet's control
 * loops tick through one, so that ten thousand ticks due together neither queue thousands of
 * store reads ahead of an API request nor resume all at once when the flush they wait for ends.
 */
export class ConcurrencyLimit {
  private running = 0;
  /** Tasks waiting for a slot, oldest at `head` (a queue without shift()'s copying). */
  private waiting: (() => void)[] = [];
  private head = 0;

  /** At most `limit` (an integer >= 1) tasks at once. */
  constructor(readonly limit: number) {
    if (!(Number.isInteger(limit) && limit >= 1)) throw new RangeError(`a concurrency limit must be an integer >= 1, not ${limit}`);
  }

  /** Tasks running now. */
  get active(): number {
    return this.running;
  }

  /** Tasks waiting for a slot. */
  get queued(): number {
    return this.waiting.length - this.head;
  }

  /** Runs `task` once a slot is free; the slot is given back however the task ends. */
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running < this.limit) this.running++;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await task();
    } finally {
      this.release();
    }
  }

  /** Hands the slot to the oldest waiting task (the count stays), or frees it. */
  private release(): void {
    if (this.head < this.waiting.length) {
      const next = this.waiting[this.head++];
      if (this.head === this.waiting.length) {
        this.waiting = [];
        this.head = 0;
      }
      next();
    } else {
      this.running--;
    }
  }
}
