/**
 * Plain types of the control loop's records: the decision written on every tick, the status
 * conditions of a target, the operator overrides in force, and the audit trail of who changed
 * what. No imports beyond other plain types, no behaviour: the loop lives in src/control.
 */
import type { Driver, RiskDriver } from './detect.js';
import type { ForecastInterval } from './forecast.js';

/** Where a decision stands. `no-action` and the final states never change again. */
export type DecisionStatus =
  | 'no-action'
  | 'pending-approval'
  | 'submitted'
  | 'succeeded'
  | 'failed'
  | 'rejected'
  | 'superseded';

/** What the loop saw at the start of a tick. */
export interface DecisionInputs {
  /** The demand series the loop reads: `requests` (estimated requests per second) or a metric key. */
  readonly signal: string;
  /** Demand of the last complete step, in the unit of `capacityPerUnit`. */
  readonly demand: number;
  /** Complete steps with data in the history read. */
  readonly windows: number;
  /** Fewest such steps before the forecast is trusted. */
  readonly minWindows: number;
  /** Length of one step, seconds. */
  readonly stepSeconds: number;
  readonly ready: number;
  readonly booting: number;
  readonly capacityPerUnit: number;
  /** Where `capacityPerUnit` comes from: `config` (the setting) or `capacity-run:<id>` (absent in records before capacity runs). */
  readonly capacitySource?: string;
  /** Utilisation limits the capacity run tuned, used in place of the settings' (absent: the settings'). */
  readonly tuned?: { readonly reactiveAboveUse: number; readonly proactiveBelowUse: number; readonly targetUtilisation: number };
  readonly provisioningDelaySteps: number;
}

/** The forecast a decision used (null in the record when none could be made). */
export interface DecisionForecast {
  readonly model: string;
  /** Point forecast for steps 1..H after the last complete step. */
  readonly mean: number[];
  readonly intervals: ForecastInterval[];
}

/** Anomaly score of the demand signal (from src/detect), recorded beside the decision. */
export interface DecisionScores {
  /** Anomaly score in [0, 1]; 0 while the detector warms up. */
  readonly anomaly: number;
  readonly anomalyReady: boolean;
  /** Kind of deviation that dominates, e.g. `spike`, `level-shift`, `warmup`. */
  readonly anomalyKind: string;
  /** Component anomaly score over the demand and the target's metrics (absent before the first step with data). */
  readonly component?: number;
  /** Metrics driving the component score, strongest first. */
  readonly componentDrivers?: readonly Driver[];
  /** Probability of a failure or SLO breach within `riskHorizonMs` (src/detect/risk.ts). */
  readonly risk?: number;
  readonly riskReady?: boolean;
  readonly riskHorizonMs?: number;
  /** What drives the risk, strongest first (`anomaly` persistence, `utilisation` trend). */
  readonly riskDrivers?: readonly RiskDriver[];
  /** The limit that drives the risk (signal, limit, forecast crossing time); null when no limit is approached. */
  readonly riskLimit?: RiskDriver | null;
}

/** The policy's recommendation (src/plan/scaling.ts decideScaling) before the gate. */
export interface DecisionRecommendation {
  readonly desiredUnits: number;
  readonly currentUnits: number;
  readonly mode: 'proactive' | 'reactive' | 'none';
  /** A ScalingReason code. */
  readonly reason: string;
  readonly currentUse: number | null;
  readonly forecastDemandAtReady: number | null;
  readonly forecastUnits: number | null;
  readonly observedUnits: number;
  readonly leadTimeSteps: number;
}

/** One behavior or gate step applied to the units, in order. */
export interface DecisionStep {
  readonly step: string;
  readonly from: number;
  readonly to: number;
  readonly note: string;
}

/** The action a decision carries. */
export interface DecisionAction {
  /** Also the executor's action id. */
  readonly id: string;
  readonly kind: 'scale';
  readonly from: number;
  readonly to: number;
  readonly mode: 'proactive' | 'reactive' | 'manual';
}

/** How a decision's task ended (or where it is). */
export interface DecisionOutcome {
  readonly taskId: string | null;
  /** An executor task state, or a refusal such as `ExecutorBusy`. */
  readonly state: string;
  readonly reason: string;
  /** ms since the epoch. */
  readonly at: number;
}

/** Who did something, when, and why. */
export interface Attribution {
  readonly actor: string;
  /** ms since the epoch. */
  readonly at: number;
  readonly why: string;
}

/** One tick's record (or one forced action's). Written on the tick, updated as its task moves. */
export interface DecisionRecord {
  readonly id: string;
  readonly target: string;
  /** ms since the epoch (the loop's clock). */
  readonly at: number;
  readonly inputs: DecisionInputs;
  readonly forecast: DecisionForecast | null;
  readonly scores: DecisionScores | null;
  readonly recommendation: DecisionRecommendation | null;
  /** Behavior steps of the policy, then the gate's steps (pin bounds). */
  readonly steps: DecisionStep[];
  /** Overrides in force at the tick, by kind (`pause`, `dry-run`, `review`, `pin`, `force`). */
  readonly overrides: string[];
  readonly action: DecisionAction | null;
  status: DecisionStatus;
  /** Reason code: the policy's when it acts, else why nothing was done (`Paused`, `DryRun`, `ExecutorBusy`, ...). */
  reason: string;
  /** Plain words. */
  message: string;
  outcome: DecisionOutcome | null;
  /** Approval or rejection in review mode; the operator who forced an action. */
  review: (Attribution & { readonly verdict: 'approved' | 'rejected' | 'forced' }) | null;
  /** For the firing of a response rule (src/control/respond.ts): which rule, why, and what it does. */
  response?: DecisionResponse;
  /** For an action a shadow component took on its own and reported (POST /v1/targets/{t}/decisions). */
  component?: DecisionComponent;
}

