/**
 * Streaming calibration of a raw anomaly statistic (an equivalent z) into a tail probability under
 * the statistic's own history, so that one score threshold means the same false-alarm rate on
 * every component. O(1) time and memory per point (a fixed log-spaced histogram), no I/O.
 *
 * The body of the distribution is the (exponentially weighted) empirical histogram; beyond its
 * `tailQuantile` quantile the tail is a generalised Pareto distribution fitted to the excesses by
 * the method of moments (peaks over threshold, as SPOT does), so values beyond anything seen still
 * get distinct probabilities (kept in log space, so they never underflow to a tie). See docs/detection.md.
 */
import { zToScore } from './univariate.js';

/** Knobs of the calibrator; `DEFAULT_CALIBRATION` is the untuned default. */
export interface CalibrationConfig {
  /**
   * The first `warmup` points are discarded (the raw statistic's own settling: scales still
   * moving, early transients), the next `warmup` start the history; `ready` after 2 x `warmup`.
   */
  readonly warmup: number;
  /** Half-life, in points, of the history the probability is measured against. */
  readonly halfLife: number;
  /** Above this quantile of the history the tail is the fitted generalised Pareto distribution. */
  readonly tailQuantile: number;
  /** The tail probability that maps to score 0.5 (the suggested alert threshold). */
  readonly p50: number;
  /** Steepness of the map from -log10(probability) to the score. */
  readonly power: number;
  /**
   * A point scoring >= 0.5 enters the history clipped to this many times the value the history
   * exceeds with probability `p50`. It still counts (a lasting change of regime raises the
   * quantiles and stops alarming), but its size does not inflate the tail fit, so a long anomaly
   * is not taught to be normal within a few hundred points.
   */
  readonly alarmClip: number;
}

/** Default calibration knobs. */
export const DEFAULT_CALIBRATION: CalibrationConfig = {
  warmup: 1440,
  halfLife: 100_000,
  tailQuantile: 0.98,
  p50: 0.01,
  power: 3,
  alarmClip: 2,
};

/** Histogram range: log10(z) in [LOG_MIN, LOG_MAX); values outside land in the end bins. */
const LOG_MIN = -2;
const LOG_MAX = 4;
const PER_DECADE = 32;
const BINS = (LOG_MAX - LOG_MIN) * PER_DECADE;
/** The tail fit is recomputed every this many points: it moves slowly and costs O(bins). */
const REFIT_EVERY = 64;
/** Smallest probability reported (score 1 beyond it). */
const P_MIN = 1e-300;

/** Throws a RangeError naming the first calibration knob that is out of range. */
export function validateCalibrationConfig(c: CalibrationConfig): void {
  if (!(Number.isInteger(c.warmup) && c.warmup >= 10)) throw new RangeError('calibration config warmup must be an integer >= 10');
  if (!(c.halfLife > 0)) throw new RangeError('calibration config halfLife must be positive');
  if (!(c.tailQuantile > 0.5 && c.tailQuantile < 1)) throw new RangeError('calibration config tailQuantile must be in (0.5, 1)');
  if (!(c.p50 > 0 && c.p50 < 1)) throw new RangeError('calibration config p50 must be in (0, 1)');
  if (!(c.power > 0)) throw new RangeError('calibration config power must be positive');
  if (!(c.alarmClip >= 1)) throw new RangeError('calibration config alarmClip must be >= 1');
}

function binOf(z: number): number {
  if (!(z > 0)) return 0;
  const b = Math.floor((Math.log10(z) - LOG_MIN) * PER_DECADE);
  return b < 0 ? 0 : b >= BINS ? BINS - 1 : b;
}

/** Lower edge (in z) of a bin. */
function edge(b: number): number {
  return Math.pow(10, LOG_MIN + b / PER_DECADE);
}

/**
 * One statistic's calibrator. `step(z)` returns the tail probability P(Z >= z) under the history
 * before this point (1 until `ready`), then adds z to the history. Non-finite z are ignored.
 */
export class TailCalibrator {
  private readonly c: CalibrationConfig;
  private readonly bins = new Float64Array(BINS);
  /** Weight of the next point; grows instead of decaying every bin (renormalised when large). */
  private w = 1;
  private readonly grow: number;
  private readonly l50: number;
  private total = 0;
  private n = 0;
  private skipped = 0;
  private sinceFit = REFIT_EVERY;
  /** Tail fit: threshold u, its exceedance probability, GPD scale and shape. */
  private u = Infinity;
  /** The value the history exceeds with probability p50 (the alarm level). */
  private zAlarm = Infinity;
  private pu = 0;
  private sigma = 1;
  private xi = 0;
  /** -log10 of the tail probability of the last point (0 before `ready`). */
  surpriseLog10 = 0;
  ready = false;

