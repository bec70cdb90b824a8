/**
 * History import: past metric points written straight into the Shadow Store as closed windows, at
 * every granularity, without passing through the live rollup (which refuses a point once its
 * window has closed). A batch covers a time range aligned to the coarsest granularity, so each
 * window it writes — a parent included — holds all of that range's points: the rows come from a
 * RollupEngine of their own whose clock is set to the end of the range, so imported windows are
 * built exactly as live ones are. A series that already has windows in the range (imported before,
 * or recorded live) is left as it is: importing twice writes nothing the second time, and live data
 * is never overwritten.
 */
import { VirtualClock } from '../core/clock.js';
import { RollupEngine, type RollupOptions } from './rollup.js';
import type { ShadowStore } from './store.js';

/** One metric series of a batch: its store key and its points `[ms, value]`. */
export interface HistorySeries {
  readonly key: string;
  readonly points: readonly (readonly [number, number])[];
}

/** A batch of one target's history over [from, to) (ms, aligned to the coarsest granularity). */
export interface HistoryBatch {
  readonly target: string;
  readonly from: number;
  readonly to: number;
  readonly series: readonly HistorySeries[];
}

/** What a batch wrote. */
export interface HistoryResult {
  /** Series written, and the points and window rows they made. */
  readonly series: number;
  readonly points: number;
  readonly windows: number;
  /** Keys left as they were because the store already had windows of theirs in the range. */
  readonly kept: readonly string[];
}

/**
 * The latest time (ms) an import may reach at `now`: the start of the coarsest window that may
 * still be open in the live rollup. Windows from there on belong to the live path.
 */
export function importableBefore(granularities: readonly number[], latenessSeconds: number, now: number): number {
  const coarsest = granularities.at(-1)! * 1000;
  const liveFrom = now - latenessSeconds * 1000 - granularities[0] * 1000;
  return Math.floor(liveFrom / coarsest) * coarsest;
}

/**
 * Writes a batch (already validated: aligned range, points inside it, at most `topK` series so none
 * is folded into `__other__`) as closed windows in one transaction.
 */
export async function importHistory(store: ShadowStore, options: Omit<RollupOptions, 'latenessSeconds'>, batch: HistoryBatch): Promise<HistoryResult> {
  const clock = new VirtualClock(batch.from);
  const engine = new RollupEngine({ ...options, latenessSeconds: 0 }, clock);
  const kept: string[] = [];
  let series = 0;
  let points = 0;
  for (const s of batch.series) {
    const stored = await store.queryWindows({ target: batch.target, granularity: options.granularities[0], dim: 'metric', key: s.key, from: batch.from, to: batch.to });
    if (stored.length > 0) {
      kept.push(s.key);
      continue;
    }
    series++;
    points += s.points.length;
    for (const [at, value] of s.points) engine.addSample(batch.target, s.key, at, value);
  }
  clock.advance(batch.to - batch.from);
  // Only the imported series' rows: the (empty) request totals the rollup also makes would
  // overwrite any requests recorded live in the same windows.
  const written = new Set(batch.series.map((s) => s.key).filter((k) => !kept.includes(k)));
  const rows = engine.takeFlush().rows.filter((r) => r.dim === 'metric' && written.has(r.key));
  if (rows.length > 0) await store.writeWindows(rows);
  return { series, points, windows: rows.length, kept };
}
