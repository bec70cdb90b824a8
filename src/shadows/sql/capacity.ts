/**
 * Capacity model, pure: from the knee measured on a shadow (sustainable statements per
 * second for the captured mix, and the backend CPU it took) and a forecast peak, how many
 * instances production needs with headroom, and where the scaling trigger should sit. The result is
 * a plain object for the control loop, carrying the evidence it was derived from.
 */
import type { CapacityFigures } from '../../model/capacity.js';
import type { KneeResult, StepResult } from './workload.js';

/** Inputs of a capacity recommendation. */
export interface CapacityInput {
  /** The ramp measured on the shadow. */
  knee: KneeResult;
  /** Forecast peak of the target, statements per second (for the same mix). */
  forecastPeakRate: number;
  /** Spare fraction kept above the forecast peak, e.g. 0.3 (default 0.3). */
  headroom?: number;
  /** Instances production runs now. */
  currentInstances: number;
  /**
   * How the shadow compares with one production instance in capacity (default 1: same
   * configuration). A shadow with half the CPU of a production instance has 0.5.
   */
  shadowToInstanceRatio?: number;
}

/** A recommendation for the control loop, with its evidence. */
export interface CapacityRecommendation {
  kind: 'sql-capacity';
  /** Sustainable statements per second for one production instance at the SLO. */
  perInstanceRate: number;
  /** Instances needed for the forecast peak with headroom (at least 1). */
  instancesNeeded: number;
  /** instancesNeeded − currentInstances: positive means pre-allocate that many. */
  delta: number;
  action: 'pre-allocate' | 'hold' | 'release';
  /**
   * Suggested scale-out trigger: per-instance statement rate (and backend CPU, when measured) at
   * which to add capacity, i.e. the knee less the headroom.
   */
  scaleOutAt: { ratePerInstance: number; backendCpuCores: number | null };
  /** False when the ramp never crossed the SLO (the knee is a lower bound) or nothing passed. */
  confident: boolean;
  reason: string;
  evidence: { forecastPeakRate: number; headroom: number; kneeRate: number; sloCrossed: boolean; steps: StepResult[] };
}

/**
 * Computes the recommendation. Throws RangeError on a negative forecast, a headroom outside
 * [0, 1), a non-positive instance ratio or a negative instance count.
 */
export function recommendCapacity(input: CapacityInput): CapacityRecommendation {
  const headroom = input.headroom ?? 0.3;
  const ratio = input.shadowToInstanceRatio ?? 1;
  if (!(input.forecastPeakRate >= 0)) throw new RangeError('forecastPeakRate must be a number ≥ 0');
  if (!(headroom >= 0 && headroom < 1)) throw new RangeError('headroom must be in [0, 1)');
  if (!(ratio > 0)) throw new RangeError('shadowToInstanceRatio must be > 0');
  if (!(Number.isInteger(input.currentInstances) && input.currentInstances >= 0)) throw new RangeError('currentInstances must be an integer ≥ 0');
  const perInstanceRate = input.knee.kneeRate / ratio;
  const confident = input.knee.kneeRate > 0 && !input.knee.bounded;
  const needed = perInstanceRate > 0
    ? Math.max(1, Math.ceil((input.forecastPeakRate * (1 + headroom)) / perInstanceRate))
    : Math.max(1, input.currentInstances);
  const delta = needed - input.currentInstances;
  const cpu = input.knee.atKnee?.backendCpuCores ?? null;
  const action = delta > 0 ? 'pre-allocate' : delta < 0 ? 'release' : 'hold';
  return {
    kind: 'sql-capacity',
    perInstanceRate,
    instancesNeeded: needed,
    delta,
    action,
    scaleOutAt: { ratePerInstance: perInstanceRate * (1 - headroom), backendCpuCores: cpu === null ? null : cpu * (1 - headroom) },
    confident,
    reason: perInstanceRate > 0
      ? `forecast peak ${input.forecastPeakRate.toFixed(1)}/s × (1 + ${headroom}) over ${perInstanceRate.toFixed(1)}/s per instance → ${needed}`
      : 'no ramp step met the SLO: capacity unknown, holding the current size',
    evidence: {
      forecastPeakRate: input.forecastPeakRate, headroom, kneeRate: input.knee.kneeRate,
      sloCrossed: !input.knee.bounded, steps: input.knee.steps,
    },
  };
}

/** Inputs of capacityFigures. */
export interface FiguresInput {
  knee: KneeResult;
  /** Share of the mix (by weight) the replay covered. */
  coverage: number;
  /** Production-unit capacity over the shadow's. */
  scaleFactor: number;
  /** Request events per statement in the captured mix. */
  eventsPerStatement: number;
  /** Forecast peak of the next horizon in requests per second, when known. */
  forecastPeak: number | null;
}

/**
 * The figures of a capacity run from its ramp (pure): the unit's saturation rate (the most the
 * ramp saw completed), the utilisation at which the SLO broke (knee over saturation), capacity per
 * unit in the loop's unit, resources at the knee and a confidence with its reasons.
 */
export function capacityFigures(input: FiguresInput): CapacityFigures {
  const { knee } = input;
  const saturation = Math.max(0, ...knee.steps.map((s) => s.achievedRate));
  const sloCrossed = !knee.bounded;
  const reasons: string[] = [];
  if (knee.kneeRate === 0) reasons.push('no step met the SLO: the first rate is already too high');
  if (!sloCrossed) reasons.push('the ramp never broke the SLO: the knee is only a lower bound (raise ramp.maxRate)');
  if (input.coverage < 0.9) reasons.push(`the replay covered ${(input.coverage * 100).toFixed(0)} % of the captured mix (below 90 %)`);
  const top = knee.steps.length > 0 ? Math.max(...knee.steps.map((s) => s.targetRate)) : 0;
  const peakOnShadow = input.forecastPeak === null ? null : input.forecastPeak / input.eventsPerStatement / input.scaleFactor;
  if (peakOnShadow !== null && top <= peakOnShadow) reasons.push('the ramp did not go past the forecast peak');
  const at = knee.atKnee;
  return {
    kneeRate: knee.kneeRate,
    saturationRate: saturation,
    sloUtilisation: saturation > 0 ? Math.min(1, knee.kneeRate / saturation) : 0,
    sloCrossed,
    atKnee: at
      ? { cpuCores: at.backendCpuCores, blocksReadPerSecond: at.stat.blksRead, blocksHitPerSecond: at.stat.blksHit, memoryBytes: at.backendMemoryBytes }
      : null,
    scaleFactor: input.scaleFactor,
    eventsPerStatement: input.eventsPerStatement,
    capacityPerUnit: saturation * input.eventsPerStatement * input.scaleFactor,
    coverage: input.coverage,
    forecastPeak: input.forecastPeak,
    beyondPeak: peakOnShadow === null ? null : top > peakOnShadow,
    confidence: { level: reasons.length === 0 ? 'high' : 'low', reasons },
  };
}
