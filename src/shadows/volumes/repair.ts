/**
 * Repair of stale shadow blocks: rewrites them from live in the background, on the volume's write
 * chain so no write to them runs meanwhile, and retries on the volume's clock while the shadow (or
 * live) keeps failing.
 */
import type { Clock } from '../../core/clock.js';
import type { StaleList } from './stale-list.js';
import type { TierStore } from './tier-store.js';

/** Pause before retrying the repair of stale shadow blocks while the shadow keeps failing. */
export const SHADOW_REPAIR_RETRY_MS = 1000;

/** What a ShadowRepair works with. */
export interface RepairDeps {
  readonly clock: Clock;
  readonly stale: StaleList;
  readonly live: TierStore;
  readonly shadow: TierStore;
  /** Runs `fn` on the volume's write chain. */
  readonly exclusive: <T>(fn: () => Promise<T>) => Promise<T>;
}

/** Schedules and runs the repair; at most one is pending at a time. */
export class ShadowRepair {
  /** Stale shadow blocks rewritten from live since start. */
  repairs = 0;
  private cancelTimer?: () => void;
  private closed = false;

  constructor(private readonly deps: RepairDeps) {}

  /** Runs a repair after `delayMs` unless one is already pending. */
  schedule(delayMs: number): void {
    if (this.cancelTimer !== undefined || this.closed) return;
    this.cancelTimer = this.deps.clock.setTimer(delayMs, () => {
      this.cancelTimer = undefined;
      void this.run();
    }, { background: true });
  }

  /** Cancels a pending repair and stops a running one after its current block. */
  close(): void {
    this.closed = true;
    this.cancelTimer?.();
    this.cancelTimer = undefined;
  }

  private async run(): Promise<void> {
    const { stale, live, shadow } = this.deps;
    await this.deps.exclusive(async () => {
      const before = stale.size;
      for (const b of stale.list()) {
        if (this.closed) break;
        try {
          await shadow.writeBlock(b, await live.readBlock(b), true);
        } catch {
          break;
        }
        stale.repaired(b);
        this.repairs++;
      }
      if (stale.size !== before) await stale.save();
    });
    if (stale.size > 0) this.schedule(SHADOW_REPAIR_RETRY_MS);
  }
}
