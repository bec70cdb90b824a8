/**
 * Streaming univariate anomaly detector: one instance per series, O(1) time and memory per point,
 * no I/O; the caller passes each point's timestamp. See docs/detection.md for every knob.
 *
 * Model: an additive Holt-Winters-style expectation (deseasonalised level + one offset per
 * seasonal phase bucket) updated with Huber-clipped residuals, a robust scale (EW mean absolute
 * residual, slow to shrink), a two-sided CUSUM on the standardised residual for level shifts, and
 * a slow baseline of the level for drifts. Each signal is an "equivalent z"; the largest one is
 * mapped to a score in [0, 1] by `zToScore`.
 */
import type { AnomalyKind, Score } from '../model/detect.js';
import { EpisodeAlarm } from './alarm.js';
import type { AlarmConfig } from './alarm.js';

/**
 * Seasonality: one period (ms) split into phases, each with its own learned offset: one phase per
 * sampling step, at most `buckets` (so a 5-min series gets 288 daily phases, a 1-min one 288 of
 * 5 min each, an hourly one 24).
 */
export interface SeasonConfig {
  readonly periodMs: number;
  readonly buckets: number;
  /** Half-life of a phase offset, in periods (how many cycles to forget an old pattern). */
  readonly halfLifePeriods: number;
}

/** Knobs of the univariate detector; `DEFAULT_UNIVARIATE` is the untuned default. */
export interface UnivariateConfig {
  /** Sampling interval in ms; null = estimated from the warm-up intervals (median). */
  readonly stepMs: number | null;
  /** Points before scores are `ready`. */
  readonly warmup: number;
  /** Half-life of the level (expectation), in steps. */
  readonly levelHalfLife: number;
  /** Half-life of the robust scale, in steps. */
  readonly scaleHalfLife: number;
  /** Residuals beyond this many scales are clipped before they update level/season/scale (Huber). */
  readonly clip: number;
  /** Seasonality, or null for none. */
  readonly season: SeasonConfig | null;
  /** CUSUM slack k (in scales) and the CUSUM value that maps to the score of z = `z50`. */
  readonly cusumSlack: number;
  readonly cusumLimit: number;
  /**
   * CUSUM increments are capped at this many scales: the CUSUM is for sustained shifts, and the
   * few huge residuals of a burst (already scored as spikes) should not make one.
   */
  readonly cusumCap: number;
  /** Half-life (steps) of the slow baseline the level is compared with to detect drift; 0 = off. */
  readonly driftHalfLife: number;
  /** Scale floors: absolute, relative to |level|, relative to the observed range (max - min). */
  readonly absFloor: number;
  readonly relFloor: number;
  readonly rangeFloor: number;
  /**
   * Scale floor as a fraction of the smallest non-zero step seen between consecutive values. The
   * default 1/sqrt(12) is the sd of rounding to that step, the least noise a series recorded on a
   * grid (integer counts, rounded gauges) carries. A whole step (1) hides a series whose only moves
   * are of one size, such as same-sized spikes on a flat base: each would be one scale.
   */
  readonly stepFloor: number;
  /** The equivalent z that maps to score 0.5, and the steepness of the map. */
  readonly z50: number;
  readonly power: number;
  /** 'auto' detects monotone counters during warm-up and scores their rate; or force either. */
  readonly counter: 'auto' | 'counter' | 'gauge';
  /** A counter falling below this fraction of its previous value is a reset, not an anomaly. */
  readonly resetFraction: number;
  /** An interval longer than this many steps is a gap: CUSUM and drift state restart. */
  readonly gapSteps: number;
  /**
   * A season phase's first observation sets its offset to the whole residual (true), or only to
   * the clipped one like every later observation (false: slower to learn a strong shape, but a
   * first observation that is itself an outlier does not stick).
   */
  readonly seasonInit: boolean;
  /**
   * With the alarm stage: a level shift alarmed on that lasted this many steps becomes the new
   * level (its mean residual is added to the level), so later anomalies are measured from it.
   */
  readonly shiftAbsorbSteps: number;
  /**
   * The alarm stage turning the equivalent z into the score (src/detect/alarm.ts: likelihood of the
   * recent evidence, one alarm per episode), or null for the fixed z map (`z50`, `power`).
   */
  readonly alarm: Partial<AlarmConfig> | null;
  /**
   * Scale on which values are modelled: 'sqrt' = sign(x)·sqrt(|x|), which stabilises the variance
   * of magnitudes whose noise grows with their level (counts, rates, latencies), so a burst that is
   * routine for a busy period is not scored like one on a quiet series; 'none' = the raw values.
   * `expected` and `observed` are reported in the series' own units either way.
   */
  readonly transform: 'sqrt' | 'none';
}

