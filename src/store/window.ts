/**
 * One rollup cell: the aggregate of everything one target saw in one dimension key over one time
 * window. Aggregates are associative (`merge`), so fine windows roll into coarse ones exactly.
 * Every sum saturates at ±MAX_MAGNITUDE (1e300): a total that reaches it stays there instead of
 * overflowing to ±Infinity, and +Infinity plus -Infinity (NaN) can never reach the store.
 */
import { saturatingAdd as add } from '../core/schema.js';
import { QuantileSketch } from './sketch.js';

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

// A window's numbers, by their place among its VALUES float64s.
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
/** Float64s per window. */
const VALUES = 15;
/** Windows per chunk of a WindowValues. */
const CHUNK_WINDOWS = 4096;

/**
 * Where a rollup engine's windows keep their numbers: VALUES float64s per window in chunks of
 * typed arrays, each window's slot reused once it is released. As fields of the Window object
 * itself, a number that is not a small integer (a start in ms, a latency sum, min, max, NaN) is a
 * heap object of its own, which costs a fleet's half a million windows millions of objects for
 * the garbage collector to mark; in a chunk it is 8 bytes.
 */
export class WindowValues {
  private readonly chunks: Float64Array[] = [];
  private readonly free: number[] = [];
  private used = 0;

  /** Slots in use. */
  get size(): number {
    return this.used - this.free.length;
  }

  /** A free slot (chunk index x CHUNK_WINDOWS + index in the chunk). */
  take(): number {
    const slot = this.free.pop();
    if (slot !== undefined) return slot;
    if (this.used === this.chunks.length * CHUNK_WINDOWS) this.chunks.push(new Float64Array(CHUNK_WINDOWS * VALUES));
    return this.used++;
  }

  /** The chunk holding `slot`. */
  chunk(slot: number): Float64Array {
    return this.chunks[Math.floor(slot / CHUNK_WINDOWS)];
  }

  /** Gives a slot back: its window must not be used again. */
  release(slot: number): void {
    this.free.push(slot);
  }
}

/** An open, in-memory window. */
export class Window {
  /** The array holding this window's numbers, from `at` on (VALUES of them). */
  private readonly v: Float64Array;
  private readonly at: number;
  /** The window's slot in `values`, or -1 when it has an array of its own. */
  private readonly slot: number;
  sketch = new QuantileSketch();
  /**
   * Estimated requests per second of the window, for the peak; absent for merged or metric windows.
   * Sparse while the window has seen few seconds (flat [second, estimate] pairs, perSecondUsed
   * entries of them), then one plain array entry per second (perSecondUsed is then -1): most of a
   * fleet's windows (a column, a user) see requests in a few of their seconds, and a typed array
   * per window costs a fleet hundreds of megabytes.
   */
  private perSecond: number[] | undefined;
  private perSecondUsed = 0;

  /** A window of `granularity` seconds from `start` (ms); its numbers live in `values` when given. */
  constructor(
    start: number,
    readonly granularity: number,
    private readonly values?: WindowValues,
  ) {
    if (values) {
      this.slot = values.take();
      this.v = values.chunk(this.slot);
      this.at = (this.slot % CHUNK_WINDOWS) * VALUES;
    } else {
      this.slot = -1;
      this.v = new Float64Array(VALUES);
      this.at = 0;
    }
    const v = this.v;
    const at = this.at;
    v.fill(0, at, at + VALUES);
    v[at + MIN] = Number.POSITIVE_INFINITY;
    v[at + MAX] = Number.NEGATIVE_INFINITY;
    v[at + RATE] = 1;
    v[at + LAST] = Number.NaN;
    v[at + START] = start;
  }

  /** Gives the window's numbers back to its WindowValues: the window must not be used again. */
  release(): void {
    if (this.slot >= 0) this.values!.release(this.slot);
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
   * Adds one sampled request. `weight` is 1 / the sampling rate; `sketchIndex` is the latency's
   * precomputed sketch bucket (see sketchIndex()), shared across the dimensions one event touches.
   */
  addRequest(at: number, latencyMs: number, sketchIndex: number, bytes: number, rows: number, failed: boolean, weight: number, rate: number): void {
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
    this.sketch.addAtIndex(sketchIndex);
    v[o + RATE] = rate;
    // `| 0` keeps the second a small integer: a double would make the array's elements 8 bytes wide.
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
    this.sketch.add(value);
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
    this.sketch.merge(other.sketch);
    if (other.start === this.start && other.granularity === this.granularity && other.perSecond) {
      // Two partial aggregates of the same window (e.g. per-key windows folded into `other`):
      // seconds line up, so the peak is recomputed from the summed seconds.
      const theirs = other.perSecond;
      const dense = other.perSecondUsed < 0;
      const end = dense ? theirs.length : other.perSecondUsed;
      for (let i = 0; i < end; i += dense ? 1 : 2) {
        const second = dense ? i : theirs[i];
        const estimate = dense ? theirs[i] : theirs[i + 1];
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
    let seconds = this.perSecond;
    if (seconds === undefined) seconds = this.perSecond = new Array<number>(4);
    const used = this.perSecondUsed;
    if (used < 0) return (seconds[second] = add(seconds[second], weight));
    // requests mostly arrive in time order: the latest second is checked first
    for (let i = used - 2; i >= 0; i -= 2) {
      if (seconds[i] === second) return (seconds[i + 1] = add(seconds[i + 1], weight));
    }
    // Pairs cost two entries a second: past half the window's seconds one entry per second is cheaper.
    if (used < Math.max(2 * SPARSE_SECONDS, this.granularity)) {
      if (used === seconds.length) {
        // grown by hand, a few pairs at a time: push would reserve 16 entries more each time
        const grown = new Array<number>(used + 2 * Math.max(2, used >> 2));
        for (let i = 0; i < used; i++) grown[i] = seconds[i];
        seconds = this.perSecond = grown;
      }
      seconds[used] = second;
      seconds[used + 1] = weight;
      this.perSecondUsed = used + 2;
      return weight;
    }
    const dense = new Array<number>(this.granularity).fill(0);
    for (let i = 0; i < used; i += 2) dense[seconds[i]] = seconds[i + 1];
    this.perSecond = dense;
    this.perSecondUsed = -1;
    return (dense[second] = add(dense[second], weight));
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
      sketch: this.sketch.toBuffer(),
    };
  }

  /** Rebuilds a window from its stored form (per-second detail is not stored: the peak carries on). */
  static fromRow(row: WindowRow): Window {
    const w = new Window(row.start, row.granularity);
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
    w.sketch = QuantileSketch.fromBuffer(row.sketch);
    return w;
  }
}
