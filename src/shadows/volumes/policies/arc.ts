/**
 * ARC, the Adaptive Replacement Cache of Megiddo and Modha (FAST '03), exactly as in the paper's
 * Figure 4: T1/T2 resident (seen once / at least twice recently), B1/B2 their ghost lists, and the
 * target size p of T1 adapted on ghost hits. Every miss is promoted.
 */
import type { FastTier, PlacementPolicy } from './policy.js';

type List = Map<number, true>;

function lru(list: List): number {
  return list.keys().next().value as number;
}

/** The ARC policy over a fast tier of `tier.capacity` blocks. */
export class ArcPolicy implements PlacementPolicy {
  readonly name = 'arc';
  private readonly t1: List = new Map();
  private readonly t2: List = new Map();
  private readonly b1: List = new Map();
  private readonly b2: List = new Map();
  private p = 0;
  private readonly c: number;

  constructor(private readonly tier: FastTier) {
    this.c = tier.capacity;
  }

  /** The current adaptation target for |T1| (exposed for tests of the invariants). */
  get target(): number {
    return this.p;
  }

  /** Sizes of T1, T2, B1, B2 (for invariant tests: |T1|+|T2| <= c, total <= 2c). */
  sizes(): [number, number, number, number] {
    return [this.t1.size, this.t2.size, this.b1.size, this.b2.size];
  }

  private replace(inB2: boolean): void {
    const t1 = this.t1.size;
    if (t1 >= 1 && ((inB2 && t1 === this.p) || t1 > this.p)) {
      const v = lru(this.t1);
      this.t1.delete(v);
      this.b1.set(v, true);
      this.tier.evict(v);
    } else {
      const v = lru(this.t2);
      this.t2.delete(v);
      this.b2.set(v, true);
      this.tier.evict(v);
    }
  }

  /** Applies the paper's four cases. */
  access(_t: number, x: number, hit: boolean): void {
    const c = this.c;
    if (hit) {
      // Case I: in T1 or T2.
      if (!this.t1.delete(x)) this.t2.delete(x);
      this.t2.set(x, true);
      return;
    }
    if (this.b1.has(x)) {
      // Case II: ghost hit in B1, favour recency.
      this.p = Math.min(c, this.p + Math.max(this.b2.size / this.b1.size, 1));
      this.replace(false);
      this.b1.delete(x);
      this.tier.promote(x);
      this.t2.set(x, true);
      return;
    }
    if (this.b2.has(x)) {
      // Case III: ghost hit in B2, favour frequency.
      this.p = Math.max(0, this.p - Math.max(this.b1.size / this.b2.size, 1));
      this.replace(true);
      this.b2.delete(x);
      this.tier.promote(x);
      this.t2.set(x, true);
      return;
    }
    // Case IV: a complete miss.
    const l1 = this.t1.size + this.b1.size;
    if (l1 === c) {
      if (this.t1.size < c) {
        this.b1.delete(lru(this.b1));
        this.replace(false);
      } else {
        const v = lru(this.t1);
        this.t1.delete(v);
        this.tier.evict(v);
      }
    } else {
      const total = l1 + this.t2.size + this.b2.size;
      if (total >= c) {
        if (total === 2 * c) this.b2.delete(lru(this.b2));
        this.replace(false);
      }
    }
    this.tier.promote(x);
    this.t1.set(x, true);
  }
}