/** The default configuration, meant to work on unseen series without tuning. */
export const DEFAULT_UNIVARIATE: UnivariateConfig = {
  stepMs: null,
  warmup: 30,
  levelHalfLife: 1440,
  scaleHalfLife: 1440,
  clip: 3,
  season: { periodMs: 86_400_000, buckets: 288, halfLifePeriods: 3 },
  cusumSlack: 1,
  cusumLimit: 24,
  cusumCap: 4.5,
  driftHalfLife: 2880,
  absFloor: 1e-9,
  relFloor: 1e-3,
  rangeFloor: 0.01,
  stepFloor: 1 / Math.sqrt(12),
  z50: 6,
  power: 3,
  counter: 'auto',
  resetFraction: 0.1,
  gapSteps: 10,
  seasonInit: true,
  shiftAbsorbSteps: 300,
  alarm: {},
  transform: 'sqrt',
};

const LN2 = Math.LN2;
/** Mean absolute deviation to standard deviation for a normal distribution. */
const MAD_TO_SIGMA = 1.2533;
const KINDS: readonly AnomalyKind[] = ['none', 'spike', 'drop', 'level-shift', 'drift', 'counter-reset', 'gap', 'warm-up'];
const K_NONE = 0, K_SPIKE = 1, K_DROP = 2, K_SHIFT = 3, K_DRIFT = 4, K_RESET = 5, K_GAP = 6, K_WARMUP = 7;

/** Maps an equivalent z (>= 0) to a score in [0, 1): z50 -> 0.5, smooth and strictly increasing. */
export function zToScore(z: number, z50: number, power: number): number {
  if (!(z > 0)) return 0;
  const q = z / z50;
  const r = power === 3 ? q * q * q : Math.pow(q, power);
  return r === Infinity ? 1 : r / (1 + r);
}

/** sign(x)·sqrt(|x|): monotone, scale-equivariant, compresses large magnitudes. */
function signedSqrt(x: number): number {
  return x < 0 ? -Math.sqrt(-x) : Math.sqrt(x);
}

/** Inverse of `signedSqrt`. */
function signedSquare(y: number): number {
  return y < 0 ? -y * y : y * y;
}

/** Per-step EW weight for a half-life in steps. */
function alphaFor(halfLife: number): number {
  return halfLife > 0 ? 1 - Math.exp(-LN2 / halfLife) : 1;
}

