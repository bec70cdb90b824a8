/**
 * Where a volume's I/O goes. `LiveHealth` decides between the live file and the shadow (failover
 * on a live error or on the latency trigger, fail-back by the operator); `ReadRouter` serves each
 * block from the fastest valid copy: a hot tier, else live (or the shadow after failover).
 */
import type { Clock } from '../../core/clock.js';
import type { LatencyTrigger } from './latency-trigger.js';
import type { HotTier } from './placement.js';
import { TierIoError, type TierStore } from './tier-store.js';

/** Where a volume's I/O goes: the live file, or the shadow after failover. */
export type FailoverState = 'live' | 'failed-over';

/** The live device's health and the failover state it drives. */
export class LiveHealth {
  state: FailoverState = 'live';
  reason: string | null = null;
  /** EWMA of live I/O service times, ms (0 until the first I/O). */
  ewmaMs = 0;
  errors = 0;

  constructor(readonly latency: LatencyTrigger) {}

  /** Records one live I/O's service time and outcome; an error or a slow pattern fails over. */
  note(ms: number, ok: boolean, why: string): void {
    this.ewmaMs = this.ewmaMs === 0 ? ms : 0.8 * this.ewmaMs + 0.2 * ms;
    if (!ok) {
      this.errors++;
      this.failOver(`live I/O error: ${why}`);
      return;
    }
    const slow = this.latency.observe(ms);
    if (slow !== null) this.failOver(slow);
  }

  /** Routes all I/O to the shadow from now on (idempotent). */
  failOver(reason: string): void {
    if (this.state === 'failed-over') return;
    this.state = 'failed-over';
    this.reason = reason;
  }

  /** Back to live, with the latency measurements started afresh. */
  failBack(): void {
    this.ewmaMs = 0;
    this.latency.resetWindow();
    this.state = 'live';
    this.reason = null;
  }
}

/** The copies a read can be served from, and what is known about them. */
export interface ReadSources {
  readonly clock: Clock;
  readonly health: LiveHealth;
  readonly live: TierStore;
  readonly shadow: TierStore;
  readonly hot: readonly HotTier[];
  /** True when the shadow's copy of the block is stale (its last write reached live only). */
  readonly staleOnShadow: (block: number) => boolean;
}

/** Serves block reads from the fastest valid copy and counts which copy served them. */
export class ReadRouter {
  /** Reads served, by copy name. */
  readonly servedBy: Record<string, number> = {};

  constructor(private readonly src: ReadSources) {}

  /** Reads one block's current data from the fastest valid copy. */
  async read(b: number): Promise<Buffer> {
    const { clock, health, live, shadow } = this.src;
    for (const h of this.src.hot) {
      if (h.store.valid.has(b)) {
        try {
          const data = await h.store.readBlock(b);
          this.count(h.store.profile.name);
          return data;
        } catch {
          h.store.valid.delete(b);
        }
      }
    }
    // A block whose shadow copy is stale is read from live even after failover: live holds the
    // only durable copy of its last write, and old data must never be returned.
    const staleOnShadow = this.src.staleOnShadow(b);
    if (health.state === 'live' || staleOnShadow) {
      const t0 = clock.monotonic();
      try {
        const data = await live.readBlock(b);
        health.note(clock.monotonic() - t0, true, '');
        this.count('live');
        return data;
      } catch (err) {
        health.note(clock.monotonic() - t0, false, (err as Error).message);
        if (staleOnShadow) throw new TierIoError(`block ${b}: the live volume failed and the shadow copy is stale`);
      }
    }
    const data = await shadow.readBlock(b);
    this.count(`shadow-${shadow.profile.name}`);
    return data;
  }

  private count(tier: string): void {
    this.servedBy[tier] = (this.servedBy[tier] ?? 0) + 1;
  }
}
