/**
 * The forecasting engine: prepares a series, fits a robust combination of models (or one model on
 * request), calibrates prediction intervals on a rolling holdout at the end of the history, and
 * keeps the fitted models current with O(1) online updates. Pure and deterministic: no I/O, no clock.
 */
import type { Forecast, ForecastInterval } from '../model/forecast.js';
import { ShadowplaneError } from '../core/errors.js';
import type { Member } from './member.js';
import { fitNaive, fitOnLog, fitSeasonalNaive } from './member.js';
import { fitAutoEts } from './ets.js';
import { fitTheta } from './theta.js';
import { fitArima } from './arima.js';
import { fitMstl } from './mstl.js';
import { detectSeasons, fillGaps, removeSpikes } from './prepare.js';
import { quantileSorted } from '../core/quantile.js';
import { median, normalQuantile } from './util.js';

/** The models the engine can fit; `auto` is the robust combination. */
export type ForecastMethod = 'auto' | 'naive' | 'snaive' | 'ets' | 'theta' | 'arima' | 'mstl';

/** Options of fitForecaster. Every field is optional; defaults suit hourly and minutely load series. */
export interface FitOptions {
  /** Season lengths in steps (e.g. [24, 168]); omitted: detected from the ACF; []: no season. */
  readonly seasons?: number[];
  /** Keep forecasts and bounds ≥ 0. Default: true when every observed value is ≥ 0. */
  readonly nonNegative?: boolean;
  /** Longest horizon the intervals are calibrated for (longer ones are extrapolated). Default 48. */
  readonly horizon?: number;
  /** Model to use; default `auto` (median of several strong models). */
  readonly method?: ForecastMethod;
  /** Factor on every interval half-width, calibrated on M4 Hourly training data. */
  readonly intervalScale?: number;
  /** Only the last `maxHistory` points are used for fitting. Default max(3000, 8 × longest season). */
  readonly maxHistory?: number;
}

/** What the refit schedule looks at; see FittedForecaster.refitState and shouldRefit. */
export interface RefitState {
  /** Points absorbed by update() since the fit. */
  readonly pointsSinceFit: number;
  /** Points the model was fitted on. */
  readonly fittedOn: number;
  /** Longest season in use (1 when none). */
  readonly season: number;
  /** Recent one-step error scale over the calibrated one (≈1 while the model still fits). */
  readonly errorRatio: number;
}

/** A fitted model: forecasts with calibrated intervals and absorbs new points in O(1). */
export interface FittedForecaster {
  /** Name of the model or combination in use. */
  readonly model: string;
  /** Fallbacks, detected seasons and cleaning done, in words. */
  readonly notes: readonly string[];
  /** Season lengths in use. */
  readonly seasons: readonly number[];
  /**
   * Forecast of steps 1..horizon with central intervals at `levels` percent (default 80 and 95).
   * Throws SHADOWPLANE_ERR_VALIDATION for a horizon that is not a positive integer or a level
   * outside (0, 100).
   */
  predict(horizon: number, levels?: number[]): Forecast;
  /** The p-quantile (0 < p < 1) of the forecast distribution for steps 1..horizon. */
  quantile(p: number, horizon: number): number[];
  /** Absorbs the next observation in O(1); NaN (or any non-finite value) marks a gap. */
  update(x: number): void;
  /** Inputs of the refit schedule. */
  refitState(): RefitState;
}

/** Models that can sit in a combination (`-long`: on the longest season; `-log`: on log data). */
export type MemberKind = Exclude<ForecastMethod, 'auto'> | 'snaive-long' | 'arima-log' | 'mstl-log';

/**
 * The members of the default combination, chosen on the M4 Hourly training series (see
 * docs/forecasting.md): seasonal naive on the shortest and on the longest season, seasonal ARIMA
 * on raw and on log data, and the multi-seasonal decomposition on log data. A member that does
 * not apply (no second season, non-positive data) is left out or replaced by its raw-data form.
 */
