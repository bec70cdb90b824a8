/**
 * Public API of the forecasting engine. Pure and deterministic: no I/O, no clock.
 *
 *   const f = fitForecaster(history, { seasons: [24, 168] });
 *   const fc = f.predict(12, [80, 95]);   // mean, intervals, model, notes
 *   f.update(nextValue);                  // O(1); NaN marks a gap
 *   if (shouldRefit(f.refitState())) f = fitForecaster(moreHistory, ...);
 */
export type { Forecast, ForecastInterval } from '../model/forecast.js';
export type { FitOptions, FittedForecaster, ForecastMethod, RefitPolicy, RefitState } from './engine.js';
export { fitForecaster, shouldRefit, COMBINATION, DEFAULT_INTERVAL_SCALE } from './engine.js';
export { detectSeasons } from './prepare.js';