/** Throws a RangeError naming the first knob that is out of range. */
export function validateUnivariateConfig(c: UnivariateConfig): void {
  const positive: (keyof UnivariateConfig)[] = ['levelHalfLife', 'scaleHalfLife', 'clip', 'cusumLimit', 'cusumCap', 'z50', 'power', 'gapSteps', 'shiftAbsorbSteps'];
  for (const k of positive) {
    const v = c[k] as number;
    if (!(Number.isFinite(v) && v > 0)) throw new RangeError(`detector config ${k} must be a positive number`);
  }
  if (!(Number.isInteger(c.warmup) && c.warmup >= 2)) throw new RangeError('detector config warmup must be an integer >= 2');
  if (c.stepMs !== null && !(c.stepMs > 0)) throw new RangeError('detector config stepMs must be positive or null');
  if (!(c.driftHalfLife >= 0)) throw new RangeError('detector config driftHalfLife must be >= 0');
  if (!(c.resetFraction >= 0 && c.resetFraction < 1)) throw new RangeError('detector config resetFraction must be in [0, 1)');
  for (const k of ['absFloor', 'relFloor', 'rangeFloor', 'stepFloor', 'cusumSlack'] as const) {
    if (!(c[k] >= 0)) throw new RangeError(`detector config ${k} must be >= 0`);
  }
  if (c.transform !== 'sqrt' && c.transform !== 'none') throw new RangeError("detector config transform must be 'sqrt' or 'none'");
  if (c.season) {
    const s = c.season;
    if (!(s.periodMs > 0 && Number.isInteger(s.buckets) && s.buckets >= 1 && s.halfLifePeriods > 0)) {
      throw new RangeError('detector config season needs periodMs > 0, integer buckets >= 1, halfLifePeriods > 0');
    }
  }
}

/**
 * One series' detector. `update(t, value)` scores a point from the past only, then learns from it.
 * Timestamps must increase; a point at or before the previous time, or a non-finite value, is
 * ignored and answered with a not-ready score of kind `gap`. Never throws after construction
 * (the constructor throws RangeError on a bad config).
 */
export class UnivariateDetector {
  readonly name: string;
  private readonly c: UnivariateConfig;
  private readonly aLevel: number;
  private readonly aScale: number;
  private readonly aDrift: number;
  private readonly season: Float64Array | null;
  private readonly seasonCount: Uint32Array;
  private bucketMs: number;
  private readonly periodMs: number;
  private buckets: number;
  private aSeason = 0;
  private readonly alarm: EpisodeAlarm | null;
  private readonly sqrt: boolean;
  /** The last value on the model's scale (after the transform). */
  private prev = 0;

  private n = 0;
  /** Points scored since warm-up; early on the EW weights are at least 1/count (bias-free start). */
  private scored = 0;
  /** Time of the first scored point; the alarm stage relearns once the first season period is over. */
  private firstT = NaN;
  private seasonLearned = false;
  private lastT = NaN;
  private lastRaw = NaN;
  private stepMs: number;
  private readonly warmDts: number[] = [];
  private mode: 'unknown' | 'counter' | 'gauge';
  private monotone = true;
  private level = 0;
  private scale = 0;
  private baseline = 0;
  private cusumHi = 0;
  private cusumLo = 0;
  private runHi = 0;
  private runLo = 0;
  /** Sums of the raw residuals over the current CUSUM runs (their mean is the size of a shift). */
  private sumHi = 0;
  private sumLo = 0;
  private min = Infinity;
  private max = -Infinity;
  private quantum = Infinity;

  /** Results of the last `step`, readable without allocating a Score. */
  z = 0;
  zEff = 0;
  score = 0;
  expected = 0;
  observed = 0;
  ready = false;
  /** True when the last point came after a gap (an interval over `gapSteps` steps). */
  gapped = false;
  private kindCode = K_WARMUP;

  constructor(name: string, config: Partial<UnivariateConfig> = {}) {
    this.name = name;
    this.c = { ...DEFAULT_UNIVARIATE, ...config };
    validateUnivariateConfig(this.c);
    this.aLevel = alphaFor(this.c.levelHalfLife);
    this.aScale = alphaFor(this.c.scaleHalfLife);
    this.aDrift = alphaFor(this.c.driftHalfLife);
    this.stepMs = this.c.stepMs ?? NaN;
    this.mode = this.c.counter === 'auto' ? 'unknown' : this.c.counter;
    const s = this.c.season;
    this.season = s ? new Float64Array(s.buckets) : null;
    this.seasonCount = new Uint32Array(s ? s.buckets : 0);
    this.bucketMs = s ? s.periodMs / s.buckets : 0;
    this.periodMs = s ? s.periodMs : 0;
    this.buckets = s ? s.buckets : 0;
    this.alarm = this.c.alarm ? new EpisodeAlarm(this.c.alarm) : null;
    this.sqrt = this.c.transform === 'sqrt';
  }

