/**
 * The forecast part of the shadowplane policy: extent heat is forecast with the forecasting engine
 * (src/forecast) and data is moved before it is needed.
 *
 * The volume is cut into extents of `extentBlocks` blocks; an extent's heat in a time bucket is the
 * number of I/Os that touched it. At every bucket boundary the candidates are the extents hottest
 * in the last bucket and those that were hot one season ago at the bucket the forecast aims at
 * (one day, one week ago; that is how a periodic extent comes back). Each candidate's heat series
 * is fitted with `fitForecaster` (seasons given in buckets; the engine ignores a season with fewer
 * than two cycles of history, and its models carry trends) and forecast `leadBuckets` ahead. A
 * fitted model is kept per extent and fed each new bucket in O(1) (`update`); it is refitted when
 * the history has grown by half since its fit, or earlier when the engine's refit schedule sees
 * its errors drift (`shouldRefit`):
 * - an extent whose peak forecast heat reaches `minHeat` and ranks within what the tier can hold
 *   is promoted: the blocks of it that were ever requested are copied up (`forecast` copies), in
 *   order of forecast heat, until this bucket's copy budget is spent;
 * - an extent hot in the last bucket whose forecast is below `coolHeat` even at the upper end of
 *   its 80 % interval is demoted: its resident blocks become ARC's first eviction candidates (no
 *   copy). Demoting on the mean forecast cost 7 points on CloudPhysics at 5,000 blocks: minute-scale
 *   heat is noisy, and ARC's recency already knows what cools.
 * Only the past is used: the series end at the bucket that just closed.
 */
import { fitForecaster, shouldRefit, type FittedForecaster, type ForecastMethod } from '../../../forecast/index.js';
import type { ArcPolicy, Predictor } from './arc.js';
import type { IoRequest } from './policy.js';

/** Tuning of the forecast predictor. */
export interface ForecastOptions {
  /** Blocks per extent (a power of two keeps extents aligned). */
  readonly extentBlocks: number;
  /** Length of a heat bucket in the trace's time unit (seconds; I/Os when the trace has no clock). */
  readonly bucket: number;
  /** How far ahead to look, in buckets: the copy lead time. */
  readonly leadBuckets: number;
  /** Season lengths in the time unit (daily, weekly); [] when the clock is not a clock. */
  readonly seasons: readonly number[];
  /** Buckets of history kept and fitted. */
  readonly historyBuckets: number;
  /** Extents forecast per bucket boundary, from each of the two candidate sources. */
  readonly candidates: number;
  /** Forecast copies allowed per bucket, in blocks (default: an eighth of the tier). */
  readonly budgetBlocks?: number;
  /** Forecast heat (I/Os per bucket) from which an extent counts as hot. */
  readonly minHeat: number;
  /** Forecast heat (upper end of the 80 % interval) below which a recently hot extent counts as cooling. */
  readonly coolHeat: number;
  /** The engine's model (`auto`: its robust combination). */
  readonly method: ForecastMethod;
}

/** Defaults: 64-block extents, 5-minute buckets, a day and a week of seasons, two days of history. */
export const FORECAST_DEFAULTS: ForecastOptions = {
  extentBlocks: 64,
  bucket: 300,
  leadBuckets: 1,
  seasons: [86_400, 604_800],
  historyBuckets: 576,
  candidates: 32,
  minHeat: 2,
  coolHeat: 0.5,
  method: 'auto',
};

interface Extent {
  /** Offsets (within the extent) ever requested, as a bitmap. */
  readonly touched: Uint32Array;
}

/** The forecast predictor; see the module comment. */
export class ForecastPredictor implements Predictor {
  private readonly opts: ForecastOptions;
  private readonly budget: number;
  private readonly seasonBuckets: number[];
  /** Heat per extent in each of the last `historyBuckets` buckets, oldest first. */
  private readonly history: Map<number, number>[] = [];
  private current = new Map<number, number>();
  private readonly extents = new Map<number, Extent>();
  private bucketIndex: number | undefined;
  /** Buckets closed so far: history[k] is bucket closed - history.length + k. */
  private closed = 0;
  /** Fitted model per extent, and the buckets it has absorbed (most recently used last). */
  private readonly models = new Map<number, { f: FittedForecaster; upTo: number }>();
  /** Forecasts made and extents promoted / demoted (for reports and tests). */
  readonly stats = { fits: 0, promotedExtents: 0, demotedExtents: 0 };

  constructor(
    private readonly capacity: number,
    opts: Partial<ForecastOptions> = {},
  ) {
    const o = { ...FORECAST_DEFAULTS, ...opts };
    if (!Number.isInteger(o.extentBlocks) || o.extentBlocks < 1) throw new RangeError('extentBlocks must be an integer >= 1');
    if (!(o.bucket > 0)) throw new RangeError('bucket must be positive');
    if (!Number.isInteger(o.leadBuckets) || o.leadBuckets < 1) throw new RangeError('leadBuckets must be an integer >= 1');
    if (!Number.isInteger(o.historyBuckets) || o.historyBuckets < 4) throw new RangeError('historyBuckets must be an integer >= 4');
    this.opts = o;
    this.budget = o.budgetBlocks ?? Math.max(1, Math.floor(capacity / 8));
    this.seasonBuckets = [...new Set(o.seasons.map((s) => Math.round(s / o.bucket)))].filter((m) => m > 1);
  }

