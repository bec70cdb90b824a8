/**
 * Shadowplane's predictive placement policy: ARC (arc.ts) for what stays on the fast tier, plus two
 * predictors for what is copied up before it is requested, each counted under its own reason:
 * - `RunPredictor` (readahead): an I/O that starts right after the end of one of the last
 *   `runWindow` I/Os continues an extent walk, so the next `lookahead` I/Os' worth of blocks after
 *   it are copied up now; `lookahead` is at least the tier's copy lag + 1, so copies land in time.
 * - `ForecastPredictor` (forecast, forecast-predictor.ts): per-extent heat series forecast with the
 *   forecasting engine; promotes extents forecast to turn hot, demotes extents forecast to cool.
 * Only the past is used. Every missed block is promoted as in ARC.
 */
import { ArcPolicy, type Predictor } from './arc.js';
import { ForecastPredictor, type ForecastOptions } from './forecast-predictor.js';
import type { FastTier, IoRequest } from './policy.js';

/** Tuning of the run predictor. */
export interface RunOptions {
  /** I/Os' worth of blocks copied ahead of a detected run (0 turns it off). */
  readonly depth: number;
  /** How many past I/Os the run detector remembers. */
  readonly runWindow: number;
}

/** Defaults measured on the OLTP and CloudPhysics traces (docs/benchmarks.md, volumes). */
export const RUN_DEFAULTS: RunOptions = { depth: 1, runWindow: 64 };

/** Copies up the continuation of an I/O that continues a recent one (see the module comment). */
export class RunPredictor implements Predictor {
  private readonly ring: Float64Array;
  /** End block (exclusive) of recent I/Os -> index of the latest I/O ending there. */
  private readonly recentEnds = new Map<number, number>();
  private readonly lookahead: number;

  constructor(copyLag: number, opts: Partial<RunOptions> = {}) {
    const o = { ...RUN_DEFAULTS, ...opts };
    if (!Number.isInteger(o.depth) || o.depth < 0) throw new RangeError('depth must be an integer >= 0');
    if (!Number.isInteger(o.runWindow) || o.runWindow < 1) throw new RangeError('runWindow must be an integer >= 1');
    this.lookahead = o.depth === 0 ? 0 : Math.max(o.depth, copyLag + 1);
    this.ring = new Float64Array(o.runWindow).fill(-1);
  }

  /** True when an I/O of the window ended where this one starts; then records this one's end. */
  private continuesRun(t: number, start: number, end: number): boolean {
    const prev = this.recentEnds.get(start);
    const slot = t % this.ring.length;
    const old = this.ring[slot];
    // Forget the I/O falling out of the window, unless another I/O ended there since.
    if (old >= 0 && this.recentEnds.get(old) === t - this.ring.length) this.recentEnds.delete(old);
    this.ring[slot] = end;
    this.recentEnds.set(end, t);
    return prev !== undefined && t - prev <= this.ring.length;
  }

  after(io: IoRequest, arc: ArcPolicy): void {
    const end = io.start + io.count;
    if (!this.continuesRun(io.t, io.start, end) || this.lookahead === 0) return;
    for (let b = end; b < end + this.lookahead * io.count; b++) arc.prefetch(b, 'readahead');
  }
}

/** Options of the shadowplane policy; `forecast: null` leaves the run predictor alone. */
export interface ShadowplaneOptions {
  readonly run?: Partial<RunOptions>;
  readonly forecast?: Partial<ForecastOptions> | null;
}

/** ARC + run prediction + extent heat forecast. */
export function shadowplanePolicy(tier: FastTier, opts: ShadowplaneOptions = {}): ArcPolicy {
  const predictors: Predictor[] = [new RunPredictor(tier.copyLag, opts.run)];
  if (opts.forecast !== null) predictors.push(new ForecastPredictor(tier.capacity, opts.forecast));
  return new ArcPolicy(tier, predictors, opts.forecast === null ? 'shadowplane-noforecast' : 'shadowplane');
}
