/**
 * A mergeable quantile sketch with relative-error guarantees (the DDSketch scheme): values fall
 * into logarithmic buckets of ratio gamma = (1 + a) / (1 - a), so any quantile is returned within
 * relative error `a` of a true value. Two sketches merge exactly by adding bucket counts, which is
 * what lets 1-minute windows roll into 5-minute and 1-hour ones without losing anything.
 */

/** Relative accuracy of every quantile the sketch returns (1 %). */
export const SKETCH_RELATIVE_ACCURACY = 0.01;
const GAMMA = (1 + SKETCH_RELATIVE_ACCURACY) / (1 - SKETCH_RELATIVE_ACCURACY);
const LOG_GAMMA = Math.log(GAMMA);
/** Values at or below this (including 0 and negatives, e.g. a 0 ms latency) are counted apart. */
const MIN_INDEXABLE = 1e-6;

/** The bucket index of a positive value; shared so a caller can compute it once for many sketches. */
export function sketchIndex(value: number): number {
  return value <= MIN_INDEXABLE ? Number.NEGATIVE_INFINITY : Math.ceil(Math.log(value) / LOG_GAMMA);
}

/** A quantile sketch backed by a dense, growable array of bucket counts. */
export class QuantileSketch {
  /** Bucket index of counts[0]. */
  private offset = 0;
  private counts: Float64Array = new Float64Array(0);
  /** Count of values at or below MIN_INDEXABLE. */
  private zeroCount = 0;
  private total = 0;

  /** Number of values added (weights summed). */
  get count(): number {
    return this.total;
  }

  /** Adds `value` with weight `weight` (default 1). */
  add(value: number, weight = 1): void {
    this.addAtIndex(sketchIndex(value), weight);
  }

  /** Adds a value whose bucket index was computed with sketchIndex(). */
  addAtIndex(index: number, weight = 1): void {
    this.total += weight;
    if (index === Number.NEGATIVE_INFINITY) {
      this.zeroCount += weight;
      return;
    }
    let slot = index - this.offset;
    if (slot < 0 || slot >= this.counts.length) slot = this.grow(index);
    this.counts[slot] += weight;
  }

  /** Adds every bucket of `other` into this sketch. */
  merge(other: QuantileSketch): void {
    this.zeroCount += other.zeroCount;
    this.total += other.zeroCount;
    for (let i = 0; i < other.counts.length; i++) {
      const c = other.counts[i];
      if (c !== 0) this.addAtIndex(other.offset + i, c);
    }
  }

  /**
   * The value at quantile q in [0, 1], within the relative accuracy; NaN when empty.
   * Returns 0 for quantiles that fall among the values counted at or below zero.
   */
  quantile(q: number): number {
    if (this.total === 0) return Number.NaN;
    const rank = Math.min(Math.max(q, 0), 1) * (this.total - 1);
    let seen = this.zeroCount;
    if (rank < seen) return 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i];
      if (seen > rank) return (2 * Math.pow(GAMMA, this.offset + i)) / (GAMMA + 1);
    }
    return (2 * Math.pow(GAMMA, this.offset + this.counts.length - 1)) / (GAMMA + 1);
  }

  /** A compact binary form: [zeroCount f64][offset i32][n i32][counts f64 × n], trimmed of empty ends. */
  toBuffer(): Buffer {
    let lo = 0;
    let hi = this.counts.length;
    while (lo < hi && this.counts[lo] === 0) lo++;
    while (hi > lo && this.counts[hi - 1] === 0) hi--;
    const buf = Buffer.alloc(16 + (hi - lo) * 8);
    buf.writeDoubleLE(this.zeroCount, 0);
    buf.writeInt32LE(this.offset + lo, 8);
    buf.writeInt32LE(hi - lo, 12);
    // One copy of the counts' bytes (little-endian, as on every platform Node supports).
    buf.set(new Uint8Array(this.counts.buffer, this.counts.byteOffset + lo * 8, (hi - lo) * 8), 16);
    return buf;
  }

  /** Reads the form written by toBuffer(); throws RangeError on a truncated buffer. */
  static fromBuffer(buf: Uint8Array): QuantileSketch {
    const view = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
    const sketch = new QuantileSketch();
    sketch.zeroCount = view.readDoubleLE(0);
    sketch.offset = view.readInt32LE(8);
    const n = view.readInt32LE(12);
    if (view.length < 16 + n * 8) throw new RangeError('sketch buffer is truncated');
    sketch.counts = new Float64Array(n);
    new Uint8Array(sketch.counts.buffer).set(view.subarray(16, 16 + n * 8));
    let total = sketch.zeroCount;
    for (let i = 0; i < n; i++) total += sketch.counts[i];
    sketch.total = total;
    return sketch;
  }

  /** True when both sketches hold exactly the same buckets. */
  equals(other: QuantileSketch): boolean {
    return this.toBuffer().equals(other.toBuffer());
  }

  /** Grows the array to cover `index`, doubling so repeated growth stays rare; returns the new slot. */
  private grow(index: number): number {
    if (this.counts.length === 0) {
      this.offset = index - 32;
      this.counts = new Float64Array(64);
      return index - this.offset;
    }
    const end = this.offset + this.counts.length;
    const size = Math.max(this.counts.length * 2, Math.max(end, index + 1) - Math.min(this.offset, index));
    // Extend toward the side that needs room; the other side keeps its data where it is.
    const lo = index < this.offset ? Math.min(index, end - size) : this.offset;
    const next = new Float64Array(size);
    next.set(this.counts, this.offset - lo);
    this.counts = next;
    this.offset = lo;
    return index - lo;
  }
}
