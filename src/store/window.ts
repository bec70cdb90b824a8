/**
 * One rollup cell: the aggregate of everything one target saw in one dimension key over one time
 * window. Aggregates are associative (`merge`), so fine windows roll into coarse ones exactly.
 * Every sum saturates at ±MAX_MAGNITUDE (1e300): a total that reaches it stays there instead of
 * overflowing to ±Infinity, and +Infinity plus -Infinity (NaN) can never reach the store.
 */
import { saturatingAdd as add } from '../core/schema.js';
import { ByteWriter } from './bytes.js';
import { SKETCH_FIELDS, Sketches, sketchIndex } from './sketch.js';
import { RunArena } from './runs.js';

/** The dimensions a target's request windows are kept by, plus `metric` for resource metrics. */
export const DIMENSIONS = ['total', 'op', 'table', 'column', 'user', 'route', 'metric'] as const;
/** One dimension name. */
export type Dimension = (typeof DIMENSIONS)[number];
/** The key under which the keys beyond the top-K of a window are merged. */
export const OTHER_KEY = '__other__';
/** The key of the single `total` window. */
export const TOTAL_KEY = '';

/** The stored form of a window (what both Shadow Store backends read and write). */
export interface WindowRow {
  target: string;
  /** Window length in seconds. */
  granularity: number;
  dim: Dimension;
  key: string;
  /** Window start, ms since the epoch (aligned to the granularity). */
  start: number;
  /** True once the window is closed and will not change again. */
  final: boolean;
  /** Sampled requests (or metric points) seen. */
  count: number;
  /** Requests estimated in all traffic: each sampled request counts 1 / the rate in force. */
  estCount: number;
  bytes: number;
  estBytes: number;
  rows: number;
  errors: number;
  estErrors: number;
  /** Sum, min and max of the value: latency in ms for requests, the sample value for metrics. */
  sum: number;
  min: number;
  max: number;
  /** Highest estimated requests in any one second of the window. */
  peak: number;
  /** The sampling rate in force at the last request of the window. */
  rate: number;
  /** Last metric value and its time (metrics only; NaN / 0 otherwise). */
  last: number;
  lastAt: number;
  /** The value sketch in QuantileSketch.toBuffer() form. */
  sketch: Buffer;
}

/** Seconds a window's per-second estimates are kept for as pairs at least (longer in windows of more than 16 seconds). */
const SPARSE_SECONDS = 8;

// A window's numbers, by their place among its STRIDE float64s.
const COUNT = 0;
const EST_COUNT = 1;
const BYTES = 2;
const EST_BYTES = 3;
const ROWS = 4;
const ERRORS = 5;
const EST_ERRORS = 6;
const SUM = 7;
const MIN = 8;
const MAX = 9;
const PEAK = 10;
const RATE = 11;
const LAST = 12;
const LAST_AT = 13;
const START = 14;
/** The value sketch's header (SKETCH_FIELDS float64s, see Sketches). */
const SKETCH = 15;
/**
 * The run of per-second estimates (-1 until the first request), read as float32s, and how it is
 * used: while the window has seen few seconds, that many entries of flat [second, estimate] pairs;
 * then (-1) one entry per second of the window. Most of a fleet's windows (a column, a user) see
 * requests in a few of their seconds. An estimate is kept to float32's 7 significant digits: it is
 * the peak's, an estimate of requests in a second, and float32 halves what a fleet's windows keep.
 */
const SECONDS = SKETCH + SKETCH_FIELDS;
const SECONDS_USED = SECONDS + 1;
/** Float64s per window. */
const STRIDE = SECONDS_USED + 1;
/** Windows per chunk of a WindowValues that holds an engine's windows. */
const CHUNK_WINDOWS = 4096;
/** Per-second runs start with room for this many pairs. */
const FIRST_PAIRS = 4;
/** The largest float32. */
const F32_MAX = 3.4028234663852886e38;

/** `x` as the float32 a per-second estimate is kept as, saturating at the largest float32 instead of reaching Infinity. */
function estimate32(x: number): number {
  return Math.min(Math.fround(x), F32_MAX);
}

/**
 * Where windows keep everything they hold: STRIDE float64s per window in chunks of typed arrays,
 * each window's slot reused once it is released, and runs (see RunArena) for its sketch buckets and
 * per-second estimates. As fields and arrays of the Window object itself, a number that is not a
 * small integer (a start in ms, a latency sum, min, max, NaN) is a heap object of its own, and each
 * array an object and a backing store, which cost a fleet's half a million windows millions of
 * objects for the garbage collector to mark; here a number is 8 bytes and a window is one object.
 */
