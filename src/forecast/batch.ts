/**
 * One batch of the `forecast` command's work, as a worker thread runs it (the default export is
 * piscina's task): fit each series and format its forecast as CSV rows
 * (`series_id,step,mean,lo<L>,hi<L>...`), or say why a series was not forecast.
 */
import { fitForecaster, type ForecastMethod } from './index.js';

/** Fewest finite values a series needs before it is forecast. */
export const MIN_SERIES_POINTS = 3;

/** One series, gaps as NaN. */
export interface SeriesIn {
  readonly id: string;
  readonly values: number[];
}

/** A batch of series and how to forecast them. */
export interface ForecastBatch {
  readonly series: SeriesIn[];
  readonly horizon: number;
  readonly seasons?: number[];
  readonly levels: number[];
  readonly method: ForecastMethod;
}

/** A series' CSV rows, or the reason it has none. */
export interface SeriesResult {
  readonly id: string;
  readonly rows?: string;
  readonly error?: string;
}

const fmt = (v: number): string => String(Number(v.toPrecision(10)));
const csvField = (s: string): string => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);

/** Forecasts one series of the batch. */
export function forecastSeries(s: SeriesIn, batch: Omit<ForecastBatch, 'series'>): SeriesResult {
  const finite = s.values.filter(Number.isFinite).length;
  if (finite < MIN_SERIES_POINTS) return { id: s.id, error: `only ${finite} finite value(s); at least ${MIN_SERIES_POINTS} are needed` };
  try {
    const fc = fitForecaster(s.values, { seasons: batch.seasons, horizon: batch.horizon, method: batch.method }).predict(batch.horizon, batch.levels);
    const id = csvField(s.id);
    let rows = '';
    for (let h = 0; h < batch.horizon; h++) {
      rows += `${id},${h + 1},${fmt(fc.mean[h])}`;
      for (const iv of fc.intervals) rows += `,${fmt(iv.lo[h])},${fmt(iv.hi[h])}`;
      rows += '\n';
    }
    return { id: s.id, rows };
  } catch (err) {
    return { id: s.id, error: (err as Error).message };
  }
}

/** Forecasts every series of the batch (the worker's task). */
export default function forecastBatch(batch: ForecastBatch): SeriesResult[] {
  return batch.series.map((s) => forecastSeries(s, batch));
}
