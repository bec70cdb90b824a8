/**
 * From a stream of raw anomaly evidence (an equivalent z per point) to an alarm score that an
 * operator can act on: high at the start of an episode, once, and quiet otherwise. O(1) per point.
 *
 * 1. **Likelihood** (after HTM's anomaly likelihood): the mean of the last `shortWindow` raw values
 *    is compared with the long-term distribution of that mean (EW mean and variance, half-life
 *    `longHalfLife`); its normal tail probability P, kept as `-log10 P` (the surprise), says how
 *    unusual the recent evidence is for this series. A single point is judged the same way against
 *    the long-term distribution of single values, so an isolated spike is not averaged away.
 * 2. **Episodes**: the first point whose score reaches `alarmScore` while armed is the alarm; the
 *    rest of the episode scores at most `1 - alarmScore` times its surprise score (below the
 *    threshold), until the surprise stayed under `rearmScore` for `rearmSteps` points in a row.
 *
 * See docs/detection.md.
 */
import { normalCdf } from './risk.js';

/** Knobs of the alarm stage; `DEFAULT_ALARM` is the untuned default. */
export interface AlarmConfig {
  /** Points in the short-term mean of the raw evidence. */
  readonly shortWindow: number;
  /** Half-life, in points, of the long-term distribution the short-term mean is compared with. */
  readonly longHalfLife: number;
  /**
   * Raw values are divided by this and capped at 1 before they enter the statistics: evidence
   * beyond it is simply "unexpected" (as HTM's raw score), so one wild value cannot dominate and
   * heavy-tailed series do not look extreme for what they routinely do.
   */
  readonly rawCap: number;
  /** Floor of the sd of single raw values (after the cap); the short-term mean's is this / sqrt(shortWindow). */
  readonly minSd: number;
  /** The surprise (-log10 of the tail probability) that scores 0.5, and the steepness of the map. */
  readonly surprise50: number;
  readonly power: number;
  /** Score at which an armed stage alarms (the default alert threshold). */
  readonly alarmScore: number;
  /** After an alarm the stage re-arms once the score stayed below this for `rearmSteps` points. */
  readonly rearmScore: number;
  readonly rearmSteps: number;
  /**
   * After an episode ends, until `cooldown` points after its alarm, only evidence `escalation`
   * times as surprising as the alarm's (in -log10 probability) alarms again: a recurring burst of
   * the same size is one incident, a worse one is news.
   */
  readonly cooldown: number;
  readonly escalation: number;
  /**
   * The cooldown lasts at most this long (ms) once the sampling step is known (`setStepMs`): 300
   * points are a day at 5-min steps but almost two weeks at hourly ones, longer than an incident.
   */
  readonly cooldownMs: number;
  /** While an episode lasts, points enter the long-term statistics clipped to this many sd above the mean. */
  readonly learnClip: number;
}

/** Default alarm knobs. */
export const DEFAULT_ALARM: AlarmConfig = {
  shortWindow: 10,
  longHalfLife: 2000,
  rawCap: 40,
  minSd: 0.006,
  surprise50: 6,
  power: 3,
  alarmScore: 0.5,
  rearmScore: 0.2,
  rearmSteps: 20,
  cooldown: 300,
  escalation: 2,
  cooldownMs: 2 * 86_400_000,
  learnClip: 4,
};

/** Throws a RangeError naming the first alarm knob that is out of range. */
export function validateAlarmConfig(c: AlarmConfig): void {
  if (!(Number.isInteger(c.shortWindow) && c.shortWindow >= 1)) throw new RangeError('alarm config shortWindow must be an integer >= 1');
  if (!(Number.isInteger(c.rearmSteps) && c.rearmSteps >= 1)) throw new RangeError('alarm config rearmSteps must be an integer >= 1');
  for (const k of ['longHalfLife', 'rawCap', 'minSd', 'escalation', 'surprise50', 'power', 'learnClip', 'cooldownMs'] as const) {
    if (!(Number.isFinite(c[k]) && c[k] > 0)) throw new RangeError(`alarm config ${k} must be a positive number`);
  }
  if (!(c.alarmScore > 0 && c.alarmScore < 1)) throw new RangeError('alarm config alarmScore must be in (0, 1)');
  if (!(c.rearmScore > 0 && c.rearmScore <= c.alarmScore)) throw new RangeError('alarm config rearmScore must be in (0, alarmScore]');
}