  /**
   * The score of the last point before the alarm stage's episode rule (the likelihood alone: high
   * for as long as the episode lasts), for consumers that track episodes themselves; without the
   * alarm stage, the score.
   */
  get ungatedScore(): number {
    return this.alarm && this.ready ? this.alarm.rawScore : this.score;
  }

  /** The kind of the last scored point. */
  get kind(): AnomalyKind {
    return KINDS[this.kindCode];
  }

  /** True once the series was recognised as a monotone counter (its rate is scored). */
  get isCounter(): boolean {
    return this.mode === 'counter';
  }

  /** Scores a point and learns from it; returns the score with its reason. */
  update(t: number, value: number): Score {
    this.step(t, value);
    return {
      value: this.score,
      ready: this.ready,
      reason: { signal: this.name, expected: this.expected, observed: this.observed, deviation: this.z, kind: KINDS[this.kindCode] },
    };
  }

  /**
   * Like `update` but only returns the score value; details stay in the public fields. `learn`
   * (0..1) scales how much this point updates level, season and scale (the component detector
   * lowers it while the whole component is anomalous).
   */
  step(t: number, value: number, learn = 1): number {
    this.gapped = false;
    if (!Number.isFinite(value) || !Number.isFinite(t) || t <= this.lastT) return this.notReady(K_GAP);
    const dt = Number.isNaN(this.lastT) ? 0 : t - this.lastT;
    if (dt > 0 && Number.isNaN(this.stepMs) && this.warmDts.length < this.c.warmup) this.warmDts.push(dt);
    this.lastT = t;

    // Counters are scored on their rate: that is what their behaviour is about.
    let x = value;
    if (this.mode !== 'gauge') {
      const prev = this.lastRaw;
      this.lastRaw = value;
      if (this.mode === 'unknown') {
        if (value < prev) this.monotone = false;
      } else if (Number.isNaN(prev)) {
        return this.notReady(K_WARMUP);
      } else if (value < prev && this.c.counter === 'auto' && value > prev * this.c.resetFraction) {
        // A counter never decreases except by a reset to ~0: this is a gauge after all.
        this.restartAsGauge();
      } else if (value < prev) {
        return this.explained(K_RESET, value / this.stepsOf(dt));
      } else {
        x = (value - prev) / this.stepsOf(dt);
      }
    }
    this.observed = x;
    const y = this.sqrt ? signedSqrt(x) : x;
    if (this.n < this.c.warmup) return this.warm(y);
    return this.score1(t, y, dt, learn);
  }

  private stepsOf(dt: number): number {
    const s = dt / this.stepMs;
    return s > 0 && Number.isFinite(s) ? s : 1;
  }

  private trackRange(x: number): void {
    if (x < this.min) this.min = x;
    if (x > this.max) this.max = x;
  }

  private restartAsGauge(): void {
    this.mode = 'gauge';
    this.rewarm();
  }

  private notReady(kind: number): number {
    this.kindCode = kind;
    this.score = 0;
    this.z = 0;
    this.zEff = 0;
    this.ready = false;
    return 0;
  }

  /** A point that is explained (counter reset): score 0, readiness unchanged, no learning. */
  private explained(kind: number, x: number): number {
    this.kindCode = kind;
    this.score = 0;
    this.z = 0;
    this.zEff = 0;
    this.observed = x;
    this.expected = this.toUnits(this.level + this.seasonal(this.lastT));
    return 0;
  }

  /** From the model's scale back to the series' units. */
  private toUnits(y: number): number {
    return this.sqrt ? signedSquare(y) : y;
  }

  private phase(t: number): number {
    const p = this.periodMs;
    let m = t % p;
    if (m < 0) m += p;
    const b = (m / this.bucketMs) | 0;
    return b < this.buckets ? b : this.buckets - 1;
  }

