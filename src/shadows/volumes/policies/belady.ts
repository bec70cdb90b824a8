/**
 * Belady's MIN, the offline optimum for demand promotion: on a miss with a full tier, evict the
 * resident block whose next request is furthest in the future. It reads the whole future trace, so
 * it is only a reference limit, never a policy for a live volume.
 */
import type { FastTier, PlacementPolicy } from './policy.js';

/** For each request i, the index of the next request for the same block (n + i when none). */
export function nextUseIndex(trace: Float64Array): Float64Array {
  const n = trace.length;
  const next = new Float64Array(n);
  const seen = new Map<number, number>();
  for (let i = n - 1; i >= 0; i--) {
    const b = trace[i];
    const j = seen.get(b);
    // Distinct "never again" keys keep the heap order total; their relative order does not matter.
    next[i] = j === undefined ? n + i : j;
    seen.set(b, i);
  }
  return next;
}

/** A binary max-heap of (key, block) pairs with lazy deletion. */
class MaxHeap {
  private keys: number[] = [];
  private vals: number[] = [];

  get length(): number {
    return this.keys.length;
  }

  push(key: number, val: number): void {
    const k = this.keys;
    const v = this.vals;
    let i = k.length;
    k.push(key);
    v.push(val);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (k[parent] >= key) break;
      k[i] = k[parent];
      v[i] = v[parent];
      i = parent;
    }
    k[i] = key;
    v[i] = val;
  }

  /** The top key (the heap must not be empty). */
  topKey(): number {
    return this.keys[0];
  }

  /** The top value (the heap must not be empty). */
  topVal(): number {
    return this.vals[0];
  }

  /** Removes the top and returns [key, val]. The heap must not be empty. */
  pop(): [number, number] {
    const k = this.keys;
    const v = this.vals;
    const top: [number, number] = [k[0], v[0]];
    const lastK = k.pop() as number;
    const lastV = v.pop() as number;
    const n = k.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const m = r < n && k[r] > k[l] ? r : l;
        if (k[m] <= lastK) break;
        k[i] = k[m];
        v[i] = v[m];
        i = m;
      }
      k[i] = lastK;
      v[i] = lastV;
    }
    return top;
  }
}

/**
 * Belady's MIN over the given future (the whole trace being replayed). With `bypass` (the default)
 * a missed block whose next request is later than every resident block's is not promoted at all:
 * that is the optimum for a tier that may decline a copy, the right limit for policies with
 * admission filtering. Without it every miss is promoted (the classic demand-paging MIN).
 */
export class BeladyPolicy implements PlacementPolicy {
  readonly name: string;
  private readonly next: Float64Array;
  private readonly nextOf = new Map<number, number>();
  private readonly heap = new MaxHeap();

  constructor(
    private readonly tier: FastTier,
    future: Float64Array,
    private readonly bypass = true,
  ) {
    this.next = nextUseIndex(future);
    this.name = bypass ? 'belady' : 'belady-demand';
  }

  /** The valid heap top's next-use index (stale entries dropped on the way). */
  private furthestResident(): number {
    for (;;) {
      const key = this.heap.topKey();
      const victim = this.heap.topVal();
      if (this.nextOf.get(victim) === key && this.tier.has(victim)) return key;
      this.heap.pop();
    }
  }

  /** Records the block's next use; on a miss evicts the resident block used furthest ahead. */
  access(t: number, block: number, hit: boolean): void {
    const nu = this.next[t];
    if (!hit) {
      if (this.tier.size() >= this.tier.capacity) {
        if (this.bypass && this.furthestResident() < nu) return;
        for (;;) {
          const [key, victim] = this.heap.pop();
          // Skip stale heap entries left behind by later accesses.
          if (this.nextOf.get(victim) === key && this.tier.has(victim)) {
            this.nextOf.delete(victim);
            this.tier.evict(victim);
            break;
          }
        }
      }
      this.tier.promote(block);
    }
    this.nextOf.set(block, nu);
    this.heap.push(nu, block);
  }
}