export class WindowValues {
  private readonly chunks: Float64Array[] = [];
  private readonly free: number[] = [];
  private used = 0;
  private readonly chunkWindows: number;
  /** The runs of the windows' sketch buckets and per-second estimates. */
  readonly runs: RunArena;
  /** The windows' sketches (their headers lie in the windows' slots). */
  readonly sketches: Sketches;

  /** Room for `chunkWindows` windows per chunk: an engine's thousands, or a few for windows handled one at a time. */
  constructor(chunkWindows = CHUNK_WINDOWS) {
    this.chunkWindows = Math.max(1, chunkWindows);
    this.runs = new RunArena(this.chunkWindows * 16);
    this.sketches = new Sketches(this.runs);
  }

  /** Slots in use. */
  get size(): number {
    return this.used - this.free.length;
  }

  /** A free slot (chunk index x chunkWindows + index in the chunk). */
  take(): number {
    const slot = this.free.pop();
    if (slot !== undefined) return slot;
    if (this.used === this.chunks.length * this.chunkWindows) this.chunks.push(new Float64Array(this.chunkWindows * STRIDE));
    return this.used++;
  }

  /** The chunk holding `slot`. */
  chunk(slot: number): Float64Array {
    return this.chunks[Math.floor(slot / this.chunkWindows)];
  }

  /** Where `slot` starts in its chunk. */
  offset(slot: number): number {
    return (slot % this.chunkWindows) * STRIDE;
  }

  /** Gives a slot and its runs back: its window must not be used again. */
  release(slot: number): void {
    const v = this.chunk(slot);
    const at = this.offset(slot);
    this.sketches.release(v, at + SKETCH);
    if (v[at + SECONDS] >= 0) this.runs.free(v[at + SECONDS]);
    v[at + SECONDS] = -1;
    this.free.push(slot);
  }
}

/** An open, in-memory window: a view of its slot in a WindowValues. */
export class Window {
  /** The array holding this window's numbers, from `at` on (STRIDE of them). */
  private readonly v: Float64Array;
  private readonly at: number;
  private readonly slot: number;

  /**
   * A window of `granularity` seconds from `start` (ms), kept in `values`: an engine's, or by
   * default a small one of its own, for a window handled on its own (a query's, a test's).
   */
  constructor(
    start: number,
    readonly granularity: number,
    private readonly values: WindowValues = new WindowValues(1),
  ) {
    this.slot = values.take();
    this.v = values.chunk(this.slot);
    this.at = values.offset(this.slot);
    const v = this.v;
    const at = this.at;
    v.fill(0, at, at + STRIDE);
    v[at + MIN] = Number.POSITIVE_INFINITY;
    v[at + MAX] = Number.NEGATIVE_INFINITY;
    v[at + RATE] = 1;
    v[at + LAST] = Number.NaN;
    v[at + START] = start;
    values.sketches.clear(v, at + SKETCH);
    v[at + SECONDS] = -1;
  }

  /** Gives the window's slot back to its WindowValues: the window must not be used again. */
  release(): void {
    this.values.release(this.slot);
  }

  /** Window start, ms since the epoch. */
  get start(): number {
    return this.v[this.at + START];
  }
  /** Sampled requests (or metric points) seen. */
  get count(): number {
    return this.v[this.at + COUNT];
  }
  set count(x: number) {
    this.v[this.at + COUNT] = x;
  }
  /** Requests estimated in all traffic. */
  get estCount(): number {
    return this.v[this.at + EST_COUNT];
  }
  set estCount(x: number) {
    this.v[this.at + EST_COUNT] = x;
  }
  get bytes(): number {
    return this.v[this.at + BYTES];
  }
  set bytes(x: number) {
    this.v[this.at + BYTES] = x;
  }
  get estBytes(): number {
    return this.v[this.at + EST_BYTES];
  }
  set estBytes(x: number) {
    this.v[this.at + EST_BYTES] = x;
  }
  get rows(): number {
    return this.v[this.at + ROWS];
  }
  set rows(x: number) {
    this.v[this.at + ROWS] = x;
  }
  get errors(): number {
    return this.v[this.at + ERRORS];
  }
  set errors(x: number) {
    this.v[this.at + ERRORS] = x;
  }
  get estErrors(): number {
    return this.v[this.at + EST_ERRORS];
  }
  set estErrors(x: number) {
    this.v[this.at + EST_ERRORS] = x;
  }
  /** Sum, min and max of the value (min +Infinity and max -Infinity while empty). */
  get sum(): number {
    return this.v[this.at + SUM];
  }
  set sum(x: number) {
    this.v[this.at + SUM] = x;
  }
  get min(): number {
    return this.v[this.at + MIN];
  }
  set min(x: number) {
    this.v[this.at + MIN] = x;
  }
  get max(): number {
    return this.v[this.at + MAX];
  }
  set max(x: number) {
    this.v[this.at + MAX] = x;
  }
  /** Highest estimated requests in any one second. */
  get peak(): number {
    return this.v[this.at + PEAK];
  }
  set peak(x: number) {
    this.v[this.at + PEAK] = x;
  }
  /** The sampling rate in force at the last request. */
  get rate(): number {
    return this.v[this.at + RATE];
  }
  set rate(x: number) {
    this.v[this.at + RATE] = x;
  }
  /** Last metric value (NaN when none) and its time. */
  get last(): number {
    return this.v[this.at + LAST];
  }
  set last(x: number) {
    this.v[this.at + LAST] = x;
  }
  get lastAt(): number {
    return this.v[this.at + LAST_AT];
  }
  set lastAt(x: number) {
    this.v[this.at + LAST_AT] = x;
  }

