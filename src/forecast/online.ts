/**
 * A cheap online forecaster for the per-minute scaling loop: level (EWMA) plus the seasonal
 * shape of the previous seasons, with prediction intervals from the empirical distribution of its
 * own recent errors per horizon (split-conformal style). It updates in O(horizon * window) per
 * step, fast enough to run every minute of a 40k-minute replay, where refitting the engine's batch
 * models (engine.ts) every minute would not be. Pure: no clock, no I/O.
 */
import type { Forecast } from '../model/forecast.js';

/** Tunables of the online forecaster. */
export interface OnlineForecasterConfig {
  /** Season length in steps (1440 for daily at 1-minute steps); 0 disables the seasonal term. */
  readonly season: number;
  /** How many past seasons are averaged for the seasonal shape. */
  readonly seasonsBack: number;
  /** Half-width in steps of the moving average that smooths the seasonal shape. */
  readonly seasonSmoothing: number;
  /** EWMA weight of the newest observation in the level (0..1]. */
  readonly levelAlpha: number;
  /** Recent errors kept per horizon step for the intervals. */
  readonly errorWindow: number;
  /** Fewest errors per horizon before forecasts are given (else `forecast()` returns null). */
  readonly minErrors: number;
  /** Steps ahead forecast (>= 1). */
  readonly horizon: number;
  /** Steps whose errors are tracked (1..horizon); intervals of longer steps reuse this step's errors. */
  readonly errorHorizon: number;
  /** Central interval levels in percent (0 < level < 100). */
  readonly levels: readonly number[];
  /**
   * How errors are normalised before their quantiles are taken: 'absolute' (as is), 'sqrt'
   * (divided by sqrt(max(1, forecast)), count-like noise), 'relative' (divided by max(1, forecast)).
   */
  readonly errorScale: 'absolute' | 'sqrt' | 'relative';
}

/** Defaults used by the replay benchmark. */
export const DEFAULT_ONLINE_FORECASTER: Omit<OnlineForecasterConfig, 'horizon' | 'errorHorizon'> = {
  season: 1440,
  seasonsBack: 3,
  seasonSmoothing: 5,
  levelAlpha: 0.5,
  errorWindow: 1440,
  minErrors: 60,
  levels: [80, 90, 95, 98],
  errorScale: 'absolute',
};

/** Errors of one horizon step: a FIFO and the same values kept sorted. */
class ErrorWindow {
  private readonly fifo: number[] = [];
  private head = 0;
  readonly sorted: number[] = [];

  constructor(private readonly size: number) {}

  get count(): number {
    return this.sorted.length;
  }

  push(e: number): void {
    this.fifo.push(e);
    this.sorted.splice(lowerBound(this.sorted, e), 0, e);
    if (this.fifo.length - this.head > this.size) {
      const old = this.fifo[this.head++];
      this.sorted.splice(lowerBound(this.sorted, old), 1);
      if (this.head > 4 * this.size) {
        this.fifo.splice(0, this.head);
        this.head = 0;
      }
    }
  }

  quantile(q: number): number {
    const s = this.sorted;
    const k = (s.length - 1) * q;
    const f = Math.floor(k);
    const c = Math.min(f + 1, s.length - 1);
    return s[f] + (s[c] - s[f]) * (k - f);
  }
}