export const COMBINATION: readonly MemberKind[] = ['snaive', 'snaive-long', 'arima', 'arima-log', 'mstl-log'];

/** Default interval factor, chosen on the last 48 points of the M4 Hourly training series. */
export const DEFAULT_INTERVAL_SCALE = 1.35;

const MIN_POINTS_FOR_MODELS = 8;
// Online robustness: a point further than CLIP_SIGMAS one-step error scales from the forecast is
// clipped before it reaches the models, unless CLIP_RUN points in a row were (a level shift).
const CLIP_SIGMAS = 6;
const CLIP_RUN = 3;

function buildMember(kind: MemberKind, y: Float64Array, seasons: number[]): Member | null {
  const m = seasons[0] ?? 1;
  const longest = seasons[seasons.length - 1] ?? 1;
  switch (kind) {
    case 'naive':
      return fitNaive(y);
    case 'snaive':
      return m > 1 && y.length >= m ? fitSeasonalNaive(y, m) : null;
    case 'snaive-long':
      return longest > m && y.length >= longest ? fitSeasonalNaive(y, longest) : null;
    case 'ets':
      return fitAutoEts(y, m)?.member ?? null;
    case 'theta':
      return fitTheta(y, m);
    case 'arima':
      return fitArima(y, m, longest);
    case 'arima-log':
      return fitOnLog(y, (ly) => fitArima(ly, m, longest));
    case 'mstl':
      return seasons.length ? fitMstl(y, seasons) : null;
    case 'mstl-log':
      return seasons.length ? (fitOnLog(y, (ly) => fitMstl(ly, seasons)) ?? fitMstl(y, seasons)) : null;
  }
}

function combine(forecasts: number[][], h: number): number[] {
  if (forecasts.length === 1) return forecasts[0].slice(0, h);
  const out = new Array<number>(h);
  const col = new Array<number>(forecasts.length);
  for (let i = 0; i < h; i++) {
    for (let k = 0; k < forecasts.length; k++) col[k] = forecasts[k][i];
    out[i] = median(col);
  }
  return out;
}

function badInput(path: string, message: string): ShadowplaneError {
  return new ShadowplaneError('SHADOWPLANE_ERR_VALIDATION', `forecast: ${path} ${message}`, [{ path, message }]);
}

/** Calibrated error model: scale per step and pooled standardized errors. */
class Calibration {
  constructor(
    private readonly scale: Float64Array,
    private readonly z: Float64Array,
    private readonly factor: number,
  ) {}

  /** Offset from the mean for quantile p at step h (1-based). */
  offset(p: number, h: number): number {
    const H = this.scale.length;
    const s = h <= H ? this.scale[h - 1] : this.scale[H - 1] * Math.sqrt(h / H);
    if (!(s > 0)) return 0;
    return s * this.factor * this.standardQuantile(p);
  }

  oneStepScale(): number {
    return this.scale[0];
  }

  private standardQuantile(p: number): number {
    const n = this.z.length;
    if (n < 40) return normalQuantile(p);
    const lo = 0.5 / n;
    if (p < lo) return (quantileSorted(this.z, lo) * normalQuantile(p)) / normalQuantile(lo);
    if (p > 1 - lo) return (quantileSorted(this.z, 1 - lo) * normalQuantile(p)) / normalQuantile(1 - lo);
    return quantileSorted(this.z, p);
  }

  /** From signed errors per step (errors[h-1] holds all h-step errors). */
  static fromErrors(errors: number[][], factor: number): Calibration {
    const H = errors.length;
    const scale = new Float64Array(H);
    let prev = 0;
    for (let h = 0; h < H; h++) {
      const e = errors[h];
      let ss = 0;
      for (const v of e) ss += v * v;
      const rms = e.length ? Math.sqrt(ss / e.length) : prev;
      // Uncertainty does not shrink with the horizon; a noisy late step must not narrow the band.
      prev = Math.max(prev, rms);
      scale[h] = prev;
    }
    const z: number[] = [];
    for (let h = 0; h < H; h++) if (scale[h] > 0) for (const v of errors[h]) z.push(v / scale[h]);
    return new Calibration(scale, Float64Array.from(z).sort(), factor);
  }

