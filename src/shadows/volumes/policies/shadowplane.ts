/**
 * Shadowplane's predictive placement policy: ARC (arc.ts) for what stays on the fast tier, plus two
 * predictors for what is copied up before it is requested, each counted under its own reason:
 * - `RunPredictor` (readahead): an I/O that continues a recent run copies the run's continuation
 *   up now, two of the run's largest I/Os ahead (less on small tiers).
 * - `ForecastPredictor` (forecast, forecast-predictor.ts): per-extent heat series forecast with the
 *   forecasting engine; promotes extents forecast to turn hot, demotes extents forecast to cool.
 * Only the past is used. Every missed block is promoted as in ARC.
 */
import { ArcPolicy, type Predictor } from './arc.js';
import { ForecastPredictor, type ForecastOptions } from './forecast-predictor.js';
import type { FastTier, IoRequest } from './policy.js';

/** Tuning of the run predictor. */
export interface RunOptions {
  /** The run's largest I/O times this is copied ahead of it (0 turns run prediction off; the forecast predictor still acts). */
  readonly depth: number;
  /** Runs remembered at once (least recently continued dropped first). */
  readonly runWindow: number;
  /** Largest look-ahead in blocks; further capped at 1/64 of the tier, so runs cannot flush it. */
  readonly maxAhead: number;
}

/** Defaults measured on the OLTP and CloudPhysics traces (docs/benchmarks.md, volumes). */
export const RUN_DEFAULTS: RunOptions = { depth: 2, runWindow: 64, maxAhead: 256 };

interface Run {
  /** First block of the run's last I/O. */
  last: number;
  /** Block after the run's last I/O. */
  next: number;
  /** Blocks up to here (exclusive) were copied ahead for this run. */
  frontier: number;
  /** Largest I/O of the run, in blocks. */
  largest: number;
}

/**
 * Copies up the continuation of an I/O that continues a recent run: an I/O that starts after the
 * start of a remembered run's last I/O and at most at the end of what was copied ahead for it
 * (overlapping appends rewrite the run's last partial block). It looks ahead by the run's largest
 * I/O times `depth` (at least copy lag + 1), capped at `maxAhead` and 1/64 of the tier but never
 * below the current I/O times (copy lag + 1), so copies land in time; only blocks beyond what was already copied for the run are copied. No
 * window growth beyond that: on OLTP, doubling the look-ahead on every continuation cost 3.2 points
 * at 1,000 blocks for 22 % more copies.
 */
export class RunPredictor implements Predictor {
  private readonly runs = new Map<number, Run>();
  private readonly depth: number;
  /** I/Os that must be covered for a copy to land in time (copy lag + 1). */
  private readonly inTime: number;
  private readonly maxAhead: number;

  constructor(
    copyLag: number,
    capacity: number,
    opts: Partial<RunOptions> = {},
    private readonly o: RunOptions = { ...RUN_DEFAULTS, ...opts },
  ) {
    if (!Number.isInteger(o.depth) || o.depth < 0) throw new RangeError('depth must be an integer >= 0');
    if (!Number.isInteger(o.runWindow) || o.runWindow < 1) throw new RangeError('runWindow must be an integer >= 1');
    if (!Number.isInteger(o.maxAhead) || o.maxAhead < 1) throw new RangeError('maxAhead must be an integer >= 1');
    this.depth = o.depth === 0 ? 0 : Math.max(o.depth, copyLag + 1);
    this.inTime = copyLag + 1;
    this.maxAhead = Math.max(1, Math.min(o.maxAhead, Math.floor(capacity / 64)));
  }

  /** The run this I/O continues (removed from the table), if any. */
  private take(start: number): Run | undefined {
    let run = this.runs.get(start);
    if (run === undefined) {
      for (const r of this.runs.values()) {
        if (start > r.last && start <= r.frontier) {
          run = r;
          break;
        }
      }
    }
    if (run !== undefined) this.runs.delete(run.next);
    return run;
  }

  after(io: IoRequest, arc: ArcPolicy): void {
    const end = io.start + io.count;
    let run = this.take(io.start);
    if (run === undefined || this.depth === 0) {
      run = { last: io.start, next: end, frontier: end, largest: io.count };
    } else {
      run.largest = Math.max(run.largest, io.count);
      const target = end + Math.max(this.inTime * io.count, Math.min(this.maxAhead, this.depth * run.largest));
      for (let b = Math.max(end, run.frontier); b < target; b++) arc.prefetch(b, 'readahead');
      run.frontier = Math.max(run.frontier, target);
      run.last = io.start;
      run.next = end;
    }
    this.runs.delete(end);
    this.runs.set(end, run);
    if (this.runs.size > this.o.runWindow) this.runs.delete(this.runs.keys().next().value as number);
  }
}

/**
 * Options of the shadowplane policy; `forecast: null` leaves the run predictor alone, and with run
 * `depth: 0` as well the policy places exactly as ARC.
 */
export interface ShadowplaneOptions {
  readonly run?: Partial<RunOptions>;
  readonly forecast?: Partial<ForecastOptions> | null;
}

/** ARC + run prediction + extent heat forecast. */
export function shadowplanePolicy(tier: FastTier, opts: ShadowplaneOptions = {}): ArcPolicy {
  const predictors: Predictor[] = [new RunPredictor(tier.copyLag, tier.capacity, opts.run)];
  if (opts.forecast !== null) predictors.push(new ForecastPredictor(tier.capacity, opts.forecast));
  return new ArcPolicy(tier, predictors, opts.forecast === null ? 'shadowplane-noforecast' : 'shadowplane');
}