function lowerBound(xs: readonly number[], x: number): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (xs[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * A source of point forecasts that the conformal wrapper scores: `observe` takes the next value,
 * then `predict(h)` gives steps 1..h after it. The default is the level + seasonal-shape predictor
 * below; `src/forecast/engine-point.ts` adapts the forecasting engine.
 */
export interface PointPredictor {
  observe(x: number): void;
  predict(horizon: number): number[];
  /** Model name for Forecast.model. */
  readonly name: string;
}

/**
 * The forecaster. Feed every observation in order with `observe`; `forecast()` then describes
 * steps 1..horizon after the last observation, with intervals from the empirical quantiles of the
 * point predictor's own recent errors. `point` replaces the built-in level + seasonal-shape
 * predictor. Throws RangeError on an invalid config or a non-finite observation.
 */
export class OnlineForecaster {
  private readonly history: number[] = [];
  /** prefix[i]: sum of history[0..i), so a smoothed seasonal mean costs O(seasonsBack). */
  private readonly prefix: number[] = [0];
  /** The point forecast for steps 1..horizon made at the last observation. */
  private latest: number[] = [];
  private level = NaN;
  private readonly point: PointPredictor | undefined;
  /** predictions[h-1][i]: the point forecast made at step i for step i + h (h <= errorHorizon). */
  private readonly predictions: number[][];
  private readonly errors: ErrorWindow[];

  constructor(
    private readonly config: OnlineForecasterConfig,
    point?: PointPredictor,
  ) {
    this.point = point;
    const invalid = !(config.horizon >= 1) || !(config.errorHorizon >= 1 && config.errorHorizon <= config.horizon)
      || !(config.levelAlpha > 0 && config.levelAlpha <= 1) || config.errorWindow < 1 || config.season < 0;
    if (invalid) {
      throw new RangeError('invalid OnlineForecasterConfig');
    }
    if (config.levels.some((l) => !(l > 0 && l < 100))) throw new RangeError('forecast levels must be in (0, 100)');
    this.predictions = Array.from({ length: config.errorHorizon }, () => []);
    this.errors = Array.from({ length: config.errorHorizon }, () => new ErrorWindow(config.errorWindow));
  }

  /** Observations so far. */
  get length(): number {
    return this.history.length;
  }

  /** Adds the next observation: scores the forecasts that targeted it, then updates the level. */
  observe(x: number): void {
    if (!Number.isFinite(x)) throw new RangeError(`observation must be finite (got ${x})`);
    const n = this.history.length;
    for (let h = 1; h <= this.config.errorHorizon; h++) {
      const made = n - h;
      if (made >= 0) {
        const p = this.predictions[h - 1][made];
        this.errors[h - 1].push((x - p) / this.scale(p));
      }
    }
    this.history.push(x);
    this.prefix.push(this.prefix[n] + x);
    const last = n;
    if (this.point) {
      this.point.observe(x);
      this.latest = this.point.predict(this.config.horizon);
    } else {
      this.level = Number.isNaN(this.level) ? x : this.level + this.config.levelAlpha * (x - this.level);
      const base = this.seasonal(last);
      this.latest = new Array<number>(this.config.horizon);
      for (let h = 1; h <= this.config.horizon; h++) {
        const sh = this.seasonal(last + h);
        this.latest[h - 1] = this.level + (sh !== null && base !== null ? sh - base : 0);
      }
    }
    for (let h = 1; h <= this.config.errorHorizon; h++) this.predictions[h - 1][last] = this.latest[h - 1];
  }

  private scale(prediction: number): number {
    const s = this.config.errorScale;
    return s === 'absolute' ? 1 : s === 'sqrt' ? Math.sqrt(Math.max(1, prediction)) : Math.max(1, prediction);
  }

  /** The smoothed mean of past seasons around step x (only steps already observed), or null. */
  private seasonal(x: number): number | null {
    const { season, seasonsBack, seasonSmoothing: w } = this.config;
    if (season === 0) return null;
    const n = this.history.length;
    let sum = 0;
    let count = 0;
    for (let k = 1; k <= seasonsBack; k++) {
      const c = x - k * season;
      if (c - w < 0) break;
      const end = Math.min(c + w + 1, n);
      sum += this.prefix[end] - this.prefix[c - w];
      count += end - (c - w);
    }
    return count > 0 ? sum / count : null;
  }

  /**
   * The forecast for steps 1..horizon with the configured interval levels, or null while fewer than
   * `minErrors` errors are known for the longest horizon (thin data is a condition, not a guess).
   */
  forecast(): Forecast | null {
    const last = this.history.length - 1;
    const H = this.config.horizon;
    const E = this.config.errorHorizon;
    if (last < 0 || this.errors[E - 1].count < this.config.minErrors) return null;
    const mean: number[] = [];
    for (let h = 1; h <= H; h++) mean.push(this.latest[h - 1]);
    const intervals = this.config.levels.map((level) => {
      const qLo = (1 - level / 100) / 2;
      const qHi = 1 - qLo;
      return {
        level,
        lo: mean.map((m, i) => m + this.scale(m) * this.errors[Math.min(i, E - 1)].quantile(qLo)),
        hi: mean.map((m, i) => m + this.scale(m) * this.errors[Math.min(i, E - 1)].quantile(qHi)),
      };
    });
    return {
      mean,
      intervals,
      model: this.point ? `conformal(${this.point.name})` : `online(ewma:${this.config.levelAlpha}${this.config.season ? `,season:${this.config.season}x${this.config.seasonsBack}` : ''},conformal:${this.config.errorScale}x${this.config.errorWindow})`,
      notes: [],
    };
  }
}
