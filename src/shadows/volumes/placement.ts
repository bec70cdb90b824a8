/**
 * The hot tiers of a volume: each fast tier's store and the placement policy deciding what it
 * holds. The policy sees a `PlacementView` (what it asked to be resident); real copies follow
 * through the copy-up scheduler.
 */
import { buildPolicy } from './policies/index.js';
import type { FastTier, PlacementPolicy } from './policies/policy.js';
import type { TierStore } from './tier-store.js';

/** The policy's view of one fast tier: what it asked to be resident, while real copies catch up. */
export class PlacementView implements FastTier {
  readonly wanted = new Set<number>();
  // Copies run in the background; with a handful of requests in flight one or two pass meanwhile.
  readonly copyLag = 2;
  constructor(
    readonly capacity: number,
    private readonly onPromote: (b: number) => void,
    private readonly onEvict: (b: number) => void,
  ) {}
  size(): number {
    return this.wanted.size;
  }
  has(b: number): boolean {
    return this.wanted.has(b);
  }
  promote(b: number): void {
    if (this.wanted.size >= this.capacity || this.wanted.has(b)) throw new Error(`bad promote ${b}`);
    this.wanted.add(b);
    this.onPromote(b);
  }
  evict(b: number): void {
    if (!this.wanted.delete(b)) throw new Error(`bad evict ${b}`);
    this.onEvict(b);
  }
}

/** One fast tier: its store, the policy's view of it and the policy. */
export interface HotTier {
  readonly store: TierStore;
  readonly view: PlacementView;
  readonly policy: PlacementPolicy;
}

/**
 * A hot tier over `store` run by the shadowplane policy: a promotion asks `copyUp` for a copy, an
 * eviction invalidates the block's copy at once.
 */
export function hotTier(store: TierStore, capacityBlocks: number, blockBytes: number, copyUp: (tier: HotTier, block: number) => void): HotTier {
  const holder: { tier?: HotTier } = {};
  const view = new PlacementView(capacityBlocks, (b) => copyUp(holder.tier as HotTier, b), (b) => store.valid.delete(b));
  // The same policy code tier-replay measures; its forecast buckets follow the volume's clock.
  holder.tier = { store, view, policy: buildPolicy('shadowplane', view, { blockBytes }) };
  return holder.tier;
}
