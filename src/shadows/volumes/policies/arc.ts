/**
 * ARC, the Adaptive Replacement Cache of Megiddo and Modha (FAST '03, Figure 4): T1/T2 resident
 * (seen once / at least twice recently), B1/B2 their ghost lists, and the target size p of T1
 * adapted on ghost hits. Every block of an I/O is one ARC reference, taken after the I/O is served.
 *
 * Predictors (readahead, forecast) are an addition, not a second ARC: after each I/O they may copy
 * blocks up ahead of use (`prefetch`) or mark resident blocks as cooling (`cool`). With no
 * predictor the policy is the paper's ARC exactly. With predictors:
 * - a prefetched block enters T1 like a first-time block and counts as "seen once" at its first use;
 *   if it is evicted unused it does not enter the ghost list B1, so a wrong guess never steers p;
 * - a cooling block is the first one evicted when room is needed (a demotion costs no copy);
 *   a request for it clears the mark.
 */
import { LruList as List } from './lru-list.js';
import type { FastTier, IoRequest, PlacementPolicy, PromotionReason } from './policy.js';

function lru(list: List): number {
  return list.lru() as number;
}

/** Something that predicts blocks from the I/O stream and acts through ARC's prefetch/cool. */
export interface Predictor {
  /** Hears each I/O after ARC placed its blocks. */
  after(io: IoRequest, arc: ArcPolicy): void;
}

/** The ARC policy over a fast tier of `tier.capacity` blocks, with optional predictors. */
export class ArcPolicy implements PlacementPolicy {
  private readonly t1: List = new List();
  private readonly t2: List = new List();
  private readonly b1: List = new List();
  private readonly b2: List = new List();
  /** Blocks copied up by a predictor and not used since. */
  private readonly prefetched = new Set<number>();
  /** Resident blocks a predictor expects to cool, oldest mark first. */
  private readonly cooling = new Set<number>();
  private p = 0;
  private readonly c: number;

  constructor(
    readonly tier: FastTier,
    private readonly predictors: readonly Predictor[] = [],
    readonly name = 'arc',
  ) {
    this.c = tier.capacity;
  }

  /** The current adaptation target for |T1| (exposed for tests of the invariants). */
  get target(): number {
    return this.p;
  }

  /** Sizes of T1, T2, B1, B2 (for invariant tests: |T1|+|T2| <= c, |T1|+|B1| <= c, total <= 2c). */
  sizes(): [number, number, number, number] {
    return [this.t1.size, this.t2.size, this.b1.size, this.b2.size];
  }

  /** Blocks prefetched and not used yet. */
  get unusedPrefetches(): number {
    return this.prefetched.size;
  }

  private evictFrom(list: List, ghosts: List | null, v: number): void {
    list.delete(v);
    this.cooling.delete(v);
    if (this.prefetched.delete(v)) ghosts = null;
    ghosts?.set(v);
    this.tier.evict(v);
  }

  /** Frees one slot: a cooling block first, else the paper's REPLACE (T1 while above p, else T2). */
  private replace(inB2: boolean): void {
    for (const v of this.cooling) {
      this.cooling.delete(v);
      if (this.t1.has(v)) return this.evictFrom(this.t1, this.b1, v);
      if (this.t2.has(v)) return this.evictFrom(this.t2, this.b2, v);
    }
    const t1 = this.t1.size;
    if (t1 >= 1 && ((inB2 && t1 === this.p) || t1 > this.p || this.t2.size === 0)) this.evictFrom(this.t1, this.b1, lru(this.t1));
    else this.evictFrom(this.t2, this.b2, lru(this.t2));
  }

  private makeRoom(inB2: boolean): void {
    if (this.tier.size() >= this.c) this.replace(inB2);
  }

  /** Keeps the ghost directory within ARC's bounds once predictors added entries to T1. */
  private trimGhosts(): void {
    while (this.t1.size + this.b1.size > this.c && this.b1.size > 0) this.b1.delete(lru(this.b1));
    while (this.t1.size + this.t2.size + this.b1.size + this.b2.size > 2 * this.c && this.b2.size > 0) this.b2.delete(lru(this.b2));
  }

  /** One ARC reference to block x (the paper's four cases). */
  private reference(x: number): void {
    const c = this.c;
    if (this.tier.has(x)) {
      this.cooling.delete(x);
      if (this.prefetched.delete(x)) {
        // First use of a predicted block: it is now "seen once", like a fresh T1 entry.
        this.t1.delete(x);
        this.t1.set(x);
        return;
      }
      // Case I: in T1 or T2.
      if (!this.t1.delete(x)) this.t2.delete(x);
      this.t2.set(x);
      return;
    }
    if (this.b1.has(x)) {
      // Case II: ghost hit in B1, favour recency.
      this.p = Math.min(c, this.p + Math.max(this.b2.size / this.b1.size, 1));
      this.makeRoom(false);
      this.b1.delete(x);
      this.tier.promote(x);
      this.t2.set(x);
      return;
    }
    if (this.b2.has(x)) {
      // Case III: ghost hit in B2, favour frequency.
      this.p = Math.max(0, this.p - Math.max(this.b1.size / this.b2.size, 1));
      this.makeRoom(true);
      this.b2.delete(x);
      this.tier.promote(x);
      this.t2.set(x);
      return;
    }
    // Case IV: a complete miss.
    const l1 = this.t1.size + this.b1.size;
    if (l1 >= c) {
      if (this.t1.size < c) {
        this.b1.delete(lru(this.b1));
        this.makeRoom(false);
      } else {
        this.evictFrom(this.t1, null, lru(this.t1));
      }
    } else {
      const total = l1 + this.t2.size + this.b2.size;
      if (total >= c) {
        if (total >= 2 * c) this.b2.delete(lru(this.b2));
        this.makeRoom(false);
      }
    }
    this.makeRoom(false);
    this.tier.promote(x);
    this.t1.set(x);
  }

  /** References every block of the I/O, then lets each predictor act. */
  access(io: IoRequest): void {
    for (let x = io.start; x < io.start + io.count; x++) this.reference(x);
    if (this.predictors.length === 0) return;
    this.trimGhosts();
    for (const p of this.predictors) p.after(io, this);
  }

  /** True when the block is resident (or its copy is in flight). */
  has(block: number): boolean {
    return this.tier.has(block);
  }

  /**
   * Copies a block up ahead of use, evicting the ARC way if the tier is full. Returns false (no
   * copy) when it is already resident.
   */
  prefetch(block: number, reason: PromotionReason): boolean {
    if (this.tier.has(block)) return false;
    this.b1.delete(block);
    this.b2.delete(block);
    this.makeRoom(false);
    this.tier.promote(block, reason);
    this.prefetched.add(block);
    this.t1.set(block);
    this.trimGhosts();
    return true;
  }

  /** Marks a resident block as the next to evict (a predictor expects it to cool). */
  cool(block: number): void {
    if (this.tier.has(block)) this.cooling.add(block);
  }
}
