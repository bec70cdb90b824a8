/**
 * Multivariate streaming detector for one component (a machine or a service): one univariate
 * detector per metric, combined into a component score with attribution (which metrics drive it,
 * ranked). O(metrics) time and memory per point, no I/O. See docs/detection.md.
 */
import type { ComponentScore, Driver } from '../model/detect.js';
import { UnivariateDetector, zToScore, DEFAULT_UNIVARIATE, validateUnivariateConfig } from './univariate.js';
import type { UnivariateConfig } from './univariate.js';
import { SubspaceModel } from './subspace.js';
import type { SubspaceConfig } from './subspace.js';
import { DEFAULT_CALIBRATION, TailCalibrator, validateCalibrationConfig } from './calibrate.js';
import type { CalibrationConfig } from './calibrate.js';

/** Knobs of the component detector; `DEFAULT_COMPONENT` is the untuned default. */
export interface ComponentConfig {
  /**
   * Configuration shared by the per-metric detectors, over `DEFAULT_UNIVARIATE`. The default raises
   * the CUSUM slack to 3: with many autocorrelated metrics, a slack of 1 keeps some metric's CUSUM
   * at its cap most of the time (measured on SMD), which drowns the component score. It also keeps
   * 24 daily phases learned from clipped residuals: 288 phases cost SMD 0.458 -> 0.426 mean F1,
   * initialising each phase from its first point cost ASD 0.305 -> 0.290, and it models raw
   * values (the square-root scale lost on SMD's normalised metrics, e.g. machine-1-6 0.36 -> 0.20
   * at the train-fixed threshold) with CUSUM increments capped at 6 (the cap of 4.5 was chosen on
   * single series and not measured on SMD) and a scale floor of a whole value step (the single-series
   * 1/sqrt(12) was not measured on SMD either). With one signal the
   * component is that signal's univariate detector with `DEFAULT_UNIVARIATE` plus this knob's
   * explicit overrides only.
   */
  readonly univariate: Partial<UnivariateConfig>;
  /** The component's equivalent z is the root mean square of the `topK` largest metric z's. */
  readonly topK: number;
  /** Half-life (steps) of a causal EW smoothing of the component z; 0 = none. */
  readonly smoothingHalfLife: number;
  /** Metric z's above this cap are capped before combining (one wild metric cannot dominate). */
  readonly zCap: number;
  /** The streaming correlation (PCA-style) model, or null for none; needs at least 2 signals. */
  readonly subspace: Partial<SubspaceConfig> | null;
  /** Weight of the subspace z when combined with the per-metric z (root of the weighted sum of squares). */
  readonly subspaceWeight: number;
  /**
   * Calibration of the combined z into a tail probability under the component's own history, or
   * null for the fixed z map (`z50`, `power` of the univariate config) only. Until the calibrator
   * is ready the fixed z map is used.
   */
  readonly calibration: Partial<CalibrationConfig> | null;
  /** While the previous component score was >= 0.5, metric models learn at this rate (1 = as usual). */
  readonly anomalyLearnRate: number;
  /** At most this many drivers are reported, each with a score of at least `driverMinScore`. */
  readonly maxDrivers: number;
  readonly driverMinScore: number;
}

/** The default configuration, meant to work on unseen components without tuning. */
export const DEFAULT_COMPONENT: ComponentConfig = {
  univariate: { cusumSlack: 3, season: { periodMs: 86_400_000, buckets: 24, halfLifePeriods: 3 }, seasonInit: false, transform: 'none', cusumCap: 6, stepFloor: 1 },
  topK: 5,
  smoothingHalfLife: 0,
  zCap: 1e6,
  subspace: {},
  subspaceWeight: 3,
  calibration: {},
  anomalyLearnRate: 1,
  maxDrivers: 5,
  driverMinScore: 0.1,
};

/**
 * Scores a vector of metric values per point. The constructor throws RangeError on a bad config
 * or an empty/duplicated signal list; `update` throws RangeError when the vector length differs
 * from the signal count. Non-finite entries count as missing for that metric only.
 */
export class ComponentDetector {
  readonly component: string;
  readonly signals: readonly string[];
  private readonly c: ComponentConfig;
  private readonly detectors: UnivariateDetector[];
  private readonly top: Float64Array;
  private readonly aSmooth: number;
  private readonly z50: number;
  private readonly power: number;
  private readonly subspace: SubspaceModel | null;
  private readonly calibrator: TailCalibrator | null;
  private smoothed = 0;
  private started = false;
  /** One signal with its alarm stage: the component's score is that detector's score. */
  private readonly alarmed: boolean;

  /** Equivalent z of the last point (after combining and smoothing). */
  zEff = 0;
  /** Tail probability of the last point's z under the component's history (1 until calibrated). */
  tailProbability = 1;
  /** True when the last score came from the calibrated map rather than the fixed z map. */
  calibrated = false;
  score = 0;
  ready = false;

  /**
   * The last score before the alarm stage's episode rule (one signal: its detector's likelihood,
   * high for the whole episode); with several signals, the score. For consumers that track
   * episodes themselves (anomaly events, failure risk).
   */
  get ungatedScore(): number {
    return this.alarmed ? this.detectors[0].ungatedScore : this.score;
  }

  /** True when the last point came after a gap in time for some metric (its detector's gap rule). */
  get gapped(): boolean {
    return this.detectors.some((d) => d.gapped);
  }