  /**
   * Adds one sampled request. `weight` is 1 / the sampling rate; `latencyBucket` is the latency's
   * sketch bucket, precomputed (see sketchIndex()) once for the dimensions one event touches.
   */
  addRequest(at: number, latencyMs: number, latencyBucket: number, bytes: number, rows: number, failed: boolean, weight: number, rate: number): void {
    const v = this.v;
    const o = this.at;
    v[o + COUNT]++;
    v[o + EST_COUNT] = add(v[o + EST_COUNT], weight);
    v[o + BYTES] = add(v[o + BYTES], bytes);
    v[o + EST_BYTES] = add(v[o + EST_BYTES], bytes * weight);
    v[o + ROWS] = add(v[o + ROWS], rows);
    if (failed) {
      v[o + ERRORS]++;
      v[o + EST_ERRORS] = add(v[o + EST_ERRORS], weight);
    }
    v[o + SUM] = add(v[o + SUM], latencyMs);
    if (latencyMs < v[o + MIN]) v[o + MIN] = latencyMs;
    if (latencyMs > v[o + MAX]) v[o + MAX] = latencyMs;
    this.values.sketches.add(v, o + SKETCH, latencyBucket, 1);
    v[o + RATE] = rate;
    // the whole second within the window: it indexes the dense form
    const inSecond = this.addInSecond(((at - v[o + START]) / 1000) | 0, weight);
    if (inSecond > v[o + PEAK]) v[o + PEAK] = inSecond;
  }

  /** Adds one resource-metric point. */
  addSample(at: number, value: number): void {
    this.count++;
    this.estCount++;
    this.sum = add(this.sum, value);
    if (value < this.min) this.min = value;
    if (value > this.max) this.max = value;
    this.values.sketches.add(this.v, this.at + SKETCH, sketchIndex(value), 1);
    if (at >= this.lastAt) {
      this.last = value;
      this.lastAt = at;
    }
  }

  /** Adds `other` (a window of the same or a finer granularity, inside this one) into this window. */
  merge(other: Window): void {
    this.count += other.count;
    this.estCount = add(this.estCount, other.estCount);
    this.bytes = add(this.bytes, other.bytes);
    this.estBytes = add(this.estBytes, other.estBytes);
    this.rows = add(this.rows, other.rows);
    this.errors += other.errors;
    this.estErrors = add(this.estErrors, other.estErrors);
    this.sum = add(this.sum, other.sum);
    if (other.min < this.min) this.min = other.min;
    if (other.max > this.max) this.max = other.max;
    this.values.sketches.merge(this.v, this.at + SKETCH, other.values.sketches, other.v, other.at + SKETCH);
    const theirRun = other.v[other.at + SECONDS];
    if (other.start === this.start && other.granularity === this.granularity && theirRun >= 0) {
      // Two partial aggregates of the same window (e.g. per-key windows folded into `other`):
      // seconds line up, so the peak is recomputed from the summed seconds.
      const theirs = other.values.runs.f32(theirRun);
      const from = 2 * other.values.runs.offset(theirRun);
      const used = other.v[other.at + SECONDS_USED];
      const dense = used < 0;
      const end = dense ? other.granularity : used;
      for (let i = 0; i < end; i += dense ? 1 : 2) {
        const second = dense ? i : theirs[from + i];
        const estimate = dense ? theirs[from + i] : theirs[from + i + 1];
        if (estimate === 0) continue;
        const inSecond = this.addInSecond(second, estimate);
        if (inSecond > this.peak) this.peak = inSecond;
      }
    } else if (other.peak > this.peak) {
      this.peak = other.peak;
    }
    if (other.count > 0 && other.start >= this.start) this.rate = other.rate;
    if (other.lastAt >= this.lastAt && !Number.isNaN(other.last)) {
      this.last = other.last;
      this.lastAt = other.lastAt;
    }
  }