const LOG10_SQRT_2PI = Math.log10(Math.sqrt(2 * Math.PI));
/** -log10(2): a two-sided tail is twice the one-sided one. */
const LOG10_2_NEG = -Math.log10(2);

/** -log10 Q(x) from the normal CDF (|error| < 1.5e-7): fine where Q is not tiny. */
function cdfSurprise(x: number): number {
  return -Math.log10(normalCdf(-x));
}

/** -log10 Q(x) on [0, TABLE_MAX] every 1/TABLE_STEPS: most points fall here, and a table is cheap. */
const TABLE_MAX = 3;
const TABLE_STEPS = 200;
const TABLE = Float64Array.from({ length: TABLE_MAX * TABLE_STEPS + 2 }, (_, i) => cdfSurprise(i / TABLE_STEPS));

/** -log10 of the upper normal tail Q(x) = P(N(0,1) >= x) for x >= 0, accurate in the far tail (no underflow). */
export function normalSurprise(x: number): number {
  if (x < TABLE_MAX) {
    if (!(x > 0)) return x === 0 ? TABLE[0] : cdfSurprise(x);
    const f = x * TABLE_STEPS;
    const i = f | 0;
    return TABLE[i] + (f - i) * (TABLE[i + 1] - TABLE[i]);
  }
  // Laplace's continued fraction Q(x) = phi(x) / (x + 1/(x + 2/(x + 3/(x + ...)))), in log space.
  let cf = x;
  for (let k = 16; k >= 1; k--) cf = x + k / cf;
  return (x * x / 2) * Math.LOG10E + LOG10_SQRT_2PI + Math.log10(cf);
}

/** Streaming mean and variance with EW weights (at least 1/n early, so the start is unbiased). */
class EwMoments {
  mean = 0;
  variance = 0;
  /** sqrt(variance), kept with it. */
  sd = 0;
  n = 0;
  constructor(private readonly alpha: number) {}
  copyFrom(o: EwMoments): void {
    this.mean = o.mean;
    this.variance = o.variance;
    this.sd = o.sd;
    this.n = o.n;
  }
  /** Keeps the estimates as a prior worth `weight` points: new points soon outweigh them. */
  discount(weight: number): void {
    if (this.n > weight) this.n = weight;
  }
  add(x: number): void {
    this.n++;
    const a = Math.max(this.alpha, 1 / this.n);
    const d = x - this.mean;
    this.mean += a * d;
    this.variance = (1 - a) * (this.variance + a * d * d);
    this.sd = Math.sqrt(this.variance);
  }
}

const ARMED = 0, EPISODE = 1, COOLDOWN = 2;
/** After `relearn` the old statistics count as this many points. */
const RELEARN_PRIOR = 20;

/** One series' alarm stage. `step(raw)` returns the alarm score of this point, then learns it. */
export class EpisodeAlarm {
  private readonly c: AlarmConfig;
  private readonly ring: Float64Array;
  private pos = 0;
  private filled = 0;
  private sum = 0;
  private readonly shortStats: EwMoments;
  private readonly shortFloor: number;
  private readonly pointStats: EwMoments;
  /** The statistics as they were at the last alarm (restored by `forgetEpisode`). */
  private readonly shortAtAlarm: EwMoments;
  private readonly pointAtAlarm: EwMoments;
  private state = ARMED;
  /** Points in a row scoring under `rearmScore` during an episode, and points since the last alarm. */
  private quiet = 0;
  private since = 0;
  private alarmSurprise = 0;
  /** Points of the cooldown: `cooldown`, fewer once the step says that is longer than `cooldownMs`. */
  private cooldown: number;
  /** -log10 tail probability of the last point's evidence (the larger of short-term and point). */
  surprise = 0;
  /** Score of the last point before the episode rule (what an ungated detector would say). */
  rawScore = 0;
  /** True while an alarmed episode has not ended yet. */
  get inEpisode(): boolean {
    return this.state === EPISODE;
  }

  /** True from an alarm until the stage is armed again (episode and cooldown). */
  get alarmed(): boolean {
    return this.state !== ARMED;
  }

