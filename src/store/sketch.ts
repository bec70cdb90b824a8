/**
 * A mergeable quantile sketch with relative-error guarantees (the DDSketch scheme): values fall
 * into logarithmic buckets of ratio gamma = (1 + a) / (1 - a), so any quantile is returned within
 * relative error `a` of a true value. Two sketches merge exactly by adding bucket counts, which is
 * what lets 1-minute windows roll into 5-minute and 1-hour ones without losing anything.
 */
import { ByteReader, ByteWriter } from './bytes.js';
import { RunArena } from './runs.js';

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

/**
 * A bucket is packed into one double as (index + INDEX_OFFSET) x COUNT_SPAN + count, which orders
 * buckets by index and is exact below 2^53: indexes from -INDEX_OFFSET up to
 * 2^53 / COUNT_SPAN - INDEX_OFFSET (finite values above MIN_INDEXABLE reach -700 to 35,500), whole
 * counts below COUNT_SPAN.
 */
const INDEX_OFFSET = 1024;
const COUNT_SPAN = 2 ** 33;
const INDEX_LIMIT = 2 ** 53 / COUNT_SPAN - INDEX_OFFSET;

// A sketch's header, by its place among its SKETCH_FIELDS float64s.
const ZEROS = 0;
const TOTAL = 1;
const SIZE = 2;
const BUCKETS = 3;
const WIDE = 4;
/** Float64s of a sketch's header: zero count, total, buckets in use, and the runs of its buckets and wide counts (-1: none). */
export const SKETCH_FIELDS = 5;

/**
 * Quantile sketches kept apart from any object: a sketch is the SKETCH_FIELDS float64s of a header
 * in a caller's array (an open window's slot, see WindowValues) and, once it holds a bucket, a run
 * of `runs` with its buckets: the non-empty bucket indexes, ascending, each with its count, packed
 * into one double (see COUNT_SPAN). A window's sketch usually holds a few buckets spread over a
 * wide range of latencies, where a dense array would spend kilobytes on empty buckets. A count
 * that is not whole, or reaches COUNT_SPAN, makes the sketch wide: its counts move to a run of
 * their own, and the packed buckets then hold their index alone.
 */
export class Sketches {
  constructor(readonly runs: RunArena) {}

  /** Makes the header at `h[o]` an empty sketch (its runs, if any, are not freed: see release()). */
  clear(h: Float64Array, o: number): void {
    h[o + ZEROS] = 0;
    h[o + TOTAL] = 0;
    h[o + SIZE] = 0;
    h[o + BUCKETS] = -1;
    h[o + WIDE] = -1;
  }

  /** Frees the runs of the sketch at `h[o]`, leaving it empty. */
  release(h: Float64Array, o: number): void {
    if (h[o + BUCKETS] >= 0) this.runs.free(h[o + BUCKETS]);
    if (h[o + WIDE] >= 0) this.runs.free(h[o + WIDE]);
    this.clear(h, o);
  }

  /** Number of values added (weights summed). */
  count(h: Float64Array, o: number): number {
    return h[o + TOTAL];
  }