  /** Adds `weight` to the estimate of `second`; returns the second's new estimate. */
  private addInSecond(second: number, weight: number): number {
    const v = this.v;
    const o = this.at;
    const runs = this.values.runs;
    if (v[o + SECONDS] < 0) v[o + SECONDS] = runs.alloc(FIRST_PAIRS);
    const used = v[o + SECONDS_USED];
    let s = runs.f32(v[o + SECONDS]);
    let at = 2 * runs.offset(v[o + SECONDS]);
    if (used < 0) return (s[at + second] = estimate32(s[at + second] + weight));
    // requests mostly arrive in time order: the latest second is checked first
    for (let i = used - 2; i >= 0; i -= 2) {
      if (s[at + i] === second) return (s[at + i + 1] = estimate32(s[at + i + 1] + weight));
    }
    // Pairs cost two entries a second: past half the window's seconds one entry per second is cheaper.
    if (used < Math.max(2 * SPARSE_SECONDS, this.granularity)) {
      if (used === 2 * runs.length(v[o + SECONDS])) {
        v[o + SECONDS] = runs.resize(v[o + SECONDS], used / 2, used / 2 + 1);
        s = runs.f32(v[o + SECONDS]);
        at = 2 * runs.offset(v[o + SECONDS]);
      }
      s[at + used] = second;
      v[o + SECONDS_USED] = used + 2;
      return (s[at + used + 1] = estimate32(weight));
    }
    const denseRun = runs.alloc(Math.ceil(this.granularity / 2));
    const dense = runs.f32(denseRun);
    const d = 2 * runs.offset(denseRun);
    dense.fill(0, d, d + this.granularity);
    for (let i = 0; i < used; i += 2) dense[d + s[at + i]] = s[at + i + 1];
    runs.free(v[o + SECONDS]);
    v[o + SECONDS] = denseRun;
    v[o + SECONDS_USED] = -1;
    return (dense[d + second] = estimate32(dense[d + second] + weight));
  }

  /** The value at quantile q in [0, 1] of the window's sketch (see Sketches.quantile()). */
  quantile(q: number): number {
    return this.values.sketches.quantile(this.v, this.at + SKETCH, q);
  }

  /** Appends the stored form of the window's sketch to `out`. */
  writeSketch(out: ByteWriter): void {
    this.values.sketches.write(this.v, this.at + SKETCH, out);
  }

  /** The stored form. */
  toRow(target: string, dim: Dimension, key: string, final: boolean): WindowRow {
    return {
      target,
      granularity: this.granularity,
      dim,
      key,
      start: this.start,
      final,
      count: this.count,
      estCount: this.estCount,
      bytes: this.bytes,
      estBytes: this.estBytes,
      rows: this.rows,
      errors: this.errors,
      estErrors: this.estErrors,
      sum: this.sum,
      min: this.count > 0 ? this.min : Number.NaN,
      max: this.count > 0 ? this.max : Number.NaN,
      peak: this.peak,
      rate: this.rate,
      last: this.last,
      lastAt: this.lastAt,
      sketch: this.sketchBuffer(),
    };
  }

  /** The stored form of the window's sketch. */
  private sketchBuffer(): Buffer {
    const out = new ByteWriter(64);
    this.writeSketch(out);
    return out.toBuffer();
  }

  /**
   * Rebuilds a window from its stored form (per-second detail is not stored: the peak carries on),
   * in `values` when given. Throws RangeError when the row's sketch is malformed.
   */
  static fromRow(row: WindowRow, values?: WindowValues): Window {
    const w = new Window(row.start, row.granularity, values);
    w.count = row.count;
    w.estCount = row.estCount;
    w.bytes = row.bytes;
    w.estBytes = row.estBytes;
    w.rows = row.rows;
    w.errors = row.errors;
    w.estErrors = row.estErrors;
    w.sum = row.sum;
    w.min = Number.isNaN(row.min) ? Number.POSITIVE_INFINITY : row.min;
    w.max = Number.isNaN(row.max) ? Number.NEGATIVE_INFINITY : row.max;
    w.peak = row.peak;
    w.rate = row.rate;
    w.last = row.last;
    w.lastAt = row.lastAt;
    w.values.sketches.read(w.v, w.at + SKETCH, row.sketch);
    return w;
  }
}