  constructor(config: Partial<AlarmConfig> = {}) {
    this.c = { ...DEFAULT_ALARM, ...config };
    validateAlarmConfig(this.c);
    this.cooldown = this.c.cooldown;
    this.ring = new Float64Array(this.c.shortWindow);
    const a = 1 - Math.exp(-Math.LN2 / this.c.longHalfLife);
    this.shortStats = new EwMoments(a);
    this.shortFloor = this.c.minSd / Math.sqrt(this.c.shortWindow);
    this.pointStats = new EwMoments(a);
    this.shortAtAlarm = new EwMoments(a);
    this.pointAtAlarm = new EwMoments(a);
  }

  /** The series' sampling step (ms): caps the cooldown at `cooldownMs`. */
  setStepMs(stepMs: number): void {
    if (stepMs > 0) this.cooldown = Math.max(1, Math.min(this.c.cooldown, Math.ceil(this.c.cooldownMs / stepMs)));
  }

  /**
   * The evidence since the last alarm was explained (a level shift the model has absorbed): the
   * statistics go back to what they were at the alarm, and the short-term window restarts.
   */
  forgetEpisode(): void {
    this.shortStats.copyFrom(this.shortAtAlarm);
    this.pointStats.copyFrom(this.pointAtAlarm);
    this.ring.fill(0);
    this.sum = 0;
    this.filled = 0;
  }

  /**
   * Forgets the long-term statistics (not the episode state): for evidence that was not comparable
   * with what follows, e.g. a seasonal model's first period, when every phase was still new.
   */
  relearn(): void {
    this.shortStats.discount(RELEARN_PRIOR);
    this.pointStats.discount(RELEARN_PRIOR);
  }

  /** Scores one point's raw evidence (>= 0; non-finite counts as 0) and learns it. */
  step(raw: number): number {
    const c = this.c;
    const x = raw >= c.rawCap ? 1 : raw > 0 ? raw / c.rawCap : 0;
    this.sum += x - this.ring[this.pos];
    this.ring[this.pos] = x;
    this.pos = this.pos + 1 === c.shortWindow ? 0 : this.pos + 1;
    if (this.filled < c.shortWindow) this.filled++;
    const m = this.sum / this.filled;

    const sS = this.surpriseOf(m, this.shortStats, this.shortFloor);
    // A single value is judged by its normal approximation too, but never as more surprising than
    // its equivalent z says (the approximation of a half-normal by a normal overstates its tail).
    const sP = Math.min(this.surpriseOf(x, this.pointStats, c.minSd), raw > 0 ? LOG10_2_NEG + normalSurprise(raw) : 0);
    const s = sS > sP ? sS : sP;
    this.surprise = s;
    const q = s / c.surprise50;
    const r = c.power === 3 ? q * q * q : Math.pow(q, c.power);
    const score = r === Infinity ? 1 : r / (1 + r);
    this.rawScore = score;

    // Episode state: armed -> (alarm) episode -> (rearmSteps quiet points) cooldown -> armed.
    let out = score;
    if (this.state === ARMED || (this.state === COOLDOWN && s >= c.escalation * this.alarmSurprise)) {
      if (score >= c.alarmScore) {
        this.state = EPISODE;
        this.alarmSurprise = s;
        this.shortAtAlarm.copyFrom(this.shortStats);
        this.pointAtAlarm.copyFrom(this.pointStats);
        this.quiet = 0;
        this.since = 0;
      }
    } else {
      out = score * c.alarmScore * 0.5;
    }
    if (this.state !== ARMED && this.since > 0) {
      this.quiet = score < c.rearmScore ? this.quiet + 1 : 0;
      if (this.state === EPISODE && this.quiet >= c.rearmSteps) this.state = COOLDOWN;
      if (this.state === COOLDOWN && this.since >= this.cooldown) this.state = ARMED;
    }
    this.since++;
    this.learn(this.shortStats, m, this.shortFloor);
    this.learn(this.pointStats, x, c.minSd);
    return out;
  }

  private surpriseOf(x: number, st: EwMoments, floor: number): number {
    if (st.n < 2) return 0;
    const sd = st.sd;
    const z = (x - st.mean) / (sd > floor ? sd : floor);
    return z > 0 ? normalSurprise(z) : 0;
  }

  /** Learns a value; during an episode winsorised at `learnClip` sd above the mean, so the anomaly does not widen the normal range. */
  private learn(st: EwMoments, x: number, floor: number): void {
    const sd = st.sd;
    const lim = st.mean + this.c.learnClip * (sd > floor ? sd : floor);
    st.add(st.n >= 2 && x > lim ? lim : x);
  }
}
