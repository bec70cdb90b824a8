/** Least-recently-used: promote every missed block, evict the block unused for longest. */
import { LruList } from './lru-list.js';
import type { FastTier, IoRequest, PlacementPolicy } from './policy.js';

/** LRU over an ordered list (least recent first). */
export class LruPolicy implements PlacementPolicy {
  readonly name = 'lru';
  private readonly order = new LruList();

  constructor(private readonly tier: FastTier) {}

  /** Moves each block of the I/O to most-recent, promoting missed ones (evicting the LRU block if full). */
  access(io: IoRequest): void {
    for (let block = io.start; block < io.start + io.count; block++) {
      if (this.tier.has(block)) {
        this.order.set(block);
        continue;
      }
      if (this.tier.size() >= this.tier.capacity) {
        const victim = this.order.lru() as number;
        this.order.delete(victim);
        this.tier.evict(victim);
      }
      this.tier.promote(block);
      this.order.set(block);
    }
  }
}
