/**
 * Plain forecast types shared by the forecasting engine (src/forecast), the control loop and the
 * CLI. No imports, no behaviour.
 */

/** A central prediction interval at one coverage level, one bound per horizon step. */
export interface ForecastInterval {
  /** Nominal coverage in percent, e.g. 80 or 95. */
  readonly level: number;
  /** Lower bounds, `lo[h-1]` for step h. */
  readonly lo: number[];
  /** Upper bounds, `hi[h-1]` for step h. */
  readonly hi: number[];
}

/** A point forecast with intervals over steps 1..H after the last observed point. */
export interface Forecast {
  /** Point forecast per step (`mean[h-1]` for step h). */
  readonly mean: number[];
  /** One interval per requested level, in the order asked. */
  readonly intervals: ForecastInterval[];
  /** The model that produced it, e.g. `combo(ets:MAdM,theta,mstl:24+168)` or `naive (short history)`. */
  readonly model: string;
  /** Plain-language notes: fallbacks taken, seasons detected, points ignored. */
  readonly notes: string[];
}