  private seasonal(t: number): number {
    return this.season ? this.season[this.phase(t)] : 0;
  }

  /** Warm-up: running mean and mean absolute deviation, no scores. */
  private warm(x: number): number {
    this.trackRange(x);
    this.n++;
    if (this.n > 1) {
      const d = Math.abs(x - this.prev);
      if (d > 0 && d < this.quantum) this.quantum = d;
    }
    this.prev = x;
    const w = 1 / this.n;
    const r = x - this.level;
    this.level += this.n === 1 ? x : w * r;
    this.scale += w * (MAD_TO_SIGMA * Math.abs(x - this.level) - this.scale);
    this.baseline = this.level;
    this.expected = this.toUnits(this.level);
    if (this.n === this.c.warmup) this.finishWarmup();
    return this.notReady(K_WARMUP);
  }

  private finishWarmup(): void {
    if (Number.isNaN(this.stepMs)) {
      const dts = this.warmDts.filter((d) => d > 0).sort((a, b) => a - b);
      this.stepMs = dts.length ? dts[dts.length >> 1] : 1;
    }
    this.alarm?.setStepMs(this.stepMs);
    if (this.season) {
      // One phase per step, at most the configured number (the step is known only now).
      this.buckets = Math.max(1, Math.min(this.season.length, Math.round(this.periodMs / this.stepMs)));
      this.bucketMs = this.periodMs / this.buckets;
      const obsPerPeriodPerBucket = Math.max(1, this.bucketMs / this.stepMs);
      this.aSeason = alphaFor(this.c.season!.halfLifePeriods * obsPerPeriodPerBucket);
    }
    if (this.mode === 'unknown') {
      this.mode = this.monotone && this.max > this.min ? 'counter' : 'gauge';
      // The warm-up statistics were of raw values; learn again on rates from here.
      if (this.mode === 'counter') this.rewarm();
    }
  }

  private rewarm(): void {
    this.n = 0;
    this.scored = 0;
    this.level = 0;
    this.scale = 0;
    this.min = Infinity;
    this.max = -Infinity;
    this.quantum = Infinity;
  }

  private floor(): number {
    const c = this.c;
    let f = c.absFloor;
    const rel = c.relFloor * Math.abs(this.level);
    if (rel > f) f = rel;
    const rng = c.rangeFloor * (this.max - this.min);
    if (rng > f) f = rng;
    const step = this.quantum === Infinity ? 0 : c.stepFloor * this.quantum;
    return step > f ? step : f;
  }

