/**
 * The latency side of the failover detector: it learns the live device's own service-time baseline
 * and fires only when many recent I/Os are several times slower than that baseline and slower than
 * an absolute floor. A single stall of a busy host (which slows every I/O in flight at once) or a
 * host that is uniformly slower does not fire it; a device that degrades by a large factor does.
 *
 * Rule (docs/volumes.md, "Failover"): an I/O is slow when its time exceeds
 * `max(floorMs, factor × baseline)`, the baseline being the `quantile` of the last `baselineSize`
 * non-slow I/O times. Failover fires when at least `minSlow` of the last `window` I/Os were slow.
 * Nothing fires until `minBaseline` samples have been learned. Slow samples do not enter the
 * baseline, so a failing device cannot teach the detector that slowness is normal; a host that
 * slows down gradually moves the baseline with it.
 */
import { quantile } from '../../core/quantile.js';

/** Tuning of the latency trigger; the defaults are documented in docs/volumes.md. */
export interface LatencyTriggerOptions {
  /** Multiple of the baseline above which an I/O is slow. */
  readonly factor: number;
  /** Quantile of recent non-slow I/O times used as the baseline (0..1). */
  readonly quantile: number;
  /** How many recent non-slow I/O times the baseline is taken over. */
  readonly baselineSize: number;
  /** Samples needed before the trigger can fire. */
  readonly minBaseline: number;
  /** How many recent I/Os are considered when counting slow ones. */
  readonly window: number;
  /** Slow I/Os among the last `window` that make the trigger fire. */
  readonly minSlow: number;
}

/** Defaults: 8 of the last 16 I/Os above 4 × p90 of the last 256 (and above the floor). */
export const LATENCY_TRIGGER_DEFAULTS: LatencyTriggerOptions = { factor: 4, quantile: 0.9, baselineSize: 256, minBaseline: 32, window: 16, minSlow: 8 };

/** Baseline-relative latency trigger; feed it each successful live I/O time with `observe`. */
export class LatencyTrigger {
  private readonly opts: LatencyTriggerOptions;
  private readonly samples: number[] = [];
  private next = 0;
  private readonly recent: boolean[] = [];
  private baseline: number | null = null;

  /**
   * `floorMs`: no I/O at or below it counts as slow (Infinity turns the trigger off). Throws a
   * RangeError naming the option when `floorMs` is not positive or an option is out of range.
   */
  constructor(
    readonly floorMs: number,
    opts: Partial<LatencyTriggerOptions> = {},
  ) {
    this.opts = { ...LATENCY_TRIGGER_DEFAULTS, ...opts };
    const o = this.opts;
    if (!(floorMs > 0)) throw new RangeError('floorMs must be positive (Infinity turns the trigger off)');
    if (!(o.factor >= 1)) throw new RangeError('factor must be >= 1');
    if (!(o.quantile > 0 && o.quantile <= 1)) throw new RangeError('quantile must be in (0, 1]');
    for (const k of ['baselineSize', 'minBaseline', 'window', 'minSlow'] as const) {
      if (!Number.isInteger(o[k]) || o[k] < 1) throw new RangeError(`${k} must be a positive integer`);
    }
    if (o.minBaseline > o.baselineSize) throw new RangeError('minBaseline must be <= baselineSize');
    if (o.minSlow > o.window) throw new RangeError('minSlow must be <= window');
  }

  /** The learned baseline in ms (null while fewer than `minBaseline` samples were seen). */
  get baselineMs(): number | null {
    return this.baseline;
  }

  /** Time above which an I/O counts as slow now (Infinity while learning or when turned off). */
  get thresholdMs(): number {
    return this.baseline === null ? Infinity : Math.max(this.floorMs, this.opts.factor * this.baseline);
  }

  /**
   * Records one successful live I/O of `ms` milliseconds. Returns the failover reason when the
   * rule fires, else null.
   */
  observe(ms: number): string | null {
    const threshold = this.thresholdMs;
    const slow = ms > threshold;
    this.recent.push(slow);
    if (this.recent.length > this.opts.window) this.recent.shift();
    if (!slow) this.learn(ms);
    const count = this.recent.reduce((n, s) => n + (s ? 1 : 0), 0);
    if (count < this.opts.minSlow) return null;
    return (
      `live latency: ${count} of the last ${this.recent.length} I/Os above ${threshold.toFixed(1)} ms ` +
      `(${this.opts.factor} × p${Math.round(this.opts.quantile * 100)} baseline ${(this.baseline ?? 0).toFixed(2)} ms, floor ${this.floorMs} ms)`
    );
  }

  /** Forgets the recent slow I/Os (after fail-back) and keeps the learned baseline. */
  resetWindow(): void {
    this.recent.length = 0;
  }

  private learn(ms: number): void {
    if (this.samples.length < this.opts.baselineSize) this.samples.push(ms);
    else this.samples[this.next] = ms;
    this.next = (this.next + 1) % this.opts.baselineSize;
    if (this.samples.length < this.opts.minBaseline) return;
    this.baseline = quantile(this.samples, this.opts.quantile);
  }
}