  constructor(component: string, signals: readonly string[], config: Partial<ComponentConfig> = {}) {
    if (signals.length === 0) throw new RangeError('a component needs at least one signal');
    if (new Set(signals).size !== signals.length) throw new RangeError('signal names must be unique');
    this.c = { ...DEFAULT_COMPONENT, ...config };
    // One signal: the component is that signal's univariate detector, its score included (the
    // alarm stage). Several: their equivalent z's are combined below, the alarm stage is not used.
    const single = signals.length === 1;
    const uni: UnivariateConfig = single
      ? { ...DEFAULT_UNIVARIATE, ...config.univariate }
      : { ...DEFAULT_UNIVARIATE, ...DEFAULT_COMPONENT.univariate, ...this.c.univariate, alarm: null };
    validateUnivariateConfig(uni);
    if (!(Number.isInteger(this.c.topK) && this.c.topK >= 1)) throw new RangeError('component config topK must be an integer >= 1');
    if (!(this.c.smoothingHalfLife >= 0)) throw new RangeError('component config smoothingHalfLife must be >= 0');
    if (!(this.c.zCap > 0)) throw new RangeError('component config zCap must be positive');
    if (!(this.c.anomalyLearnRate >= 0 && this.c.anomalyLearnRate <= 1)) throw new RangeError('component config anomalyLearnRate must be in [0, 1]');
    this.component = component;
    this.signals = [...signals];
    this.detectors = signals.map((s) => new UnivariateDetector(s, uni));
    this.subspace = this.c.subspace && signals.length >= 2 ? new SubspaceModel(signals.length, this.c.subspace) : null;
    this.alarmed = single && uni.alarm !== null;
    if (this.c.calibration) validateCalibrationConfig({ ...DEFAULT_CALIBRATION, ...this.c.calibration });
    this.calibrator = this.c.calibration && !this.alarmed ? new TailCalibrator(this.c.calibration) : null;
    this.top = new Float64Array(Math.min(this.c.topK, signals.length));
    this.aSmooth = this.c.smoothingHalfLife > 0 ? 1 - Math.exp(-Math.LN2 / this.c.smoothingHalfLife) : 1;
    this.z50 = uni.z50;
    this.power = uni.power;
  }

  /** Scores one point (values in signal order) and returns the score with ranked drivers. */
  update(t: number, values: ArrayLike<number>): ComponentScore {
    this.step(t, values);
    const drivers = this.drivers();
    const lead = drivers[0];
    const d = lead ? this.detectors[this.signals.indexOf(lead.signal)] : undefined;
    return {
      value: this.score,
      ready: this.ready,
      reason: {
        signal: lead?.signal ?? '',
        expected: d?.expected ?? 0,
        observed: d?.observed ?? 0,
        deviation: d?.z ?? 0,
        kind: this.ready ? (drivers.length > 1 ? 'multivariate' : (lead?.kind ?? 'none')) : 'warm-up',
      },
      drivers,
    };
  }

  /** Like `update` without building the result; returns the score value. */
  step(t: number, values: ArrayLike<number>): number {
    if (values.length !== this.detectors.length) {
      throw new RangeError(`expected ${this.detectors.length} values, got ${values.length}`);
    }
    const top = this.top;
    top.fill(0);
    let anyReady = false;
    const cap = this.c.zCap;
    const learn = this.score >= 0.5 ? this.c.anomalyLearnRate : 1;
    if (this.alarmed) {
      const det = this.detectors[0];
      this.score = det.step(t, values[0], learn);
      this.ready = det.ready;
      this.zEff = det.ready ? det.zEff : 0;
      return this.score;
    }
    for (let i = 0; i < this.detectors.length; i++) {
      const det = this.detectors[i];
      det.step(t, values[i], learn);
      if (!det.ready) continue;
      anyReady = true;
      const z = det.zEff > cap ? cap : det.zEff;
      // Insertion into the small sorted top-k buffer (descending).
      if (z > top[top.length - 1]) {
        let j = top.length - 1;
        while (j > 0 && top[j - 1] < z) {
          top[j] = top[j - 1];
          j--;
        }
        top[j] = z;
      }
    }
    let ss = 0;
    for (let j = 0; j < top.length; j++) ss += top[j] * top[j];
    let zc2 = ss / top.length;
    if (this.subspace) {
      const zs = this.subspace.step(values);
      zc2 += this.c.subspaceWeight * zs * zs;
    }
    const zc = Math.sqrt(zc2);
    this.ready = anyReady;
    if (!anyReady) {
      this.zEff = 0;
      this.score = 0;
      return 0;
    }
    this.smoothed = this.started ? this.smoothed + this.aSmooth * (zc - this.smoothed) : zc;
    this.started = true;
    this.zEff = this.smoothed;
    // The calibrator learns only once every part is scoring, so the subspace model's arrival does
    // not mix two scales in its history.
    const cal = this.calibrator;
    if (cal && (this.subspace === null || this.subspace.ready)) {
      this.tailProbability = cal.step(this.zEff);
      this.calibrated = cal.ready;
    }
    this.score = this.calibrated ? cal!.score : zToScore(this.zEff, this.z50, this.power);
    return this.score;
  }

  /** The metrics driving the last point, strongest first (at most `maxDrivers`, score >= `driverMinScore`). */
  drivers(): Driver[] {
    const out: Driver[] = [];
    for (const d of this.detectors) {
      if (d.ready && d.score >= this.c.driverMinScore) out.push({ signal: d.name, score: d.score, deviation: d.z, kind: d.kind });
    }
    out.sort((a, b) => b.score - a.score);
    return out.slice(0, this.c.maxDrivers);
  }

  /** Per-metric equivalent z of the last point, in signal order (for ranking without allocation). */
  metricZ(out: Float64Array): void {
    for (let i = 0; i < this.detectors.length; i++) out[i] = this.detectors[i].ready ? this.detectors[i].zEff : 0;
  }
}
