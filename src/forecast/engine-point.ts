/**
 * The forecasting engine (engine.ts) as a point predictor for the per-minute scaling loop:
 * fitted on the history seen so far, refitted on the engine's own schedule (`shouldRefit`, at the
 * latest every `refitEvery` steps) and kept current in between with its O(1) `update()`. The
 * conformal wrapper (OnlineForecaster with this as its `point`) supplies the intervals from the
 * engine's own recent errors. Causal: it only ever sees what `observe` was given.
 */
import { fitForecaster, shouldRefit } from './index.js';
import type { FittedForecaster } from './index.js';
import type { PointPredictor } from './online.js';

/** Tunables of the engine adapter. */
export interface EnginePointConfig {
  /** Season lengths passed to fitForecaster (e.g. [1440] for daily at 1-minute steps). */
  readonly seasons: readonly number[];
  /** Refit at the latest after this many new points (the engine refits earlier on drift). */
  readonly refitEvery: number;
  /** Fewest points before the first fit; until then the last value is the forecast. */
  readonly minPoints: number;
  /** Only the last this-many points are given to a fit (bounds the fit's time). */
  readonly maxHistory: number;
}

/** Daily refit with 1-minute steps and a daily season. */
export const DEFAULT_ENGINE_POINT: EnginePointConfig = { seasons: [1440], refitEvery: 1440, minPoints: 60, maxHistory: 8 * 1440 };

/** A PointPredictor backed by fitForecaster/update/predict. Throws what fitForecaster throws on a bad config. */
export class EnginePoint implements PointPredictor {
  private readonly history: number[] = [];
  private fitted: FittedForecaster | null = null;

  constructor(private readonly config: EnginePointConfig = DEFAULT_ENGINE_POINT) {}

  get name(): string {
    return `engine(${this.fitted?.model ?? 'naive until fitted'}, refit ≤${this.config.refitEvery})`;
  }

  observe(x: number): void {
    this.history.push(x);
    const n = this.history.length;
    if (n < this.config.minPoints) return;
    if (this.fitted === null || shouldRefit(this.fitted.refitState(), { every: this.config.refitEvery })) {
      this.fitted = fitForecaster(this.history.slice(Math.max(0, n - this.config.maxHistory)), { seasons: [...this.config.seasons], horizon: 48 });
    } else {
      this.fitted.update(x);
    }
  }

  predict(horizon: number): number[] {
    if (this.fitted) return this.fitted.predict(horizon, []).mean;
    const last = this.history[this.history.length - 1] ?? 0;
    return new Array<number>(horizon).fill(last);
  }
}