  private score1(t: number, x: number, dt: number, learn: number): number {
    const steps = this.stepsOf(dt);
    const c = this.c;
    this.scored++;
    const early = 1 / (this.scored + c.warmup);
    let aL = this.aLevel, aS = Math.max(this.aScale, early), aD = this.aDrift;
    if (steps !== 1) {
      // Irregular spacing: weight by elapsed time, so a long interval moves the state further.
      const s = Math.min(steps, c.gapSteps);
      aL = 1 - Math.pow(1 - aL, s);
      aS = 1 - Math.pow(1 - aS, s);
      aD = 1 - Math.pow(1 - aD, s);
    }
    const gap = steps > c.gapSteps;
    this.gapped = gap;
    if (gap) {
      this.cusumHi = 0;
      this.cusumLo = 0;
      this.runHi = 0;
      this.runLo = 0;
      this.sumHi = 0;
      this.sumLo = 0;
      this.baseline = this.level;
    }
    const prevObserved = this.prev;
    this.prev = x;

    const ph = this.season ? this.phase(t) : 0;
    const seas = this.season ? this.season[ph] : 0;
    const expected = this.level + seas;
    const scale = Math.max(this.scale, this.floor());
    const r = x - expected;
    const z = r / scale;

    // Scoring uses only the past; learning follows.
    const zc = z > c.cusumCap ? c.cusumCap : z < -c.cusumCap ? -c.cusumCap : z;
    let hi = this.cusumHi + zc - c.cusumSlack;
    let lo = this.cusumLo - zc - c.cusumSlack;
    const cap = 4 * c.cusumLimit;
    hi = hi < 0 ? 0 : hi > cap ? cap : hi;
    lo = lo < 0 ? 0 : lo > cap ? cap : lo;
    this.runHi = hi > 0 ? this.runHi + 1 : 0;
    this.runLo = lo > 0 ? this.runLo + 1 : 0;
    this.sumHi = hi > 0 ? this.sumHi + r : 0;
    this.sumLo = lo > 0 ? this.sumLo + r : 0;
    this.cusumHi = hi;
    this.cusumLo = lo;
    const zCusum = (c.z50 * (hi > lo ? hi : lo)) / c.cusumLimit;
    const zDrift = c.driftHalfLife > 0 ? Math.abs(this.level - this.baseline) / scale : 0;
    const az = Math.abs(z);

    let zEff = az, kind = z >= 0 ? K_SPIKE : K_DROP;
    if (zCusum > zEff) {
      zEff = zCusum;
      // Mean residual over the CUSUM run: a sustained deviation built from small residuals is a
      // drift, one from large residuals a level shift.
      const meanRun = Math.abs(hi > lo ? this.sumHi / this.runHi : this.sumLo / this.runLo) / scale;
      kind = meanRun < c.clip ? K_DRIFT : K_SHIFT;
    }
    if (zDrift > zEff) {
      zEff = zDrift;
      kind = K_DRIFT;
    }
    if (this.alarm && this.season && !this.seasonLearned) {
      if (Number.isNaN(this.firstT)) this.firstT = t;
      else if (t - this.firstT >= this.periodMs) {
        // Every phase has been seen now: the evidence of the first period measured an unknown
        // season, not the series' noise, and would make its statistics too wide for weeks.
        this.seasonLearned = true;
        this.alarm.relearn();
      }
    }
    const score = this.alarm ? this.alarm.step(zEff) : zToScore(zEff, c.z50, c.power);
    // Below `clip` a point is unremarkable on its own; if the alarm stage still finds the recent
    // evidence unusual, it is a sustained small deviation: a drift.
    if (zEff < c.clip) kind = this.alarm && this.alarm.rawScore >= 0.5 ? K_DRIFT : K_NONE;

    const d = Math.abs(x - prevObserved);
    if (d > 0 && d < this.quantum) this.quantum = d;
    this.trackRange(x);
    const lim = c.clip * scale;
    const rc = (r > lim ? lim : r < -lim ? -lim : r) * learn;
    this.level += aL * rc;
    if (this.season) {
      // A phase's first observation initialises its offset with the whole residual: clipped, a
      // strong daily shape would take many periods to learn and alarm every day meanwhile.
      const seen = ++this.seasonCount[ph];
      this.season[ph] += seen === 1 && c.seasonInit ? r * learn : Math.max(this.aSeason, 1 / seen) * (1 - aL) * rc;
    }
    const ar = Math.abs(rc) * MAD_TO_SIGMA;
    this.scale += learn * aS * (ar - this.scale);
    if (c.driftHalfLife > 0) this.baseline += aD * (this.level - this.baseline);
    if (kind === K_SHIFT && this.alarm?.alarmed && (hi > lo ? this.runHi : this.runLo) >= c.shiftAbsorbSteps) {
      // A level shift that was alarmed on and lasted: the new level is the normal from now on
      // (clipped learning would take thousands of steps and hide anything on top of it).
      this.level += hi > lo ? this.sumHi / this.runHi : this.sumLo / this.runLo;
      this.baseline = this.level;
      this.cusumHi = this.cusumLo = 0;
      this.runHi = this.runLo = 0;
      this.sumHi = this.sumLo = 0;
      this.alarm.forgetEpisode();
    }

    this.z = z;
    this.zEff = zEff;
    this.score = score;
    this.expected = this.toUnits(expected);
    this.ready = true;
    this.kindCode = gap && kind === K_NONE ? K_GAP : kind;
    return score;
  }
}