  /** Adds a value whose bucket index was computed with sketchIndex(), with weight `weight`. */
  add(h: Float64Array, o: number, index: number, weight: number): void {
    h[o + TOTAL] += weight;
    if (index === Number.NEGATIVE_INFINITY) {
      h[o + ZEROS] += weight;
      return;
    }
    // Only values the ingest path refuses (NaN, infinities) fall outside: they are counted in the
    // first or last bucket rather than thrown in the middle of a batch.
    if (!(index >= -INDEX_OFFSET && index < INDEX_LIMIT)) index = index >= INDEX_LIMIT ? INDEX_LIMIT - 1 : Number.isNaN(index) ? 0 : -INDEX_OFFSET;
    const key = (index + INDEX_OFFSET) * COUNT_SPAN;
    const size = h[o + SIZE];
    let lo = 0;
    if (size > 0) {
      const b = this.runs.array(h[o + BUCKETS]);
      const at = this.runs.offset(h[o + BUCKETS]);
      let hi = size;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (b[at + mid] < key) lo = mid + 1;
        else hi = mid;
      }
      if (lo === size || b[at + lo] >= key + COUNT_SPAN) this.insert(h, o, lo, key);
    } else {
      this.insert(h, o, 0, key);
    }
    const b = this.runs.array(h[o + BUCKETS]);
    const i = this.runs.offset(h[o + BUCKETS]) + lo;
    const packed = b[i] + weight;
    // A whole weight that keeps the count below COUNT_SPAN: the packed sum is exact.
    if (h[o + WIDE] < 0 && Number.isInteger(weight) && weight >= 0 && packed < key + COUNT_SPAN) b[i] = packed;
    else this.addWide(h, o, lo, weight);
  }

  /** Adds every bucket of the sketch at `from`'s `fh[fo]` into the sketch at `h[o]`. */
  merge(h: Float64Array, o: number, from: Sketches, fh: Float64Array, fo: number): void {
    h[o + ZEROS] += fh[fo + ZEROS];
    h[o + TOTAL] += fh[fo + ZEROS];
    const size = fh[fo + SIZE];
    for (let i = 0; i < size; i++) this.add(h, o, from.indexAt(fh, fo, i), from.countAt(fh, fo, i));
  }

  /**
   * The value at quantile q in [0, 1], within the relative accuracy; NaN when empty.
   * Returns 0 for quantiles that fall among the values counted at or below zero.
   */
  quantile(h: Float64Array, o: number, q: number): number {
    const total = h[o + TOTAL];
    if (total === 0) return Number.NaN;
    const rank = Math.min(Math.max(q, 0), 1) * (total - 1);
    let seen = h[o + ZEROS];
    if (rank < seen) return 0;
    const size = h[o + SIZE];
    for (let i = 0; i < size; i++) {
      seen += this.countAt(h, o, i);
      if (seen > rank) return bucketValue(this.indexAt(h, o, i));
    }
    return bucketValue(this.indexAt(h, o, size - 1));
  }

  /**
   * Appends the stored form, sparse as DDSketch's protobuf form: a tag byte, the zero count, the
   * number of non-empty buckets, their indexes (the first zigzag-encoded, then the gaps) and their
   * counts. Whole counts (every sketch of request latencies) are varints, so a one-bucket sketch
   * takes 5 bytes; weighted counts are float64s (tag SPARSE_F64).
   */
  write(h: Float64Array, o: number, out: ByteWriter): void {
    const zeroCount = h[o + ZEROS];
    const size = h[o + SIZE];
    let whole = isWholeCount(zeroCount);
    let nonEmpty = 0;
    for (let i = 0; i < size; i++) {
      const c = this.countAt(h, o, i);
      if (c === 0) continue;
      nonEmpty++;
      if (whole && !isWholeCount(c)) whole = false;
    }
    out.byte(whole ? SPARSE_WHOLE : SPARSE_F64);
    if (whole) out.varint(zeroCount);
    else out.f64(zeroCount);
    out.varint(nonEmpty);
    let previous: number | undefined;
    for (let i = 0; i < size; i++) {
      if (this.countAt(h, o, i) === 0) continue;
      const index = this.indexAt(h, o, i);
      out.varint(previous === undefined ? zigzag(index) : index - previous);
      previous = index;
    }
    for (let i = 0; i < size; i++) {
      const c = this.countAt(h, o, i);
      if (c === 0) continue;
      if (whole) out.varint(c);
      else out.f64(c);
    }
  }

  /**
   * Adds the sketch stored in `buf` (the form write() gives, or the dense form of earlier releases:
   * [zeroCount f64][offset i32][n i32][counts f64 x n], still found in spill files and quarantined
   * rows). Throws RangeError on a truncated or malformed buffer, adding nothing.
   */
  read(h: Float64Array, o: number, buf: Uint8Array): void {
    const view = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
    const decoded = ((view[0] === SPARSE_WHOLE || view[0] === SPARSE_F64) && readSparse(view)) || readDense(view);
    this.addBuckets(h, o, decoded);
  }

  /** Adds a zero count and buckets. */
  addBuckets(h: Float64Array, o: number, { zeroCount, indexes, counts }: Buckets): void {
    h[o + ZEROS] += zeroCount;
    h[o + TOTAL] += zeroCount;
    for (let i = 0; i < indexes.length; i++) this.add(h, o, indexes[i], counts[i]);
  }

  /** The index of bucket `i`. */
  private indexAt(h: Float64Array, o: number, i: number): number {
    return Math.floor(this.runs.array(h[o + BUCKETS])[this.runs.offset(h[o + BUCKETS]) + i] / COUNT_SPAN) - INDEX_OFFSET;
  }

  /** The count of bucket `i`. */
  private countAt(h: Float64Array, o: number, i: number): number {
    const wide = h[o + WIDE];
    if (wide >= 0) return this.runs.array(wide)[this.runs.offset(wide) + i];
    return this.runs.array(h[o + BUCKETS])[this.runs.offset(h[o + BUCKETS]) + i] % COUNT_SPAN;
  }

  /** Adds `weight` to bucket `i` in the wide form, moving the counts out of the packed buckets first if they are still there. */
  private addWide(h: Float64Array, o: number, i: number, weight: number): void {
    const b = this.runs.array(h[o + BUCKETS]);
    const at = this.runs.offset(h[o + BUCKETS]);
    if (h[o + WIDE] < 0) {
      const wide = this.runs.alloc(this.runs.length(h[o + BUCKETS]));
      const w = this.runs.array(wide);
      const wAt = this.runs.offset(wide);
      for (let j = 0; j < h[o + SIZE]; j++) {
        w[wAt + j] = b[at + j] % COUNT_SPAN;
        b[at + j] -= w[wAt + j];
      }
      h[o + WIDE] = wide;
    }
    this.runs.array(h[o + WIDE])[this.runs.offset(h[o + WIDE]) + i] += weight;
  }

  /** Inserts an empty bucket at position `pos`, moving the runs to longer ones when they are full. */
  private insert(h: Float64Array, o: number, pos: number, key: number): void {
    const size = h[o + SIZE];
    if (h[o + BUCKETS] < 0) h[o + BUCKETS] = this.runs.alloc(MIN_BUCKETS);
    else if (size === this.runs.length(h[o + BUCKETS])) {
      h[o + BUCKETS] = this.runs.resize(h[o + BUCKETS], size, size + 1);
      if (h[o + WIDE] >= 0) h[o + WIDE] = this.runs.resize(h[o + WIDE], size, size + 1);
    }
    const b = this.runs.array(h[o + BUCKETS]);
    const at = this.runs.offset(h[o + BUCKETS]);
    b.copyWithin(at + pos + 1, at + pos, at + size);
    b[at + pos] = key;
    if (h[o + WIDE] >= 0) {
      const w = this.runs.array(h[o + WIDE]);
      const wAt = this.runs.offset(h[o + WIDE]);
      w.copyWithin(wAt + pos + 1, wAt + pos, wAt + size);
      w[wAt + pos] = 0;
    }
    h[o + SIZE] = size + 1;
  }
}

