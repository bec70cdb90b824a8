/**
 * Per-partition utilisation forecasts for the shadowing policy, built for short horizons on short,
 * noisy windows. Two parts, combined step by step by taking the larger:
 *
 * - the forecasting engine's model (ETS over the last `fitWindows` windows), kept
 *   current with its O(1) `update` every window and re-estimated only on the engine's refit
 *   schedule, at most one partition per window — a fit costs milliseconds and runs on the same
 *   event loop as dispatch, an update costs microseconds;
 * - a damped local linear trend on the last `trendWindows` windows (least-squares slope, level at
 *   the fitted last point, step k adds slope × (φ + φ² + … + φᵏ)), which sees a ramp within a few
 *   windows where the engine's smoothed level lags behind it.
 *
 * The larger of the two is the conservative choice for the decisions it feeds: creating a shadow
 * early costs one replica, creating it late costs consumer lag.
 */
import { fitForecaster, shouldRefit, type FittedForecaster } from '../../forecast/index.js';

/** Options of a PartitionForecaster; every field has a default. */
export interface PartitionForecastOptions {
  /** Windows of measured history kept, default 120. */
  readonly history?: number;
  /** Windows of history the engine fits on (the last ones), default 60. */
  readonly fitWindows?: number;
  /** Windows the local trend is fitted on, default 6. */
  readonly trendWindows?: number;
  /** Damping factor φ of the trend (0 < φ ≤ 1), default 0.9. */
  readonly damping?: number;
  /** Re-estimate the engine's model after this many windows at the latest, default 60. */
  readonly refitEvery?: number;
}

/**
 * Damped local linear trend forecast of steps 1..h from the last `n` values of `ys` (fewer when
 * there are fewer); never negative. With one value it is flat.
 */
export function dampedTrend(ys: readonly number[], h: number, n = 6, phi = 0.9): number[] {
  const xs = ys.slice(-n);
  const m = xs.length;
  if (m === 0) return new Array<number>(h).fill(0);
  const meanX = (m - 1) / 2;
  const meanY = xs.reduce((s, y) => s + y, 0) / m;
  let sxy = 0;
  let sxx = 0;
  xs.forEach((y, i) => {
    sxy += (i - meanX) * (y - meanY);
    sxx += (i - meanX) ** 2;
  });
  const slope = sxx > 0 ? sxy / sxx : 0;
  const level = meanY + slope * (m - 1 - meanX);
  const out: number[] = [];
  let damp = 0;
  for (let k = 1; k <= h; k++) {
    damp += phi ** k;
    out.push(Math.max(0, level + slope * damp));
  }
  return out;
}

interface Series {
  readonly ys: number[];
  model?: FittedForecaster;
}

const MIN_FIT = 12;

/** Forecasts for a fixed set of partitions, fed one window at a time. */
export class PartitionForecaster {
  private readonly series: Series[];
  private readonly history: number;
  private readonly fitWindows: number;
  private readonly trendWindows: number;
  private readonly damping: number;
  private readonly refitEvery: number;
  /** Engine fits done so far (for cost reports). */
  fits = 0;

  constructor(partitions: number, options: PartitionForecastOptions = {}) {
    this.series = Array.from({ length: partitions }, () => ({ ys: [] }));
    this.fitWindows = options.fitWindows ?? 60;
    this.history = Math.max(options.history ?? 120, this.fitWindows);
    this.trendWindows = options.trendWindows ?? 6;
    this.damping = options.damping ?? 0.9;
    this.refitEvery = options.refitEvery ?? 60;
    if (!(this.damping > 0 && this.damping <= 1)) throw new RangeError('damping must be in (0, 1]');
    if (!Number.isInteger(this.trendWindows) || this.trendWindows < 2) throw new RangeError('trendWindows must be an integer of at least 2');
  }

  /** Records one window's measured utilisation per partition (index = partition) without modelling it. */
  record(utilisations: readonly number[]): void {
    utilisations.forEach((u, p) => {
      const s = this.series[p];
      s.ys.push(u);
      if (s.ys.length > this.history) s.ys.shift();
    });
  }

  /** Records one window (as `record`) and brings the models up to date. */
  observe(utilisations: readonly number[]): void {
    this.record(utilisations);
    utilisations.forEach((u, p) => this.series[p].model?.update(u));
    // At most one (re)fit per window: the partition that has waited longest for one.
    let due: Series | undefined;
    let dueAge = -1;
    for (const s of this.series) {
      if (s.ys.length < MIN_FIT) continue;
      const state = s.model?.refitState();
      const age = state ? state.pointsSinceFit : Infinity;
      if ((!state || shouldRefit(state, { every: this.refitEvery, minPoints: MIN_FIT })) && age > dueAge) {
        due = s;
        dueAge = age;
      }
    }
    if (due) {
      due.model = fitForecaster(due.ys.slice(-this.fitWindows), { seasons: [], method: 'ets', horizon: 8 });
      this.fits++;
    }
  }

  /** Measured utilisation history of a partition, oldest first. */
  measured(partition: number): readonly number[] {
    return this.series[partition].ys;
  }

  /** The engine's mean forecast of steps 1..h (the last value repeated before its first fit). */
  engine(partition: number, h: number): number[] {
    const s = this.series[partition];
    if (!s.model) return new Array<number>(h).fill(s.ys.at(-1) ?? 0);
    return s.model.predict(h, [80]).mean.map((x) => Math.max(0, x));
  }

  /**
   * The combined forecast of steps 1..h: per step the larger of the engine's and the local
   * trend's. The trend joins once `trendWindows` windows are known (a slope from two or three
   * windows is mostly noise).
   */
  forecast(partition: number, h: number): number[] {
    const ys = this.series[partition].ys;
    const engine = this.engine(partition, h);
    if (ys.length < this.trendWindows) return engine;
    const trend = dampedTrend(ys, h, this.trendWindows, this.damping);
    return engine.map((e, k) => Math.max(e, trend[k]));
  }
}