  constructor(config: Partial<CalibrationConfig> = {}) {
    this.c = { ...DEFAULT_CALIBRATION, ...config };
    validateCalibrationConfig(this.c);
    this.grow = Math.exp(Math.LN2 / this.c.halfLife);
    this.l50 = -Math.log10(this.c.p50);
  }

  /** Tail probability P(Z >= z) of the last point under the history before it (1 before `ready`). */
  get p(): number {
    return Math.pow(10, -this.surpriseLog10);
  }

  /** The calibrated score of the last point in [0, 1]: `p50` -> 0.5, smaller probabilities higher. */
  get score(): number {
    return zToScore(this.surpriseLog10, this.l50, this.c.power);
  }

  /** Scores z against the history, then learns it; returns the tail probability. */
  step(z: number): number {
    if (this.skipped < this.c.warmup) {
      this.skipped++;
      return this.p;
    }
    if (Number.isFinite(z)) {
      this.ready = this.n >= this.c.warmup;
      this.surpriseLog10 = this.ready ? this.surprise(z) : 0;
      const cap = this.c.alarmClip * this.zAlarm;
      this.add(this.surpriseLog10 >= this.l50 && z > cap ? cap : z);
    }
    return this.p;
  }

  /** -log10 P(Z >= z): in log space so that values far beyond the history keep distinct scores. */
  private surprise(z: number): number {
    if (z > this.u) {
      const y = z - this.u;
      const tail = this.xi < 1e-6 ? y / (this.sigma * Math.LN10) : Math.log10(1 + (this.xi * y) / this.sigma) / this.xi;
      return -Math.log10(this.pu) + tail;
    }
    // Empirical: weight of the bins above z's bin plus the part of its own bin above z (log-linear).
    const b = binOf(z);
    let above = 0;
    for (let i = BINS - 1; i > b; i--) above += this.bins[i];
    const lo = LOG_MIN + b / PER_DECADE;
    const frac = z > 0 ? 1 - Math.min(1, Math.max(0, (Math.log10(z) - lo) * PER_DECADE)) : 1;
    const p = (above + frac * this.bins[b]) / this.total;
    return p >= 1 ? 0 : p > P_MIN ? -Math.log10(p) : -Math.log10(P_MIN);
  }

  private add(z: number): void {
    this.bins[binOf(z)] += this.w;
    this.total += this.w;
    this.w *= this.grow;
    this.n++;
    if (this.w > 1e200) {
      for (let i = 0; i < BINS; i++) this.bins[i] /= this.w;
      this.total /= this.w;
      this.w = 1;
    }
    if (++this.sinceFit >= REFIT_EVERY && this.n >= this.c.warmup) this.fit();
  }

  /** Upper edge of the bin where the weight above reaches `share` of the total (an upper quantile). */
  private upperQuantileBin(share: number): number {
    const target = share * this.total;
    let acc = 0, b = BINS - 1;
    for (; b > 0 && acc + this.bins[b] < target; b--) acc += this.bins[b];
    return b;
  }

  /** Peaks over threshold: u = the tailQuantile quantile, GPD by the method of moments on the excesses. */
  private fit(): void {
    this.sinceFit = 0;
    this.zAlarm = edge(this.upperQuantileBin(this.c.p50) + 1);
    const b = this.upperQuantileBin(1 - this.c.tailQuantile);
    const u = edge(b + 1);
    // Excess moments from bin centres (geometric) above u.
    let s0 = 0, s1 = 0, s2 = 0;
    for (let i = b + 1; i < BINS; i++) {
      const wgt = this.bins[i];
      if (wgt === 0) continue;
      const y = Math.sqrt(edge(i) * edge(i + 1)) - u;
      s0 += wgt;
      s1 += wgt * y;
      s2 += wgt * y * y;
    }
    if (s0 === 0 || s1 <= 0) {
      // Nothing above the quantile bin (e.g. a constant statistic): no tail model, empirical only.
      this.u = Infinity;
      return;
    }
    const m = s1 / s0;
    const v = Math.max(s2 / s0 - m * m, 1e-12 * m * m);
    // Method of moments. The shape is kept in [0, 0.5]: a negative shape bounds the support, and
    // every value beyond the bound would get probability 0 (one tied top score), losing the order.
    const xi = Math.min(0.5, Math.max(0, 0.5 * (1 - (m * m) / v)));
    this.xi = xi;
    this.sigma = 0.5 * m * ((m * m) / v + 1);
    this.u = u;
    this.pu = s0 / this.total;
  }
}
