/**
 * Plain types of a capacity run: a measurement of what one unit of a target serves, taken on the
 * target's shadow PostgreSQL instance with the target's captured query mix (src/control/capacity.ts
 * runs it). No behaviour here.
 */

/** Where a run stands. `succeeded` and `failed` never change again. */
export type CapacityRunStatus = 'running' | 'succeeded' | 'failed';

/** Why a run started. */
export type CapacityRunTrigger = 'manual' | 'schedule' | 'forecast-drift' | 'mix-drift';

/** One step of the ramp as recorded (rates in statements per second). */
export interface CapacityRunStep {
  readonly rate: number;
  readonly achieved: number;
  readonly p50Ms: number;
  readonly p95Ms: number;
  readonly p99Ms: number;
  readonly errors: number;
  readonly dropped: number;
  /** Whether the step met the SLO. */
  readonly pass: boolean;
}

/** Resource use of the shadow at the knee; null where it could not be measured (a remote server). */
export interface CapacityAtKnee {
  /** CPU cores the workload's backends used. */
  readonly cpuCores: number | null;
  /** Blocks read from disk (outside shared buffers) per second. */
  readonly blocksReadPerSecond: number;
  /** Blocks found in shared buffers per second. */
  readonly blocksHitPerSecond: number;
  /** Private memory of the workload's backends, bytes. */
  readonly memoryBytes: number | null;
}

/** The figures of a finished run. */
export interface CapacityFigures {
  /** Highest offered rate (statements per second on the shadow) that met the SLO; 0 when none did. */
  readonly kneeRate: number;
  /** Highest completed rate seen on the ramp (statements per second on the shadow): the unit at 100 % utilisation. */
  readonly saturationRate: number;
  /** kneeRate / saturationRate: the utilisation at which the SLO broke on the shadow. */
  readonly sloUtilisation: number;
  /** Whether a step failed the SLO (false: the knee is only a lower bound). */
  readonly sloCrossed: boolean;
  readonly atKnee: CapacityAtKnee | null;
  /** Production-unit capacity over the shadow's (the setting `scale`). */
  readonly scaleFactor: number;
  /** Request events per statement in the captured mix (a statement touching two tables is two events). */
  readonly eventsPerStatement: number;
  /** Demand one unit serves at 100 % utilisation, in the loop's unit (estimated requests per second): saturationRate × eventsPerStatement × scaleFactor. */
  readonly capacityPerUnit: number;
  /** Share of the captured mix (by weight) the replay covered. */
  readonly coverage: number;
  /** Forecast peak of the next horizon (requests per second), when the loop had a forecast. */
  readonly forecastPeak: number | null;
  /** Whether the ramp went past the forecast peak (per unit, in statements on the shadow). */
  readonly beyondPeak: boolean | null;
  /** `high`, or `low` with the reasons. */
  readonly confidence: { readonly level: 'high' | 'low'; readonly reasons: readonly string[] };
}

/** One capacity run as stored. */
export interface CapacityRun {
  readonly id: string;
  readonly target: string;
  /** ms since the epoch when it started. */
  readonly at: number;
  readonly trigger: CapacityRunTrigger;
  /** Who asked (`system` for a schedule or drift). */
  readonly actor: string;
  status: CapacityRunStatus;
  /** The latest progress line (the whole run's lines are in `progress`). */
  phase: string;
  progress: string[];
  /** The captured mix replayed: fingerprint and weight (statements), heaviest first. */
  mix: { fingerprint: string; weight: number }[];
  /** Rows copied into the shadow per table. */
  shadowRows: { table: string; rows: number }[];
  steps: CapacityRunStep[];
  figures: CapacityFigures | null;
  /** Why it failed. */
  error: string | null;
  /** ms since the epoch when it ended. */
  endedAt: number | null;
}

/** The capacity a loop decides with, and where it comes from. */
export interface UnitCapacity {
  readonly capacityPerUnit: number;
  /** `config` or `capacity-run:<id>`. */
  readonly source: string;
  /** Utilisation limits a capacity run tuned (from the utilisation at which the SLO broke); absent for `config`. */
  readonly tuned?: { readonly reactiveAboveUse: number; readonly proactiveBelowUse: number; readonly targetUtilisation: number };
}
