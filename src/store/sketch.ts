/**
 * A mergeable quantile sketch with relative-error guarantees (the DDSketch scheme): values fall
 * into logarithmic buckets of ratio gamma = (1 + a) / (1 - a), so any quantile is returned within
 * relative error `a` of a true value. Two sketches merge exactly by adding bucket counts, which is
 * what lets 1-minute windows roll into 5-minute and 1-hour ones without losing anything.
 */
import { ByteReader, ByteWriter } from './bytes.js';

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

/** An empty bucket list, shared until a sketch's first bucket. */
const NO_BUCKETS: number[] = [];

/**
 * A bucket is packed into one double as (index + INDEX_OFFSET) x COUNT_SPAN + count, which orders
 * buckets by index and is exact below 2^53: indexes from -INDEX_OFFSET up to
 * 2^53 / COUNT_SPAN - INDEX_OFFSET (finite values above MIN_INDEXABLE reach -700 to 35,500), whole
 * counts below COUNT_SPAN.
 */
const INDEX_OFFSET = 1024;
const COUNT_SPAN = 2 ** 33;
const INDEX_LIMIT = 2 ** 53 / COUNT_SPAN - INDEX_OFFSET;

/**
 * A quantile sketch backed by sparse buckets: the non-empty bucket indexes, ascending, each with
 * its count. A window's sketch usually holds a few buckets spread over a wide range of latencies,
 * where a dense array would spend kilobytes on empty buckets for every one of a fleet's open
 * windows. Each bucket is one double of a plain array (index and count packed, see COUNT_SPAN;
 * V8 keeps an array of doubles unboxed, 8 bytes an element), grown by hand a few buckets at a
 * time: a typed array and its buffer cost a few hundred bytes of their own, and an array grown by
 * push or splice reserves room for 16 more elements each time it grows, which in each of hundreds
 * of thousands of sketches is most of their memory. A count that is not whole, or reaches
 * COUNT_SPAN, makes the sketch wide: the counts move to an array of their own.
 */
export class QuantileSketch {
  /** Packed buckets (index, and the count unless wide), ascending by index; entries past `size` are spare room. */
  private buckets: number[] = NO_BUCKETS;
  /** Buckets in use. */
  private size = 0;
  /** The counts by bucket, once the sketch is wide (the packed buckets then hold their index alone). */
  private wide: number[] | undefined;
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
    // Only values the ingest path refuses (NaN, infinities) fall outside: they are counted in the
    // first or last bucket rather than thrown in the middle of a batch.
    if (!(index >= -INDEX_OFFSET && index < INDEX_LIMIT)) index = index >= INDEX_LIMIT ? INDEX_LIMIT - 1 : Number.isNaN(index) ? 0 : -INDEX_OFFSET;
    const key = (index + INDEX_OFFSET) * COUNT_SPAN;
    const b = this.buckets;
    let lo = 0;
    let hi = this.size;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (b[mid] < key) lo = mid + 1;
      else hi = mid;
    }
    if (lo === this.size || b[lo] >= key + COUNT_SPAN) this.insert(lo, key);
    const packed = this.buckets[lo] + weight;
    // A whole weight that keeps the count below COUNT_SPAN: the packed sum is exact.
    if (this.wide === undefined && Number.isInteger(weight) && weight >= 0 && packed < key + COUNT_SPAN) this.buckets[lo] = packed;
    else this.addWide(lo, weight);
  }

  /** The index of bucket `i`. */
  private indexAt(i: number): number {
    return Math.floor(this.buckets[i] / COUNT_SPAN) - INDEX_OFFSET;
  }

  /** The count of bucket `i`. */
  private countAt(i: number): number {
    return this.wide ? this.wide[i] : this.buckets[i] % COUNT_SPAN;
  }

  /** Adds `weight` to bucket `i` in the wide form, moving the counts out of the packed buckets first if they are still there. */
  private addWide(i: number, weight: number): void {
    if (this.wide === undefined) {
      const b = this.buckets;
      const wide = new Array<number>(this.size);
      for (let j = 0; j < this.size; j++) {
        wide[j] = b[j] % COUNT_SPAN;
        b[j] -= wide[j];
      }
      this.wide = wide;
    }
    this.wide[i] += weight;
  }

  /** Inserts an empty bucket at position `at`, growing the array by a few buckets when it is full. */
  private insert(at: number, key: number): void {
    let b = this.buckets;
    const used = this.size;
    if (used === b.length) {
      const grown = new Array<number>(used + Math.max(2, used >> 2));
      for (let i = 0; i < at; i++) grown[i] = b[i];
      for (let i = at; i < used; i++) grown[i + 1] = b[i];
      b = this.buckets = grown;
    } else {
      for (let i = used - 1; i >= at; i--) b[i + 1] = b[i];
    }
    b[at] = key;
    this.wide?.splice(at, 0, 0);
    this.size++;
  }

  /** Adds every bucket of `other` into this sketch. */
  merge(other: QuantileSketch): void {
    this.zeroCount += other.zeroCount;
    this.total += other.zeroCount;
    for (let i = 0; i < other.size; i++) this.addAtIndex(other.indexAt(i), other.countAt(i));
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
    for (let i = 0; i < this.size; i++) {
      seen += this.countAt(i);
      if (seen > rank) return (2 * Math.pow(GAMMA, this.indexAt(i))) / (GAMMA + 1);
    }
    return (2 * Math.pow(GAMMA, this.indexAt(this.size - 1))) / (GAMMA + 1);
  }

  /**
   * The stored form, sparse as DDSketch's protobuf form: a tag byte, the zero count, the number of
   * non-empty buckets, their indexes (the first zigzag-encoded, then the gaps) and their counts.
   * Whole counts (every sketch of request latencies) are varints, so a one-bucket sketch takes 5
   * bytes; weighted counts are float64s (tag SPARSE_F64).
   */
  toBuffer(): Buffer {
    const out = new ByteWriter(8 + 3 * this.size);
    this.writeTo(out);
    return out.toBuffer();
  }

  /** Appends the toBuffer() form to `out` (a flush encodes every sketch into one writer). */
  writeTo(out: ByteWriter): void {
    let whole = isWholeCount(this.zeroCount);
    let nonEmpty = 0;
    for (let i = 0; i < this.size; i++) {
      const c = this.countAt(i);
      if (c === 0) continue;
      nonEmpty++;
      if (whole && !isWholeCount(c)) whole = false;
    }
    out.byte(whole ? SPARSE_WHOLE : SPARSE_F64);
    if (whole) out.varint(this.zeroCount);
    else out.f64(this.zeroCount);
    out.varint(nonEmpty);
    let previous: number | undefined;
    for (let i = 0; i < this.size; i++) {
      if (this.countAt(i) === 0) continue;
      const index = this.indexAt(i);
      out.varint(previous === undefined ? zigzag(index) : index - previous);
      previous = index;
    }
    for (let i = 0; i < this.size; i++) {
      const c = this.countAt(i);
      if (c === 0) continue;
      if (whole) out.varint(c);
      else out.f64(c);
    }
  }

  /**
   * Reads the form written by toBuffer(), or the dense form of earlier releases ([zeroCount f64]
   * [offset i32][n i32][counts f64 x n], still found in spill files and quarantined rows). Throws
   * RangeError on a truncated or malformed buffer.
   */
  static fromBuffer(buf: Uint8Array): QuantileSketch {
    const view = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
    if (view[0] === SPARSE_WHOLE || view[0] === SPARSE_F64) {
      const sparse = readSparse(view);
      if (sparse) return sparse;
    }
    return readDense(view);
  }

  /** A sketch of the given zero count and buckets. */
  static fromBuckets(zeroCount: number, indexes: readonly number[], counts: readonly number[]): QuantileSketch {
    const sketch = new QuantileSketch();
    sketch.zeroCount = zeroCount;
    sketch.total = zeroCount;
    for (let i = 0; i < indexes.length; i++) sketch.addAtIndex(indexes[i], counts[i]);
    return sketch;
  }

  /** True when both sketches hold exactly the same buckets. */
  equals(other: QuantileSketch): boolean {
    return this.toBuffer().equals(other.toBuffer());
  }
}

