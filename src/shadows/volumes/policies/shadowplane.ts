/**
 * Shadowplane's predictive placement policy: ARC's adaptive recency/frequency balance for what
 * stays on the fast tier, plus extent-level run prediction for what is copied up *before* it is
 * requested.
 *
 * Prediction: when block x is requested and x-1 was requested within the last `runWindow`
 * requests, the extent is being walked in order, so x+1..x+depth are predicted next and promoted
 * now (depth grows with the tier's copy lag, so copies land in time) (the copy is the adjacent part of the slow-tier read, the cheapest copy there is). A
 * prefetched block enters T1 like a first-time block; if it is evicted before anyone asked for it,
 * it does not enter the ghost list B1, so a wrong prediction never steers ARC's adaptation.
 *
 * Only the past is used: the window of recent requests and the ARC lists. Every miss is promoted
 * synchronously as in ARC.
 */
import type { FastTier, PlacementPolicy } from './policy.js';

type List = Map<number, true>;

function lru(list: List): number {
  return list.keys().next().value as number;
}

/** Tuning of the predictive policy. */
export interface ShadowplaneOptions {
  /**
   * Blocks promoted ahead of a detected run (0 turns prediction off and leaves plain ARC). The
   * policy looks at least `tier.copyLag + 1` blocks ahead, so a copy can land before its request.
   */
  readonly depth: number;
  /** How many past requests the run detector remembers. */
  readonly runWindow: number;
}

/** Defaults measured on the OLTP and CloudPhysics traces (docs/benchmarks.md, volumes). */
export const SHADOWPLANE_DEFAULTS: ShadowplaneOptions = { depth: 1, runWindow: 64 };

/** The predictive policy; see the module comment for the rule. */
export class ShadowplanePolicy implements PlacementPolicy {
  readonly name = 'shadowplane';
  private readonly t1: List = new Map();
  private readonly t2: List = new Map();
  private readonly b1: List = new Map();
  private readonly b2: List = new Map();
  private readonly prefetched = new Set<number>();
  private p = 0;
  private readonly c: number;
  private readonly ring: Float64Array;
  private readonly recent = new Map<number, number>();
  private readonly opts: ShadowplaneOptions;
  private readonly lookahead: number;

  constructor(
    private readonly tier: FastTier,
    opts: Partial<ShadowplaneOptions> = {},
  ) {
    this.opts = { ...SHADOWPLANE_DEFAULTS, ...opts };
    if (!Number.isInteger(this.opts.depth) || this.opts.depth < 0) throw new RangeError('depth must be an integer >= 0');
    if (!Number.isInteger(this.opts.runWindow) || this.opts.runWindow < 1) throw new RangeError('runWindow must be an integer >= 1');
    this.c = tier.capacity;
    this.lookahead = this.opts.depth === 0 ? 0 : Math.max(this.opts.depth, tier.copyLag + 1);
    this.ring = new Float64Array(this.opts.runWindow).fill(-1);
  }

  /** Sizes of T1, T2, B1, B2 and the unused prefetches (for invariant tests). */
  sizes(): { t1: number; t2: number; b1: number; b2: number; prefetched: number } {
    return { t1: this.t1.size, t2: this.t2.size, b1: this.b1.size, b2: this.b2.size, prefetched: this.prefetched.size };
  }

  /** Frees one fast-tier slot the ARC way (T1 while it exceeds its target p, else T2). */
  private replace(inB2: boolean): void {
    const t1 = this.t1.size;
    if (t1 >= 1 && ((inB2 && t1 === this.p) || t1 > this.p || this.t2.size === 0)) {
      const v = lru(this.t1);
      this.t1.delete(v);
      if (!this.prefetched.delete(v)) this.b1.set(v, true);
      this.tier.evict(v);
    } else {
      const v = lru(this.t2);
      this.t2.delete(v);
      this.b2.set(v, true);
      this.tier.evict(v);
    }
  }

  /** Keeps the ghost directory within ARC's bounds: |T1|+|B1| <= c and the total <= 2c. */
  private trimGhosts(): void {
    while (this.t1.size + this.b1.size > this.c && this.b1.size > 0) this.b1.delete(lru(this.b1));
    while (this.t1.size + this.t2.size + this.b1.size + this.b2.size > 2 * this.c && this.b2.size > 0) {
      this.b2.delete(lru(this.b2));
    }
  }

  private admit(x: number, frequent: boolean): void {
    if (this.tier.size() >= this.c) this.replace(this.b2.has(x));
    this.tier.promote(x);
    (frequent ? this.t2 : this.t1).set(x, true);
  }

  /** True when x-1 is among the last `runWindow` requests; then records x. */
  private continuesRun(t: number, x: number): boolean {
    const prev = this.recent.get(x - 1);
    const slot = t % this.ring.length;
    const old = this.ring[slot];
    // Forget the request falling out of the window, unless that block was requested again since.
    if (old >= 0 && this.recent.get(old) === t - this.ring.length) this.recent.delete(old);
    this.ring[slot] = x;
    this.recent.set(x, t);
    return prev !== undefined && t - prev <= this.ring.length;
  }

  /** ARC's cases for the request, then the run prediction. */
  access(t: number, x: number, hit: boolean): void {
    if (hit) {
      if (this.prefetched.delete(x)) {
        // First use of a predicted block: it is now "seen once", like a fresh T1 entry.
        this.t1.delete(x);
        this.t1.set(x, true);
      } else {
        if (!this.t1.delete(x)) this.t2.delete(x);
        this.t2.set(x, true);
      }
    } else if (this.b1.has(x)) {
      this.p = Math.min(this.c, this.p + Math.max(this.b2.size / this.b1.size, 1));
      this.b1.delete(x);
      this.admit(x, true);
    } else if (this.b2.has(x)) {
      this.p = Math.max(0, this.p - Math.max(this.b1.size / this.b2.size, 1));
      this.b2.delete(x);
      this.admit(x, true);
    } else {
      this.admit(x, false);
    }
    this.trimGhosts();
    if (!this.continuesRun(t, x)) return;
    for (let k = 1; k <= this.lookahead; k++) {
      const y = x + k;
      if (this.tier.has(y)) continue;
      this.b1.delete(y);
      this.b2.delete(y);
      if (this.tier.size() >= this.c) this.replace(false);
      this.tier.promote(y);
      this.prefetched.add(y);
      this.t1.set(y, true);
      this.trimGhosts();
    }
  }
}