/** Buckets of a sketch's first run. */
const MIN_BUCKETS = 2;

/** The value a bucket stands for: the middle of its range, within the relative accuracy of all of it. */
const bucketValue = (index: number): number => (2 * Math.pow(GAMMA, index)) / (GAMMA + 1);

/** A decoded sketch: its zero count and non-empty buckets. */
interface Buckets {
  zeroCount: number;
  indexes: readonly number[];
  counts: readonly number[];
}

/**
 * One quantile sketch of its own, for the code (queries, tests) that handles a sketch apart from a
 * window; it keeps its header and buckets in small arrays of its own.
 */
export class QuantileSketch {
  private readonly sketches = new Sketches(new RunArena(16));
  private readonly h = new Float64Array(SKETCH_FIELDS);

  constructor() {
    this.sketches.clear(this.h, 0);
  }

  /** Number of values added (weights summed). */
  get count(): number {
    return this.sketches.count(this.h, 0);
  }

  /** Adds `value` with weight `weight` (default 1). */
  add(value: number, weight = 1): void {
    this.sketches.add(this.h, 0, sketchIndex(value), weight);
  }

  /** Adds every bucket of `other` into this sketch. */
  merge(other: QuantileSketch): void {
    this.sketches.merge(this.h, 0, other.sketches, other.h, 0);
  }

  /** See Sketches.quantile(). */
  quantile(q: number): number {
    return this.sketches.quantile(this.h, 0, q);
  }

  /** The stored form (see Sketches.write()). */
  toBuffer(): Buffer {
    const out = new ByteWriter(8 + 3 * this.h[SIZE]);
    this.sketches.write(this.h, 0, out);
    return out.toBuffer();
  }

  /** Reads the stored form (see Sketches.read()). Throws RangeError on a truncated or malformed buffer. */
  static fromBuffer(buf: Uint8Array): QuantileSketch {
    const sketch = new QuantileSketch();
    sketch.sketches.read(sketch.h, 0, buf);
    return sketch;
  }

  /** A sketch of the given zero count and buckets. */
  static fromBuckets(zeroCount: number, indexes: readonly number[], counts: readonly number[]): QuantileSketch {
    const sketch = new QuantileSketch();
    sketch.sketches.addBuckets(sketch.h, 0, { zeroCount, indexes, counts });
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
function readSparse(view: Buffer): Buckets | undefined {
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
    const counts = indexes.map(() => count());
    if (!read.done) throw new RangeError('sketch buffer has trailing bytes');
    return { zeroCount, indexes, counts };
  } catch (err) {
    if (isDense(view)) return undefined;
    throw err;
  }
}

function isDense(view: Buffer): boolean {
  return view.length >= 16 && view.length === 16 + 8 * view.readInt32LE(12);
}

function readDense(view: Buffer): Buckets {
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
  return { zeroCount: view.readDoubleLE(0), indexes, counts };
}
