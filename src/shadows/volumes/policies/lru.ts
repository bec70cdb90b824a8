/** Least-recently-used: promote every miss, evict the block unused for longest. */
import type { FastTier, PlacementPolicy } from './policy.js';

/** LRU over a Map (insertion order = recency order; first key is the least recent). */
export class LruPolicy implements PlacementPolicy {
  readonly name = 'lru';
  private readonly order = new Map<number, true>();

  constructor(private readonly tier: FastTier) {}

  /** Moves a hit to most-recent; on a miss evicts the LRU block if full and promotes. */
  access(_t: number, block: number, hit: boolean): void {
    if (hit) {
      this.order.delete(block);
      this.order.set(block, true);
      return;
    }
    if (this.tier.size() >= this.tier.capacity) {
      const victim = this.order.keys().next().value as number;
      this.order.delete(victim);
      this.tier.evict(victim);
    }
    this.tier.promote(block);
    this.order.set(block, true);
  }
}