  /** Random-walk-like bands from one-step scale s1 when there is no holdout to learn from. */
  static randomWalk(s1: number, H: number, factor: number): Calibration {
    const scale = new Float64Array(H);
    for (let h = 0; h < H; h++) scale[h] = s1 * Math.sqrt(h + 1);
    return new Calibration(scale, new Float64Array(0), factor);
  }
}

/**
 * Fits a forecaster to `values` (oldest first; NaN marks a gap). With the default method it fits
 * ETS, Theta, seasonal ARIMA and multi-seasonal decomposition models on all but the last part of
 * the history, takes their median, rolls through the held-out part with online updates to learn
 * the error distribution per step, and ends ready to forecast from the last point.
 * Short histories fall back to simpler models (seasonal naive, then naive) and say so in `notes`.
 * Throws SHADOWPLANE_ERR_SERIES_TOO_SHORT when there is no finite value at all and
 * SHADOWPLANE_ERR_VALIDATION for malformed options.
 */
export function fitForecaster(values: ArrayLike<number>, options: FitOptions = {}): FittedForecaster {
  const notes: string[] = [];
  const horizon = options.horizon ?? 48;
  if (!Number.isInteger(horizon) || horizon < 1) throw badInput('horizon', 'must be a positive integer');
  const factor = options.intervalScale ?? DEFAULT_INTERVAL_SCALE;
  if (!(factor > 0)) throw badInput('intervalScale', 'must be a positive number');
  if (options.seasons && options.seasons.some((m) => !Number.isInteger(m) || m < 1)) throw badInput('seasons', 'must be positive integers');
  const method = options.method ?? 'auto';

  let first = -1;
  let last = -1;
  let observedNonNegative = true;
  for (let i = 0; i < values.length; i++) {
    if (Number.isFinite(values[i])) {
      if (first < 0) first = i;
      last = i;
      if (values[i] < 0) observedNonNegative = false;
    }
  }
  if (first < 0) throw new ShadowplaneError('SHADOWPLANE_ERR_SERIES_TOO_SHORT', 'forecast: the series has no finite value to fit');
  const nonNegative = options.nonNegative ?? observedNonNegative;

  let y = fillGaps(Array.prototype.slice.call(values, first, last + 1) as number[]);
  const gaps = y.length - countFinite(values, first, last);
  if (gaps > 0) notes.push(`${gaps} missing point(s) interpolated`);
  const requestedSeasons = options.seasons ? [...new Set(options.seasons)].filter((m) => m > 1).sort((a, b) => a - b) : undefined;
  const maxHistory = options.maxHistory ?? Math.max(3000, 8 * Math.max(1, ...(requestedSeasons ?? [1])));
  if (y.length > maxHistory) {
    y = y.slice(y.length - maxHistory);
    notes.push(`fitted on the last ${maxHistory} points`);
  }
  const n = y.length;

  let seasons = requestedSeasons ?? detectSeasons(y);
  if (!requestedSeasons) notes.push(seasons.length ? `detected season(s) ${seasons.join(',')}` : 'no season detected');

  // Hold out the end of the history to learn how wrong the models are, step by step.
  const holdout = n >= 4 * MIN_POINTS_FOR_MODELS ? Math.min(2 * horizon, Math.floor(n / 4)) : 0;
  const n0 = n - holdout;
  const usable = seasons.filter((m) => n0 >= 2 * m + 2);
  if (usable.length < seasons.length) {
    notes.push(`season(s) ${seasons.filter((m) => !usable.includes(m)).join(',')} ignored: fewer than two full cycles (short history)`);
  }
  seasons = usable;

  const cleaned = removeSpikes(y, seasons[0] ?? 1);
  if (cleaned.replaced > 0) notes.push(`${cleaned.replaced} spike(s) replaced before fitting`);
  y = cleaned.y;

  // Members are fitted twice: on the history without the holdout (to learn the error
  // distribution honestly), then on the whole history for the forecast itself.
  const fitMembers = (part: Float64Array, say: boolean): Member[] => {
    const members: Member[] = [];
    if (part.length < MIN_POINTS_FOR_MODELS) {
      members.push(fitNaive(part));
      if (say) notes.push(`short history (${n} points): naive forecast`);
      return members;
    }
    for (const kind of method === 'auto' ? COMBINATION : [method]) {
      const member = buildMember(kind, part, seasons);
      if (member) members.push(member);
      else if (say && method !== 'auto') notes.push(`${kind} not applicable to this series`);
    }
    if (members.length === 0) {
      const fallback = buildMember('snaive', part, seasons) ?? fitNaive(part);
      members.push(fallback);
      if (say) notes.push(`fell back to ${fallback.name}`);
    }
    return members;
  };
  const calibration = calibrate(fitMembers(y.subarray(0, n0), false), y, n0, horizon, factor);
  if (!calibration.learned) notes.push('intervals from a random-walk approximation (history too short to calibrate)');
  const members = fitMembers(y, true);
  const model = members.length === 1 ? members[0].name : `median(${members.map((m) => m.name).join(', ')})`;
  const forecaster = new EngineForecaster(members, calibration.calibration, n, nonNegative, seasons, model, notes);
  for (let i = last + 1; i < values.length; i++) forecaster.absorbGap();
  return forecaster;
}

