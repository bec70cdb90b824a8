/**
 * The internal contract of one forecasting model inside the engine, and the two naive models.
 * Every member is fitted on gap-free data and afterwards takes finite points one at a time.
 */

/** A fitted model that forecasts means and absorbs new points in O(1) (or O(order)) each. */
export interface Member {
  /** Short name with the chosen specification, e.g. `ets(MAdM)`. */
  readonly name: string;
  /** Absorbs the next observation; `x` is always finite (the engine fills gaps). */
  update(x: number): void;
  /** Point forecasts for steps 1..h after the last absorbed point. */
  forecast(h: number): number[];
}

/** Last value carried forward. Needs at least one point; throws on an empty series. */
export function fitNaive(y: ArrayLike<number>): Member {
  if (y.length === 0) throw new Error('naive needs at least one point');
  let last = y[y.length - 1];
  return {
    name: 'naive',
    update(x: number) {
      last = x;
    },
    forecast(h: number) {
      return new Array<number>(h).fill(last);
    },
  };
}

/** Seasonal naive with period m: repeats the last full season. Needs at least m points. */
export function fitSeasonalNaive(y: ArrayLike<number>, m: number): Member {
  if (y.length < m) throw new Error(`seasonal naive needs at least ${m} points`);
  const ring = new Float64Array(m);
  for (let i = 0; i < m; i++) ring[i] = y[y.length - m + i];
  // ring[pos] is the value exactly one season before the next point.
  let pos = 0;
  return {
    name: `snaive(${m})`,
    update(x: number) {
      ring[pos] = x;
      pos = (pos + 1) % m;
    },
    forecast(h: number) {
      const out = new Array<number>(h);
      for (let i = 0; i < h; i++) out[i] = ring[(pos + i) % m];
      return out;
    },
  };
}

/**
 * Runs a model on the logarithm of strictly positive data, so multiplicative seasonality and
 * level-proportional noise become additive; forecasts are transformed back (the median of a
 * log-symmetric forecast). Returns null when some value is not positive or the inner fit fails.
 * Later non-positive points are floored at half the smallest fitted value.
 */
export function fitOnLog(y: ArrayLike<number>, fit: (logY: Float64Array) => Member | null): Member | null {
  let min = Infinity;
  for (let t = 0; t < y.length; t++) {
    if (!(y[t] > 0)) return null;
    if (y[t] < min) min = y[t];
  }
  const logY = Float64Array.from(y, Math.log);
  const inner = fit(logY);
  if (!inner) return null;
  const floor = Math.log(min / 2);
  return {
    name: `log-${inner.name}`,
    update(x: number) {
      inner.update(x > 0 ? Math.max(Math.log(x), floor) : floor);
    },
    forecast(h: number) {
      return inner.forecast(h).map(Math.exp);
    },
  };
}
