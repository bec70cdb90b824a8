/**
 * Reading the Shadow Store: a series at a step (the step picks the granularity, and windows are
 * merged into step-wide buckets), the top keys of a dimension, and the statistics a window offers.
 */
import { ShadowplaneError } from '../core/errors.js';
import type { ShadowStore } from './store.js';
import { Window, WindowValues, type Dimension, type WindowRow } from './window.js';

/** Statistics a series can be read as. Latency in ms for request dimensions, the value for `metric`. */
export const SERIES_STATS = [
  'count', 'estimatedCount', 'bytes', 'estimatedBytes', 'rows', 'errors', 'estimatedErrors', 'errorRate',
  'mean', 'min', 'max', 'p50', 'p90', 'p95', 'p99', 'peakRps', 'samplingRate', 'last',
] as const;
/** One statistic name. */
export type SeriesStat = (typeof SERIES_STATS)[number];

/** The value of one statistic of a window (NaN when the window has no data for it). */
export function windowStat(w: Window, stat: SeriesStat): number {
  switch (stat) {
    case 'count': return w.count;
    case 'estimatedCount': return w.estCount;
    case 'bytes': return w.bytes;
    case 'estimatedBytes': return w.estBytes;
    case 'rows': return w.rows;
    case 'errors': return w.errors;
    case 'estimatedErrors': return w.estErrors;
    case 'errorRate': return w.count > 0 ? w.errors / w.count : Number.NaN;
    case 'mean': return w.count > 0 ? w.sum / w.count : Number.NaN;
    case 'min': return w.count > 0 ? w.min : Number.NaN;
    case 'max': return w.count > 0 ? w.max : Number.NaN;
    case 'p50': return w.quantile(0.5);
    case 'p90': return w.quantile(0.9);
    case 'p95': return w.quantile(0.95);
    case 'p99': return w.quantile(0.99);
    case 'peakRps': return w.peak;
    case 'samplingRate': return w.rate;
    case 'last': return w.last;
  }
}

/** One point of a series: bucket start (ms), value, and whether every window in it has closed. */
export interface SeriesPoint {
  t: number;
  v: number | null;
  final: boolean;
}

/** A series query as the API takes it. */
export interface SeriesRequest {
  target: string;
  dim: Dimension;
  key: string;
  stat: SeriesStat;
  from: number;
  to: number;
  stepMs: number;
}

/** Most points one series query may return. */
export const MAX_POINTS = 20_000;

/**
 * The granularity (seconds) to read for a step: the coarsest that divides the step, else the
 * finest (the step then rounds up to it).
 */
export function granularityForStep(granularities: readonly number[], stepMs: number): number {
  let chosen = granularities[0];
  for (const g of granularities) if (stepMs % (g * 1000) === 0) chosen = g;
  return chosen;
}

/** Reads a series at the request's step; buckets without data are left out. */
export async function readSeries(
  store: ShadowStore,
  granularities: readonly number[],
  req: SeriesRequest,
): Promise<{ granularity: number; stepMs: number; points: SeriesPoint[] }> {
  const granularity = granularityForStep(granularities, req.stepMs);
  const stepMs = Math.max(req.stepMs, granularity * 1000);
  if ((req.to - req.from) / stepMs > MAX_POINTS) {
    throw new ShadowplaneError('SHADOWPLANE_ERR_VALIDATION', 'the range holds too many points', [
      { path: '/step', message: `must be large enough that (to - from) / step is at most ${MAX_POINTS}` },
    ]);
  }
  const rows = await store.queryWindows({ target: req.target, granularity, dim: req.dim, key: req.key, from: req.from, to: req.to });
  return { granularity, stepMs, points: bucket(rows, stepMs).map(({ t, w, final }) => ({ t, v: finiteOrNull(windowStat(w, req.stat)), final })) };
}

/** Merges rows (ordered by start) into buckets of `stepMs`. */
export function bucket(rows: readonly WindowRow[], stepMs: number): { t: number; w: Window; final: boolean }[] {
  const out: { t: number; w: Window; final: boolean; merged: boolean }[] = [];
  const values = new WindowValues(Math.min(rows.length, 1024));
  for (const row of rows) {
    const t = row.start - (row.start % stepMs);
    const last = out[out.length - 1];
    if (last && last.t === t) {
      // A bucket's first window is used as it is; only a second one makes a merged copy.
      if (!last.merged) {
        const merged = new Window(t, stepMs / 1000, values);
        merged.merge(last.w);
        last.w = merged;
        last.merged = true;
      }
      last.w.merge(Window.fromRow(row, values));
      last.final &&= row.final;
    } else {
      out.push({ t, w: Window.fromRow(row, values), final: row.final, merged: false });
    }
  }
  return out;
}

function finiteOrNull(v: number): number | null {
  return Number.isFinite(v) ? v : null;
}