/** Tags of the sparse stored form: counts as varints, or as float64s. */
const SPARSE_WHOLE = 0xd1;
const SPARSE_F64 = 0xd2;

function isWholeCount(v: number): boolean {
  return Number.isSafeInteger(v) && v >= 0;
}

const zigzag = (n: number): number => (n >= 0 ? 2 * n : -2 * n - 1);
const unzigzag = (n: number): number => (n % 2 === 0 ? n / 2 : -(n + 1) / 2);

/** The sparse form, or undefined when `view` is not one (a dense buffer whose first byte matches a tag). */
function readSparse(view: Buffer): QuantileSketch | undefined {
  const read = new ByteReader(view, 1);
  const whole = view[0] === SPARSE_WHOLE;
  const varint = () => read.varint();
  const f64 = () => read.f64();
  const count = whole ? varint : f64;
  try {
    const zeroCount = count();
    const n = varint();
    if (n > view.length) throw new RangeError('sketch buffer is truncated');
    const indexes: number[] = [];
    for (let i = 0; i < n; i++) indexes.push(i === 0 ? unzigzag(varint()) : indexes[i - 1] + varint());
    if (n > 0 && (indexes[0] < -INDEX_OFFSET || indexes[n - 1] >= INDEX_LIMIT)) throw new RangeError('sketch bucket index is out of range');
    const sketch = QuantileSketch.fromBuckets(zeroCount, indexes, indexes.map(() => count()));
    if (!read.done) throw new RangeError('sketch buffer has trailing bytes');
    return sketch;
  } catch (err) {
    if (isDense(view)) return undefined;
    throw err;
  }
}

function isDense(view: Buffer): boolean {
  return view.length >= 16 && view.length === 16 + 8 * view.readInt32LE(12);
}

function readDense(view: Buffer): QuantileSketch {
  if (view.length < 16 || !isDense(view)) throw new RangeError('sketch buffer is truncated');
  const offset = view.readInt32LE(8);
  const n = view.readInt32LE(12);
  const indexes: number[] = [];
  const counts: number[] = [];
  for (let i = 0; i < n; i++) {
    const c = view.readDoubleLE(16 + i * 8);
    if (c === 0) continue;
    indexes.push(offset + i);
    counts.push(c);
  }
  return QuantileSketch.fromBuckets(view.readDoubleLE(0), indexes, counts);
}