  after(io: IoRequest, arc: ArcPolicy): void {
    const b = Math.floor(io.time / this.opts.bucket);
    if (this.bucketIndex === undefined) this.bucketIndex = b;
    while (this.bucketIndex < b) this.closeBucket(arc, b);
    const e = this.opts.extentBlocks;
    const first = Math.floor(io.start / e);
    const last = Math.floor((io.start + io.count - 1) / e);
    for (let x = first; x <= last; x++) {
      this.current.set(x, (this.current.get(x) ?? 0) + 1);
      let ext = this.extents.get(x);
      if (ext === undefined) {
        ext = { touched: new Uint32Array(Math.ceil(e / 32)) };
        this.extents.set(x, ext);
      }
      const lo = Math.max(io.start, x * e) - x * e;
      const hi = Math.min(io.start + io.count, (x + 1) * e) - x * e;
      for (let k = lo; k < hi; k++) ext.touched[k >> 5] |= 1 << (k & 31);
    }
  }

  /** Closes the current bucket (and any empty ones up to `upTo`); forecasts on the last one. */
  private closeBucket(arc: ArcPolicy, upTo: number): void {
    this.history.push(this.current);
    this.closed++;
    this.current = new Map();
    if (this.history.length > this.opts.historyBuckets) this.history.shift();
    (this.bucketIndex as number)++;
    // Gaps of empty buckets: record them without forecasting on each.
    if ((this.bucketIndex as number) < upTo) return;
    this.forecastAndAct(arc);
  }

  private topOf(heat: Map<number, number> | undefined, into: Set<number>): void {
    if (heat === undefined) return;
    const top = [...heat.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0]).slice(0, this.opts.candidates);
    for (const [x] of top) into.add(x);
  }

  private forecastAndAct(arc: ArcPolicy): void {
    const h = this.history;
    const lead = this.opts.leadBuckets;
    const last = h[h.length - 1];
    const candidates = new Set<number>();
    this.topOf(last, candidates);
    // What was hot one season before the bucket the forecast aims at.
    for (const m of this.seasonBuckets) this.topOf(h[h.length - 1 - m + lead], candidates);
    const forecasts: { x: number; peak: number; upper: number }[] = [];
    for (const x of candidates) {
      const f = this.model(x);
      if (f === undefined) {
        const heat = last.get(x) ?? 0;
        forecasts.push({ x, peak: heat, upper: Infinity });
        continue;
      }
      const fc = f.predict(lead, [80]);
      forecasts.push({ x, peak: Math.max(...fc.mean), upper: Math.max(...fc.intervals[0].hi) });
    }
    forecasts.sort((a, b) => b.peak - a.peak || a.x - b.x);
    const e = this.opts.extentBlocks;
    const fits = Math.max(1, Math.floor(this.capacity / e));
    let budget = this.budget;
    for (let i = 0; i < forecasts.length; i++) {
      const { x, peak, upper } = forecasts[i];
      if (upper < this.opts.coolHeat && last.has(x)) {
        this.stats.demotedExtents++;
        this.forEachTouched(x, (block) => arc.cool(block));
        continue;
      }
      if (i >= fits || peak < this.opts.minHeat || budget <= 0) continue;
      let copied = 0;
      this.forEachTouched(x, (block) => {
        if (budget > 0 && arc.prefetch(block, 'forecast')) {
          budget--;
          copied++;
        }
      });
      if (copied > 0) this.stats.promotedExtents++;
    }
  }

  /** The extent's model brought up to the last closed bucket (undefined while history is short). */
  private model(x: number): FittedForecaster | undefined {
    const h = this.history;
    if (h.length < 4) return undefined;
    const first = this.closed - h.length;
    let m = this.models.get(x);
    this.models.delete(x);
    if (m !== undefined && m.upTo >= first) {
      for (let b = m.upTo; b < this.closed; b++) m.f.update(h[b - first].get(x) ?? 0);
      m.upTo = this.closed;
      const state = m.f.refitState();
      if (shouldRefit(state, { every: Math.max(8, Math.ceil(state.fittedOn / 2)), minPoints: 4 })) m = undefined;
    } else m = undefined;
    if (m === undefined) {
      const series = h.map((bucket) => bucket.get(x) ?? 0);
      const f = fitForecaster(series, { seasons: this.seasonBuckets, horizon: this.opts.leadBuckets, nonNegative: true, method: this.opts.method });
      this.stats.fits++;
      m = { f, upTo: this.closed };
    }
    this.models.set(x, m);
    // Models of extents that stopped being candidates are dropped, oldest use first.
    if (this.models.size > 8 * this.opts.candidates) this.models.delete(this.models.keys().next().value as number);
    return m.f;
  }

  private forEachTouched(x: number, fn: (block: number) => void): void {
    const ext = this.extents.get(x);
    if (ext === undefined) return;
    const e = this.opts.extentBlocks;
    for (let k = 0; k < e; k++) if (ext.touched[k >> 5] & (1 << (k & 31))) fn(x * e + k);
  }
}
