/**
 * Failure-risk scoring for one component: the probability of a failure or SLO breach
 * within a horizon, from (a) the persistence and severity of its anomaly score and (b) the time
 * to a saturation or SLO limit extrapolated from each limited signal's trend (disk full, CPU
 * pinned, latency over SLO, error rate rising). Pure and streaming: O(signals) per point.
 *
 * The probabilities are a documented heuristic (normal extrapolation error, noisy-OR
 * combination), not a model fitted on failure history: no labelled failure data exists here.
 */
import type { RiskDriver, RiskScore } from '../model/detect.js';

/** A limit on one signal: breaching it is a failure or SLO breach. */
export interface SignalLimit {
  readonly signal: string;
  /** The value at which the component fails or breaches its SLO (e.g. disk used 0.95, p99 0.25 s). */
  readonly limit: number;
  /** 'above': trouble when the value reaches the limit from below (the usual case); 'below': the opposite. */
  readonly direction: 'above' | 'below';
}

/** Knobs of the risk scorer (documented in docs/detection.md). */
export interface RiskConfig {
  /** Look-ahead in ms: the probability is of a breach within this time. */
  readonly horizonMs: number;
  /** Half-life of the trend fit (EW linear regression), in ms. */
  readonly trendHalfLifeMs: number;
  /** Half-life of the anomaly persistence average, in ms. */
  readonly persistenceHalfLifeMs: number;
  /** Anomaly score at or above which a point counts as anomalous for persistence. */
  readonly anomalyThreshold: number;
  /** Points before the risk is `ready`. */
  readonly warmup: number;
  readonly limits: readonly SignalLimit[];
}

/** Defaults: 1 h horizon, 30 min trend memory, 15 min persistence memory. */
export const DEFAULT_RISK: Omit<RiskConfig, 'limits'> = {
  horizonMs: 3_600_000,
  trendHalfLifeMs: 1_800_000,
  persistenceHalfLifeMs: 900_000,
  anomalyThreshold: 0.5,
  warmup: 10,
};

/** Standard normal CDF (Abramowitz-Stegun 7.1.26 via erf, |error| < 1.5e-7). */
export function normalCdf(x: number): number {
  const z = Math.abs(x) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * z);
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496735) * t + 0.254829592) * t * Math.exp(-z * z);
  return x >= 0 ? 0.5 * (1 + y) : 0.5 * (1 - y);
}

/** Exponentially weighted linear regression of value on time, O(1) per point. */
class EwTrend {
  private sw = 0;
  private st = 0;
  private sx = 0;
  private stt = 0;
  private stx = 0;
  private sxx = 0;
  private t0 = NaN;
  private lastT = NaN;
  /** The latest value added. */
  last = NaN;
  n = 0;

  constructor(private readonly halfLifeMs: number) {}

  add(t: number, x: number): void {
    if (Number.isNaN(this.t0)) this.t0 = t;
    const decay = Number.isNaN(this.lastT) ? 1 : Math.exp((-Math.LN2 * (t - this.lastT)) / this.halfLifeMs);
    this.lastT = t;
    // Times relative to the first point, in half-lives, keep the sums well conditioned.
    const u = (t - this.t0) / this.halfLifeMs;
    this.sw = this.sw * decay + 1;
    this.st = this.st * decay + u;
    this.sx = this.sx * decay + x;
    this.stt = this.stt * decay + u * u;
    this.stx = this.stx * decay + u * x;
    this.sxx = this.sxx * decay + x * x;
    this.last = x;
    this.n++;
  }

  /** Fitted value at the last time, slope per ms, residual sd and slope sd (per ms). */
  fit(): { now: number; slope: number; sd: number; slopeSd: number } {
    const w = this.sw, mt = this.st / w, mx = this.sx / w;
    const vt = this.stt / w - mt * mt;
    const ctx = this.stx / w - mt * mx;
    const vx = Math.max(this.sxx / w - mx * mx, 0);
    const b = vt > 1e-12 ? ctx / vt : 0;
    const resid = Math.max(vx - b * ctx, 0);
    const sd = Math.sqrt(resid);
    const u = (this.lastT - this.t0) / this.halfLifeMs;
    const slopeSdU = vt > 1e-12 ? Math.sqrt(resid / (w * vt)) : Infinity;
    return { now: mx + b * (u - mt), slope: b / this.halfLifeMs, sd, slopeSd: slopeSdU / this.halfLifeMs };
  }
}

/**
 * Risk scorer for one component. `update(t, values, anomalyScore)` takes the metric values in
 * `signals` order and the component's anomaly score of the same point. The constructor throws
 * RangeError on a bad config or a limit naming an unknown signal; non-finite values are skipped.
 */
export class RiskScorer {
  readonly component: string;
  private readonly c: RiskConfig;
  private readonly index: number[];
  private readonly trends: EwTrend[];
  private persistence = 0;
  private severity = 0;
  private lastT = NaN;
  private n = 0;

