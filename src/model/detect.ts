/**
 * Plain anomaly-detection and failure-risk types shared by the detectors (src/detect), the control
 * loop, the API and the CLI. No imports, no behaviour.
 */

/** What kind of deviation a score describes. */
export type AnomalyKind =
  | 'none'
  | 'spike'
  | 'drop'
  | 'level-shift'
  | 'drift'
  | 'counter-reset'
  | 'gap'
  | 'warm-up'
  | 'multivariate';

/** Why a point got its score: the signal, what was expected, what was seen and how far off. */
export interface ScoreReason {
  /** The signal (metric) name; for a component score, the top-ranked driver. */
  readonly signal: string;
  /** The value the detector expected from the past (seasonal level). */
  readonly expected: number;
  /** The value observed (for counters: the rate derived from it). */
  readonly observed: number;
  /** Signed deviation in robust standard units: (observed - expected) / scale. */
  readonly deviation: number;
  /** The kind of deviation that dominates the score. */
  readonly kind: AnomalyKind;
}

/** An anomaly score in [0, 1] for one point; `ready` is false during warm-up (value is then 0). */
export interface Score {
  readonly value: number;
  readonly ready: boolean;
  readonly reason: ScoreReason;
}

/** One metric's share in a component's anomaly. */
export interface Driver {
  readonly signal: string;
  /** The metric's own score in [0, 1]. */
  readonly score: number;
  /** Signed deviation in robust standard units. */
  readonly deviation: number;
  readonly kind: AnomalyKind;
}

/** A component's score: the combined value plus the metrics that drive it, strongest first. */
export interface ComponentScore extends Score {
  readonly drivers: readonly Driver[];
}

/** Triage state of an anomaly event. */
export type TriageState = 'open' | 'acknowledged' | 'resolved' | 'false-positive';

/** One anomaly episode of one component, deduplicated across its signals. */
export interface AnomalyEvent {
  /** Stable id: `<component>@<start>`. */
  readonly id: string;
  readonly component: string;
  /** Time (ms since the epoch) of the first anomalous point. */
  readonly start: number;
  /** Time of the last anomalous point; null while the event is still open. */
  readonly end: number | null;
  /**
   * Time of the latest point scoring at or above the close threshold, kept current while the
   * event is open (equals `end` once closed), so a restarted tracker can carry the event on.
   * Absent on events stored before it was recorded.
   */
  readonly lastAnomalous?: number;
  /** The highest component score seen during the event, in [0, 1]. */
  readonly severity: number;
  /** Signals that drove the event, strongest first (max score per signal over the event). */
  readonly drivers: readonly Driver[];
  readonly triageState: TriageState;
}

/** One named contribution to a failure-risk score. */
export interface RiskDriver {
  /** The signal, or `anomaly` for the persistence/severity term. */
  readonly signal: string;
  /** Probability contribution in [0, 1] of this driver alone. */
  readonly probability: number;
  /** Plain-language explanation, e.g. `disk_used reaches 0.95 in ~42 min (trend)`. */
  readonly detail: string;
  /** Estimated time to the saturation/SLO limit in ms, when extrapolated from a trend. */
  readonly timeToLimitMs?: number;
  /** For a limit's driver: the limit, and on which side of it trouble lies (`above`: at or over it). */
  readonly limit?: number;
  readonly direction?: 'above' | 'below';
  /** For a limit's driver: the signal's current value as fitted by its trend. */
  readonly value?: number;
  /** For a limit's driver moving toward its limit: when the trend crosses it (ms since the epoch; the score's `t` once past it). */
  readonly crossAt?: number;
}

/** Probability of failure or SLO breach of one component within `horizonMs`, with its drivers. */
export interface RiskScore {
  readonly component: string;
  readonly t: number;
  readonly horizonMs: number;
  /** In [0, 1]. */
  readonly probability: number;
  readonly ready: boolean;
  /** Strongest first. */
  readonly drivers: readonly RiskDriver[];
  /** The limit most likely to be breached within the horizon (a driver with `limit`); null when no limit is approached. */
  readonly limit: RiskDriver | null;
}

/** Who last changed an event's triage state, when (ms since the epoch) and why. */
export interface TriageChange {
  readonly actor: string;
  readonly why: string;
  readonly at: number;
}

/**
 * An anomaly event as the Shadow Store keeps it: the event, the target it belongs to, its
 * dominant kind, the last triage change (null: none yet) and when the row was last written.
 */
export interface AnomalyRecord extends AnomalyEvent {
  readonly target: string;
  readonly kind: AnomalyKind;
  readonly triage: TriageChange | null;
  readonly updatedAt: number;
}
