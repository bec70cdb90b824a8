/**
 * The one definition of a sample quantile in Shadowplane, so that a p99 means the same thing in
 * every component, benchmark and model: linear interpolation between the order statistics
 * (Hyndman & Fan type 7, the default of numpy, R and Excel's PERCENTILE.INC). The q-quantile of
 * n sorted values x[0..n-1] sits at position h = (n - 1)·q and is x[⌊h⌋] + (h - ⌊h⌋)·(x[⌊h⌋+1] - x[⌊h⌋]).
 * Chosen over nearest-rank because it is continuous in q and in the data, so a forecast interval or
 * a latency threshold does not jump when one sample arrives, and the min and max are q = 0 and 1.
 * (Sketch quantiles of the Shadow Store are estimates of the same quantity with a relative error
 * bound; they live with the sketch.)
 */

/** The q-quantile (q in [0, 1], clamped) of ascending-sorted `sorted`; NaN when it is empty. */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const h = Math.min(Math.max(q, 0), 1) * (n - 1);
  const i = Math.floor(h);
  const f = h - i;
  return i + 1 < n ? sorted[i]! * (1 - f) + sorted[i + 1]! * f : sorted[i]!;
}

/** The q-quantile of `values` in any order (not modified); `empty` (default NaN) when there are none. */
export function quantile(values: ArrayLike<number>, q: number, empty = NaN): number {
  if (values.length === 0) return empty;
  return quantileSorted(Float64Array.from(values).sort(), q);
}