/**
 * Rolls members fitted on y[0, n0) through y[n0, n) with online updates, forecasting from every
 * stride-th origin, and turns the errors per step into a Calibration.
 */
function calibrate(members: Member[], y: Float64Array, n0: number, horizon: number, factor: number): { calibration: Calibration; learned: boolean } {
  const n = y.length;
  let diffSq = 0;
  for (let t = 1; t < n0; t++) diffSq += (y[t] - y[t - 1]) ** 2;
  const fallback = Calibration.randomWalk(n0 > 1 ? Math.sqrt(diffSq / (n0 - 1)) : 0, horizon, factor);
  const roller = new EngineForecaster(members, fallback, n0, false, [], '', []);
  const errors: number[][] = Array.from({ length: horizon }, () => []);
  const stride = Math.max(1, Math.floor((n - n0) / 48));
  for (let t = n0; t < n; t++) {
    if ((t - n0) % stride === 0) {
      const f = roller.meanForecast(Math.min(horizon, n - t));
      for (let h = 0; h < f.length; h++) errors[h].push(y[t + h] - f[h]);
    }
    roller.update(y[t]);
  }
  if (errors[0].length < 8) return { calibration: fallback, learned: false };
  return { calibration: Calibration.fromErrors(errors, factor), learned: true };
}

function countFinite(values: ArrayLike<number>, from: number, to: number): number {
  let c = 0;
  for (let i = from; i <= to; i++) if (Number.isFinite(values[i])) c++;
  return c;
}

class EngineForecaster implements FittedForecaster {
  readonly notes: string[];
  private pointsSinceFit = 0;
  private clipRun = 0;
  private recentSq = 0;
  private recentCount = 0;

  constructor(
    private readonly members: Member[],
    private readonly calibration: Calibration,
    private readonly fittedOn: number,
    private readonly nonNegative: boolean,
    readonly seasons: number[],
    readonly model: string,
    notes: string[],
  ) {
    this.notes = notes;
  }

  meanForecast(h: number): number[] {
    return combine(
      this.members.map((m) => m.forecast(h)),
      h,
    );
  }

