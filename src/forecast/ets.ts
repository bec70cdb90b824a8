/**
 * Exponential smoothing in innovations state-space form (Hyndman et al., "Forecasting with
 * Exponential Smoothing", 2008): additive or multiplicative error, none / additive / damped trend,
 * none / additive / multiplicative season. Smoothing parameters are estimated by maximum
 * likelihood (Nelder–Mead); initial states come from a classical decomposition of the first
 * seasons; the model is chosen by AICc.
 */
import type { Member } from './member.js';
import { logit, nelderMead, sigmoid } from './util.js';

/** One ETS specification: error, trend and season type plus the season length (1 when none). */
export interface EtsSpec {
  readonly error: 'A' | 'M';
  readonly trend: 'N' | 'A' | 'Ad';
  readonly season: 'N' | 'A' | 'M';
  readonly m: number;
}

interface EtsState {
  l: number;
  b: number;
  s: Float64Array;
  /** Index into s of the seasonal term for the next observation. */
  pos: number;
}

interface EtsParams {
  alpha: number;
  beta: number;
  gamma: number;
  phi: number;
}

/** The code of a spec such as `MAdM`. */
export function etsCode(spec: EtsSpec): string {
  return `${spec.error}${spec.trend}${spec.season}`;
}

function initialState(y: ArrayLike<number>, spec: EtsSpec): EtsState {
  const m = spec.season === 'N' ? 1 : spec.m;
  const s = new Float64Array(m).fill(spec.season === 'M' ? 1 : 0);
  if (spec.season !== 'N') {
    const cycles = Math.min(Math.floor(y.length / m), 4);
    const cycleMean: number[] = [];
    for (let c = 0; c < cycles; c++) {
      let sum = 0;
      for (let j = 0; j < m; j++) sum += y[c * m + j];
      cycleMean.push(sum / m);
    }
    for (let j = 0; j < m; j++) {
      let acc = 0;
      for (let c = 0; c < cycles; c++) acc += spec.season === 'M' ? y[c * m + j] / cycleMean[c] : y[c * m + j] - cycleMean[c];
      s[j] = acc / cycles;
    }
    const centre = s.reduce((a, v) => a + v, 0) / m;
    for (let j = 0; j < m; j++) s[j] = spec.season === 'M' ? s[j] / centre : s[j] - centre;
    const b = spec.trend === 'N' || cycles < 2 ? 0 : (cycleMean[cycles - 1] - cycleMean[0]) / ((cycles - 1) * m);
    return { l: cycleMean[0] - (b * (m + 1)) / 2, b, s, pos: 0 };
  }
  // Non-seasonal: a line through the first few points gives level and slope just before t = 0.
  const k = Math.min(y.length, 10);
  let sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (let t = 0; t < k; t++) {
    sx += t; sy += y[t]; sxx += t * t; sxy += t * y[t];
  }
  const slope = spec.trend === 'N' || k < 3 ? 0 : (k * sxy - sx * sy) / (k * sxx - sx * sx);
  const l = spec.trend === 'N' ? sy / k : sy / k - slope * ((k - 1) / 2 + 1);
  return { l, b: slope, s, pos: 0 };
}

// The one-step forecast of the latest step() call; a module variable avoids an allocation per step.
let lastMu = 0;

/** One filtering step on y; returns the error term and leaves the one-step forecast in lastMu. */
function step(spec: EtsSpec, p: EtsParams, st: EtsState, y: number): number {
  const trend = spec.trend;
  const season = spec.season;
  const phib = trend === 'N' ? 0 : trend === 'A' ? st.b : p.phi * st.b;
  const base = st.l + phib;
  const sv = st.s[st.pos];
  const mu = season === 'M' ? base * sv : season === 'A' ? base + sv : base;
  lastMu = mu;
  let e: number;
  if (spec.error === 'A') {
    e = y - mu;
    if (season === 'M') {
      st.l = base + (p.alpha * e) / sv;
      st.b = phib + (p.beta * e) / sv;
      st.s[st.pos] = sv + (p.gamma * e) / base;
    } else {
      st.l = base + p.alpha * e;
      st.b = phib + p.beta * e;
      if (season === 'A') st.s[st.pos] = sv + p.gamma * e;
    }
  } else {
    e = (y - mu) / mu;
    if (season === 'M') {
      st.l = base * (1 + p.alpha * e);
      st.b = phib + p.beta * base * e;
      st.s[st.pos] = sv * (1 + p.gamma * e);
    } else {
      const scale = season === 'A' ? base + sv : base;
      st.l = base + p.alpha * scale * e;
      st.b = phib + p.beta * scale * e;
      if (season === 'A') st.s[st.pos] = sv + p.gamma * scale * e;
    }
  }
  if (++st.pos === st.s.length) st.pos = 0;
  return e;
}

function forecastFrom(spec: EtsSpec, p: EtsParams, st: EtsState, h: number): number[] {
  const out = new Array<number>(h);
  let damp = 0;
  let phiPow = 1;
  for (let i = 1; i <= h; i++) {
    if (spec.trend === 'A') damp = i;
    else if (spec.trend === 'Ad') {
      phiPow *= p.phi;
      damp += phiPow;
    }
    const base = st.l + damp * st.b;
    const sv = st.s[(st.pos + i - 1) % st.s.length];
    out[i - 1] = spec.season === 'M' ? base * sv : spec.season === 'A' ? base + sv : base;
  }
  return out;
}

