/**
 * The copy-up scheduler: copies the blocks a placement policy promoted onto their hot tier, in the
 * background, paced to a bandwidth budget on the volume's clock. A bounded queue drops the oldest
 * request when full (copies are only an optimisation). A copy never marks old data valid: it is
 * discarded when a write to the block is in flight or lands before the copy is placed.
 */
import { sleep, type Clock } from '../../core/clock.js';
import type { HotTier } from './placement.js';

/** Copy requests held at most; beyond it the oldest is dropped. */
export const MAX_COPY_QUEUE = 4096;

/** What a CopyUpScheduler works with. */
export interface CopyUpDeps {
  readonly clock: Clock;
  readonly blockSize: number;
  /** Budget for copies up, MiB/s. */
  readonly budgetMiBps: number;
  /** Reads a block's current data from the fastest valid copy. */
  readonly read: (block: number) => Promise<Buffer>;
  /** Runs `fn` on the volume's write chain (no write is in flight there). */
  readonly exclusive: <T>(fn: () => Promise<T>) => Promise<T>;
  /** How many writes the block has had (a copy is valid only if this did not change). */
  readonly versionOf: (block: number) => number;
  /** True while a write to the block is in flight. */
  readonly writing: (block: number) => boolean;
}

/** Queues and runs copies up; `settle()` waits for the queue to drain. */
export class CopyUpScheduler {
  promotions = 0;
  done = 0;
  discarded = 0;
  dropped = 0;
  private queue: { tier: HotTier; block: number }[] = [];
  private copying = false;
  private running: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(private readonly deps: CopyUpDeps) {}

  /** Asks for a copy of `block` onto `tier`. */
  enqueue(tier: HotTier, block: number): void {
    this.promotions++;
    if (this.queue.length >= MAX_COPY_QUEUE) {
      this.queue.shift();
      this.dropped++;
    }
    this.queue.push({ tier, block });
    if (!this.copying) this.running = this.run();
  }

  /** Resolves once no copy is queued or running. */
  async settle(): Promise<void> {
    while (this.copying) await this.running;
  }

  /** Drops queued copies (they lose nothing) and waits for the running one. */
  async close(): Promise<void> {
    this.closed = true;
    this.queue = [];
    await this.settle();
  }

  /** Copies blocks up at most at the copy budget; a copy raced by a write or an eviction is discarded. */
  private async run(): Promise<void> {
    this.copying = true;
    const { clock } = this.deps;
    const bytesPerMs = (this.deps.budgetMiBps * 1024 * 1024) / 1000;
    let budgetStart = clock.monotonic();
    let spent = 0;
    while (!this.closed && this.queue.length > 0) {
      const { tier, block } = this.queue.shift() as { tier: HotTier; block: number };
      if (!tier.view.has(block) || tier.store.valid.has(block)) continue;
      // A write in flight has bumped the version but its data may not be on live yet; its own
      // write-through places the block, so this copy is not needed.
      if (this.deps.writing(block)) {
        this.discarded++;
        continue;
      }
      const version = this.deps.versionOf(block);
      try {
        const data = await this.deps.read(block);
        // On the write chain no write is in flight: an unchanged version means `data` is current,
        // and no write-through of this block can land between this copy's write and its marking.
        const placed = await this.deps.exclusive(async () => {
          if (this.deps.versionOf(block) !== version || !tier.view.has(block) || tier.store.valid.has(block)) return false;
          await tier.store.writeBlock(block, data, false);
          if (!tier.view.has(block)) return false;
          tier.store.valid.add(block);
          return true;
        });
        if (placed) this.done++;
        else this.discarded++;
      } catch {
        this.discarded++;
      }
      spent += this.deps.blockSize;
      const ahead = spent / bytesPerMs - (clock.monotonic() - budgetStart);
      if (ahead >= 1) await sleep(clock, ahead);
      if (clock.monotonic() - budgetStart > 1000) {
        budgetStart = clock.monotonic();
        spent = 0;
      }
    }
    this.copying = false;
  }
}