  /** A missing point: every member absorbs its own one-step forecast. */
  absorbGap(): void {
    for (const m of this.members) m.update(m.forecast(1)[0]);
  }

  private absorb(x: number): void {
    const f1 = this.meanForecast(1)[0];
    const s1 = this.calibration.oneStepScale();
    this.recentSq = 0.98 * this.recentSq + 0.02 * (x - f1) ** 2;
    this.recentCount++;
    let value = x;
    if (s1 > 0 && Math.abs(x - f1) > CLIP_SIGMAS * s1) {
      // A lone spike is clipped; a run of CLIP_RUN or more is a level shift and passes.
      if (this.clipRun < CLIP_RUN) value = f1 + Math.sign(x - f1) * CLIP_SIGMAS * s1;
      this.clipRun++;
    } else {
      this.clipRun = 0;
    }
    for (const m of this.members) m.update(value);
  }

  update(x: number): void {
    if (Number.isFinite(x)) this.absorb(x);
    else this.absorbGap();
    this.pointsSinceFit++;
  }

  predict(horizon: number, levels: number[] = [80, 95]): Forecast {
    if (!Number.isInteger(horizon) || horizon < 1) throw badInput('horizon', 'must be a positive integer');
    for (const level of levels) if (!(level > 0 && level < 100)) throw badInput('levels', `${level} must be a percentage strictly between 0 and 100`);
    const mean = this.meanForecast(horizon).map((v) => this.floor(v));
    const intervals: ForecastInterval[] = levels.map((level) => {
      const a = (1 - level / 100) / 2;
      return {
        level,
        lo: mean.map((v, h) => this.floor(v + this.calibration.offset(a, h + 1))),
        hi: mean.map((v, h) => this.floor(v + this.calibration.offset(1 - a, h + 1))),
      };
    });
    return { mean, intervals, model: this.model, notes: [...this.notes] };
  }

  quantile(p: number, horizon: number): number[] {
    if (!(p > 0 && p < 1)) throw badInput('p', 'must be strictly between 0 and 1');
    if (!Number.isInteger(horizon) || horizon < 1) throw badInput('horizon', 'must be a positive integer');
    return this.meanForecast(horizon).map((v, h) => this.floor(this.floor(v) + this.calibration.offset(p, h + 1)));
  }

  refitState(): RefitState {
    const s1 = this.calibration.oneStepScale();
    const ratio = this.recentCount >= 10 && s1 > 0 ? Math.sqrt(this.recentSq / (1 - 0.98 ** this.recentCount)) / s1 : 1;
    return { pointsSinceFit: this.pointsSinceFit, fittedOn: this.fittedOn, season: Math.max(1, ...this.seasons), errorRatio: ratio };
  }

  private floor(v: number): number {
    return this.nonNegative && v < 0 ? 0 : v;
  }
}

/** Refit policy: how often re-estimation is due, and when drift forces it earlier. */
export interface RefitPolicy {
  /** Refit after this many new points at the latest. Default: max(2 × longest season, 288). */
  readonly every?: number;
  /** Refit early when the recent one-step error scale exceeds this multiple of the calibrated one (default 2). */
  readonly driftRatio?: number;
  /** Never refit earlier than this many points after a fit (default 30). */
  readonly minPoints?: number;
}

/**
 * The refit schedule: true when a forecaster fitted `state.pointsSinceFit` points ago should be
 * re-estimated — on the regular cadence, or early when its recent errors have drifted well above
 * what it was calibrated for. Pure; never throws.
 */
export function shouldRefit(state: RefitState, policy: RefitPolicy = {}): boolean {
  const every = policy.every ?? Math.max(2 * state.season, 288);
  const minPoints = policy.minPoints ?? 30;
  if (state.pointsSinceFit >= every) return true;
  return state.pointsSinceFit >= minPoints && state.errorRatio > (policy.driftRatio ?? 2);
}