function cloneState(st: EtsState): EtsState {
  return { l: st.l, b: st.b, s: Float64Array.from(st.s), pos: st.pos };
}

/** -2 log-likelihood (up to a constant) of the spec with these parameters; Infinity when unstable. */
function loglik(y: ArrayLike<number>, spec: EtsSpec, p: EtsParams, init: EtsState): number {
  const st = cloneState(init);
  let sse = 0;
  let logmu = 0;
  const multiplicative = spec.error === 'M';
  for (let t = 0; t < y.length; t++) {
    const e = step(spec, p, st, y[t]);
    if (multiplicative) {
      if (!(lastMu > 0)) return Infinity;
      logmu += Math.log(lastMu);
    }
    sse += e * e;
  }
  if (!Number.isFinite(sse)) return Infinity;
  const n = y.length;
  return n * Math.log(Math.max(sse / n, 1e-300)) + 2 * logmu;
}

function decode(spec: EtsSpec, theta: number[]): EtsParams {
  const alpha = 0.0001 + 0.9998 * sigmoid(theta[0]);
  let i = 1;
  const beta = spec.trend === 'N' ? 0 : alpha * 0.999 * sigmoid(theta[i++]);
  const gamma = spec.season === 'N' ? 0 : (1 - alpha) * 0.999 * sigmoid(theta[i++]);
  const phi = spec.trend === 'Ad' ? 0.8 + 0.18 * sigmoid(theta[i++]) : 1;
  return { alpha, beta, gamma, phi };
}

/** A fitted ETS member plus its AICc, for model choice. */
export interface EtsFit {
  readonly member: Member;
  readonly aicc: number;
  readonly spec: EtsSpec;
}

/**
 * Fits one ETS specification to finite data `y`. Returns null when the data cannot support it
 * (multiplicative parts need strictly positive data; a season needs two full cycles).
 */
export function fitEtsSpec(y: ArrayLike<number>, spec: EtsSpec, maxEval = 200): EtsFit | null {
  const n = y.length;
  if (spec.season !== 'N' && n < 2 * spec.m + 2) return null;
  if (spec.error === 'M' || spec.season === 'M') {
    for (let t = 0; t < n; t++) if (!(y[t] > 0)) return null;
  }
  const init = initialState(y, spec);
  const theta0 = [logit(0.2)];
  if (spec.trend !== 'N') theta0.push(logit(0.1));
  if (spec.season !== 'N') theta0.push(logit(0.05));
  if (spec.trend === 'Ad') theta0.push(logit(0.5));
  const best = nelderMead((th) => loglik(y, spec, decode(spec, th), init), theta0, maxEval, 1);
  if (!Number.isFinite(best.fx)) return null;
  const p = decode(spec, best.x);
  const st = cloneState(init);
  for (let t = 0; t < n; t++) step(spec, p, st, y[t]);
  const k = theta0.length + 1 + (spec.trend === 'N' ? 0 : 1) + (spec.season === 'N' ? 0 : spec.m - 1) + 1;
  const aicc = n - k - 1 > 0 ? best.fx + 2 * k + (2 * k * (k + 1)) / (n - k - 1) : Infinity;
  const name = `ets(${etsCode(spec)}${spec.season === 'N' ? '' : `,${spec.m}`})`;
  const member: Member = {
    name,
    update(x: number) {
      step(spec, p, st, x);
      // A multiplicative model must not collapse to a non-positive level; fall back to the point.
      if ((spec.error === 'M' || spec.season === 'M') && !(st.l > 0)) st.l = Math.max(x, 1e-9);
    },
    forecast(h: number) {
      return forecastFrom(spec, p, st, h);
    },
  };
  return { member, aicc, spec };
}

/**
 * Fits the candidate ETS specifications for season length m (1 or less: non-seasonal) and
 * returns the one with the lowest AICc, or null when none fits. Multiplicative forms are tried
 * only on strictly positive data and not at all with `additiveOnly`.
 */
export function fitAutoEts(y: ArrayLike<number>, m: number, opts: { seasonal?: boolean; damped?: boolean; additiveOnly?: boolean } = {}): EtsFit | null {
  const seasons: EtsSpec['season'][] = m > 1 && opts.seasonal !== false ? ['N', 'A', 'M'] : ['N'];
  const trends: EtsSpec['trend'][] = opts.damped === false ? ['N'] : ['N', 'Ad'];
  let positive = true;
  for (let t = 0; t < y.length; t++) if (!(y[t] > 0)) positive = false;
  let best: EtsFit | null = null;
  for (const error of positive && !opts.additiveOnly ? (['A', 'M'] as const) : (['A'] as const)) {
    for (const trend of trends) {
      for (const season of seasons) {
        if (season === 'M' && (!positive || error === 'A')) continue;
        const fit = fitEtsSpec(y, { error, trend, season, m: season === 'N' ? 1 : m });
        if (fit && (!best || fit.aicc < best.aicc)) best = fit;
      }
    }
  }
  return best;
}