  constructor(component: string, signals: readonly string[], config: Partial<RiskConfig> & Pick<RiskConfig, 'limits'>) {
    this.component = component;
    this.c = { ...DEFAULT_RISK, ...config };
    const c = this.c;
    if (!(c.horizonMs > 0 && c.trendHalfLifeMs > 0 && c.persistenceHalfLifeMs > 0)) throw new RangeError('risk config: horizonMs and half-lives must be positive');
    if (!(c.anomalyThreshold > 0 && c.anomalyThreshold <= 1)) throw new RangeError('risk config: anomalyThreshold must be in (0, 1]');
    if (!(Number.isInteger(c.warmup) && c.warmup >= 3)) throw new RangeError('risk config: warmup must be an integer >= 3');
    this.index = c.limits.map((l) => {
      const i = signals.indexOf(l.signal);
      if (i < 0) throw new RangeError(`risk limit names unknown signal "${l.signal}"`);
      if (!Number.isFinite(l.limit)) throw new RangeError(`risk limit for "${l.signal}" must be a finite number`);
      return i;
    });
    this.trends = c.limits.map(() => new EwTrend(c.trendHalfLifeMs));
  }

  /** Updates with one point and returns the risk of a breach within the horizon, drivers first. */
  update(t: number, values: ArrayLike<number>, anomalyScore: number): RiskScore {
    const c = this.c;
    const dt = Number.isNaN(this.lastT) ? 0 : Math.max(0, t - this.lastT);
    this.lastT = t;
    this.n++;
    const a = 1 - Math.exp((-Math.LN2 * Math.max(dt, 1)) / c.persistenceHalfLifeMs);
    const s = Number.isFinite(anomalyScore) ? Math.min(Math.max(anomalyScore, 0), 1) : 0;
    this.persistence += a * ((s >= c.anomalyThreshold ? 1 : 0) - this.persistence);
    this.severity += a * (s - this.severity);

    const drivers: RiskDriver[] = [];
    const pAnomaly = this.persistence * Math.max(this.severity, s);
    if (pAnomaly > 0.001) {
      drivers.push({
        signal: 'anomaly',
        probability: pAnomaly,
        detail: `anomalous ${(100 * this.persistence).toFixed(0)} % of recent time, mean score ${this.severity.toFixed(2)}`,
      });
    }
    for (let k = 0; k < this.trends.length; k++) {
      const x = values[this.index[k]];
      if (Number.isFinite(x)) this.trends[k].add(t, x);
      const d = this.trendDriver(k, t);
      if (d) drivers.push(d);
    }
    // Equal probabilities (several limits past or certain) rank the earliest crossing first.
    drivers.sort((p, q) => q.probability - p.probability || (p.crossAt ?? Infinity) - (q.crossAt ?? Infinity));
    let survive = 1;
    for (const d of drivers) survive *= 1 - d.probability;
    const limit = drivers.find((d) => d.limit !== undefined) ?? null;
    return { component: this.component, t, horizonMs: c.horizonMs, probability: 1 - survive, ready: this.n >= c.warmup, drivers, limit };
  }

  private trendDriver(k: number, t: number): RiskDriver | null {
    const tr = this.trends[k];
    if (tr.n < 3) return null;
    const lim = this.c.limits[k];
    const sign = lim.direction === 'above' ? 1 : -1;
    const { now, slope, sd, slopeSd } = tr.fit();
    const H = this.c.horizonMs;
    // Distance to the limit, positive while still on the safe side. A latest value past the limit
    // is a breach now, however far behind the fitted level lags after a sudden change.
    const margin = Math.min(sign * (lim.limit - now), sign * (lim.limit - tr.last));
    const toward = sign * slope;
    const predSd = Math.sqrt(sd * sd + (Number.isFinite(slopeSd) ? (H * slopeSd) ** 2 : 0));
    const gapAtH = margin - Math.max(toward, 0) * H;
    const probability = margin <= 0 ? 1 : predSd > 0 ? normalCdf(-gapAtH / predSd) : gapAtH <= 0 ? 1 : 0;
    if (probability < 0.001) return null;
    const ttl = margin <= 0 ? 0 : toward > 0 ? margin / toward : undefined;
    const side = lim.direction === 'above' ? 'max' : 'min';
    const detail =
      margin <= 0
        ? `${lim.signal} is past its limit (${side} ${lim.limit})`
        : ttl !== undefined
          ? `${lim.signal} reaches ${lim.limit} (its ${side}) in ~${duration(ttl)} at the current trend`
          : `${lim.signal} is within noise of its limit (${side} ${lim.limit})`;
    const base = { signal: lim.signal, probability, detail, limit: lim.limit, direction: lim.direction, value: now };
    return ttl === undefined ? base : { ...base, timeToLimitMs: ttl, crossAt: t + ttl };
  }
}

/** A duration in minutes, or hours above two hours. */
function duration(ms: number): string {
  const min = ms / 60_000;
  return min < 120 ? `${Math.round(min)} min` : `${(min / 60).toFixed(1)} h`;
}