/** The shadow component behind a decision it reported. */
export interface DecisionComponent {
  /** The component's name (as declared under `shadows:`, or as it calls itself). */
  readonly name: string;
  readonly kind: 'traffic' | 'partitions' | 'volumes' | 'sql';
  /** What it did, e.g. `shadow-created`, `switched`, `failed-over`. */
  readonly action: string;
  /** Its figures, as it gave them. */
  readonly evidence: Record<string, unknown>;
}

/** The rule behind a decision that a response rule made. */
export interface DecisionResponse {
  readonly rule: string;
  /** `do` when the condition held long enough; `undo` when it cleared after the rule fired. */
  readonly phase: 'do' | 'undo';
  /** The condition in words, e.g. `risk >= 0.8 for 5m`. */
  readonly condition: string;
  /** What was seen, e.g. `failure risk 0.86 >= 0.8, holding since ...`. */
  readonly evidence: string;
  /** The rule's action as declared (one key: migrate, failover, scale, webhook, ...). */
  readonly action: Record<string, unknown>;
}

/** The condition types of a target. */
export const CONDITION_TYPES = ['Ready', 'DataComplete', 'ScalingActive', 'ScalingLimited', 'Paused', 'DryRun'] as const;
/** One condition type. */
export type ConditionType = (typeof CONDITION_TYPES)[number];

/** A status condition in the Kubernetes style. */
export interface Condition {
  readonly type: ConditionType;
  readonly status: 'True' | 'False' | 'Unknown';
  readonly reason: string;
  readonly message: string;
  /** ms since the epoch of the last change of `status`. */
  readonly lastTransitionTime: number;
}

/** A pin of the units for a period. At least one bound. */
export interface PinOverride extends Attribution {
  readonly min?: number;
  readonly max?: number;
  readonly exact?: number;
  /** ms since the epoch; absent: until removed. */
  readonly until?: number;
}

/** A switch override (pause, dry-run, review) with its period. */
export interface SwitchOverride extends Attribution {
  readonly until?: number;
}

/** Overrides in force on one target. */
export interface Overrides {
  pause?: SwitchOverride;
  dryRun?: SwitchOverride;
  review?: SwitchOverride;
  pin?: PinOverride;
}

/** Everything the loop persists per target besides its records. */
export interface ControlState {
  readonly target: string;
  /** Operator settings (ControlSettings, see src/control/settings.ts) set through the API; null: the config's. */
  settings: Record<string, unknown> | null;
  /** Actuator (the config's `actuator` shape) set through the API; null: removed through the API (observed only); absent: the config's. */
  actuator?: Record<string, unknown> | null;
  overrides: Overrides;
  /** Units the actuator last confirmed (null: none yet, take `initialUnits`). */
  units: number | null;
  /** Response rules set through the API (null or absent: the config's). */
  respond?: Record<string, unknown>[] | null;
  /** Where each response rule's episode stands, by rule name (src/control/respond.ts RuleEpisode). */
  episodes?: Record<string, { since?: number; fired?: boolean }>;
  /** When units were last raised and from what, for the booting estimate. */
  lastScaleUp: { at: number; from: number; to: number } | null;
  /** What the loop has learned (src/control/learned.ts); absent before it learned anything. */
  learned?: LearnedState;
  updatedAt: number;
}

/** What a target's loop has learned, kept with its control state so that it survives restarts. */
export interface LearnedState {
  /**
   * The scaling policy's memory (src/plan/scaling.ts ScalingMemory: headroom, stabilization window,
   * forecast bounds due) and the step index it is keyed on, with the demand signal and step length
   * it was learned for: another signal or step length invalidates it.
   */
  scaling?: {
    readonly signal: string;
    readonly stepMs: number;
    readonly step: number;
    readonly memory: {
      readonly recommendations: readonly (readonly [number, number])[];
      readonly pendingBounds: readonly (readonly [number, number])[];
      readonly headroom: number;
    };
  };
  /** Measured durations (ms) of the last successful scale-ups, oldest first: the learned provisioning delay. */
  scaleUpMs: number[];
  /** Alarm level per driver signal, raised by "false-positive" triage verdicts. */
  alarmLevels: Record<string, number>;
  /** How the learned values moved, oldest first (bounded). */
  history: LearnedChange[];
}

/** One change of a learned value. */
export interface LearnedChange {
  /** ms since the epoch. */
  readonly at: number;
  /** `headroom`, `leadTime` (ms) or `alarmLevel.<signal>`. */
  readonly key: string;
  readonly from: number | null;
  readonly to: number | null;
  /** What taught it: a forecast miss, a measured scale-up, a triage verdict (with who), a reset. */
  readonly why: string;
  readonly actor?: string;
}

/** One line of the audit trail. */
export interface AuditEntry extends Attribution {
  readonly id: string;
  readonly target: string;
  /** What was done: `settings`, `pause`, `resume`, `pin`, `unpin`, `dry-run`, `approve`, `force`, ... */
  readonly action: string;
  readonly detail: unknown;
}
