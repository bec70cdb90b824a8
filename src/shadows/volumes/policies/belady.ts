/**
 * Belady's MIN at I/O granularity, the offline reference. Its decisions are Belady's on the block
 * reference stream (every block of every I/O, in order); hits are counted per I/O by the harness.
 * After each I/O is served its missing blocks are considered in order: with a full tier, the
 * resident block whose next reference is furthest away is evicted (the blocks of one future I/O are
 * adjacent in that order, so they tend to leave together). With `bypass` (the default) a missing
 * block whose next reference is later than every resident block's is not copied at all.
 *
 * What it bounds: no demand policy (one that copies a block only when an I/O asks for it) copies
 * fewer blocks than `min-demand`, nor misses fewer block references than `min` (Belady). For I/O
 * hits it is a strong offline reference, not a proven bound: the optimum over multi-block I/Os
 * that overlap is a generalised caching problem (NP-hard), and a policy that copies blocks before
 * they are requested (readahead, forecast) can exceed it, since MIN never does.
 */
import type { FastTier, IoRequest, PlacementPolicy } from './policy.js';

/**
 * For each block reference (I/O i, block k of it, flattened in order), the position of the next
 * reference to the same block; `total + position` when there is none (distinct keys keep the heap
 * order total).
 */
export function nextUseIndex(future: { readonly start: Float64Array; readonly count: Uint32Array }): Float64Array {
  const n = future.start.length;
  const offsets = new Float64Array(n + 1);
  for (let i = 0; i < n; i++) offsets[i + 1] = offsets[i] + future.count[i];
  const total = offsets[n];
  const next = new Float64Array(total);
  const seen = new Map<number, number>();
  for (let i = n - 1; i >= 0; i--) {
    for (let k = future.count[i] - 1; k >= 0; k--) {
      const b = future.start[i] + k;
      const pos = offsets[i] + k;
      const j = seen.get(b);
      next[pos] = j === undefined ? total + pos : j;
      seen.set(b, pos);
    }
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

/** MIN over the given future (the whole trace being replayed); see the module comment. */
export class BeladyPolicy implements PlacementPolicy {
  readonly name: string;
  private readonly next: Float64Array;
  private readonly nextOf = new Map<number, number>();
  private readonly heap = new MaxHeap();
  /** Position in `next` of the next I/O's first block. */
  private offset = 0;

  constructor(
    private readonly tier: FastTier,
    future: { readonly start: Float64Array; readonly count: Uint32Array },
    private readonly bypass = true,
  ) {
    this.next = nextUseIndex(future);
    this.name = bypass ? 'min' : 'min-demand';
  }

  /** Drops stale heap entries; true when the valid top is a resident block. */
  private settleTop(): boolean {
    while (this.heap.length > 0) {
      const victim = this.heap.topVal();
      if (this.nextOf.get(victim) === this.heap.topKey() && this.tier.has(victim)) return true;
      this.heap.pop();
    }
    return false;
  }

  /** Records each block's next use; copies up missing blocks, evicting the one used furthest ahead. */
  access(io: IoRequest): void {
    const base = this.offset;
    this.offset += io.count;
    for (let k = 0; k < io.count; k++) {
      const block = io.start + k;
      const nu = this.next[base + k];
      if (!this.tier.has(block)) {
        if (this.tier.size() >= this.tier.capacity) {
          if (!this.settleTop()) continue;
          if (this.bypass && this.heap.topKey() < nu) continue;
          const [, victim] = this.heap.pop();
          this.nextOf.delete(victim);
          this.tier.evict(victim);
        }
        this.tier.promote(block);
      }
      this.nextOf.set(block, nu);
      this.heap.push(nu, block);
    }
  }
}
