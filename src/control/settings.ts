/**
 * Per-target control settings: the TypeBox schema the config file (`targets[].control`) and the
 * API (`PUT /v1/targets/{target}/control`) share, and their translation into the scaling policy
 * and the online forecaster. Every key has a default and a description (docs/config.md).
 */
import { Type, type Static } from '@sinclair/typebox';
import { ShadowplaneError, type FieldProblem } from '../core/errors.js';
import { Duration, durationMs } from '../core/schema.js';
import { problemsOf, withDefaults } from '../core/validation.js';
import { DEFAULT_SCALING_POLICY, type ScalingPolicyConfig } from '../plan/scaling.js';
import { DEFAULT_ONLINE_FORECASTER, type OnlineForecasterConfig } from '../forecast/online.js';
import { DEFAULT_ALARM } from '../detect/alarm.js';
import { DEFAULT_EVENTS } from '../detect/events.js';

const METRIC_PATTERN = '^[a-zA-Z_:][a-zA-Z0-9_:]{0,127}(\\{.*\\})?$';

/** Statistics of a target's request windows a risk limit can watch: latency quantiles and mean/max in ms, or the share of failed requests. */
export const REQUEST_STATS = ['p50', 'p90', 'p95', 'p99', 'mean', 'max', 'errorRate'] as const;
/** One request statistic. */
export type RequestStat = (typeof REQUEST_STATS)[number];

/** One failure or SLO limit of a target (see RiskSettingsSchema). */
export const RiskLimitSchema = Type.Object(
  {
    metric: Type.Optional(Type.String({ pattern: METRIC_PATTERN, description: 'A metric series of the target (its store key, scraped or pushed as samples), e.g. `disk_used_ratio` or `cpu_utilisation`; its mean per step is watched.', errorMessage: 'must be a metric series key such as disk_used_ratio' })),
    requests: Type.Optional(Type.Union(REQUEST_STATS.map((x) => Type.Literal(x)), { description: 'A statistic of the target\'s request windows per step: `p50`, `p90`, `p95`, `p99`, `mean`, `max` latency in ms, or `errorRate` (share of failed requests, 0..1).' })),
    max: Type.Optional(Type.Number({ description: 'Trouble at or above this value (disk full, CPU pinned, latency over the SLO, error budget).' })),
    min: Type.Optional(Type.Number({ description: 'Trouble at or below this value (e.g. free space, remaining connections).' })),
  },
  { additionalProperties: false },
);

/** Failure-risk settings of one target. */
export const RiskSettingsSchema = Type.Object(
  {
    horizon: Duration('The risk is the probability of a failure or SLO breach within this time; trends are extrapolated this far.', '1h'),
    limits: Type.Array(RiskLimitSchema, {
      default: [],
      maxItems: 32,
      description: 'Limits whose crossing is a failure or SLO breach, each with exactly one of `metric` or `requests` and exactly one of `max` or `min`, e.g. `{metric: disk_used_ratio, max: 0.95}`, `{requests: p99, max: 250}`, `{requests: errorRate, max: 0.05}`. Utilisation (demand over the ready units\' capacity) reaching 1 is always a limit.',
    }),
  },
  { additionalProperties: false, default: {}, description: 'Failure risk of this target (docs/detection.md, risk limits): the time to each limit, extrapolated from its trend, and the persistence of anomalies.' },
);

/** Defaults of the anomaly settings: the detectors' own (src/detect/alarm.ts, src/detect/events.ts). */
export const DEFAULT_ANOMALY = { alarmThreshold: DEFAULT_ALARM.alarmScore, rearmSteps: DEFAULT_ALARM.rearmSteps, quietMs: DEFAULT_EVENTS.quietMs } as const;

/** Alarm settings of one target's detectors, and the bounds of the alarm levels triage teaches them. */
export const AnomalySettingsSchema = Type.Object(
  {
    alarmThreshold: Type.Number({ minimum: DEFAULT_EVENTS.closeThreshold, maximum: 0.99, default: DEFAULT_ANOMALY.alarmThreshold, description: `Score at which the demand detector alarms and an anomaly event opens (at least the event close threshold, ${DEFAULT_EVENTS.closeThreshold}).` }),
    rearmSteps: Type.Integer({ minimum: 1, maximum: 100_000, default: DEFAULT_ANOMALY.rearmSteps, description: 'Quiet period after an alarm, in steps: the demand detector alarms again only once its score stayed low this many steps in a row (re-arm).' }),
    quiet: Duration('An anomaly event ends once its score stayed below the close threshold this long.', `${DEFAULT_ANOMALY.quietMs / 60_000}m`),
    maxAlarmLevel: Type.Number({ minimum: DEFAULT_EVENTS.closeThreshold, maximum: 0.999, default: 0.95, description: 'Highest alarm level a "false-positive" triage verdict may teach a driver (learned levels, docs/detection.md): a score at or above it always opens an event.' }),
    falsePositiveStep: Type.Number({ exclusiveMinimum: 0, maximum: 0.5, default: 0.05, description: 'How far above the dismissed event\'s severity a "false-positive" verdict raises the alarm level of its top driver.' }),
  },
  { additionalProperties: false, default: {}, description: 'Alarm threshold and quiet periods of this target\'s anomaly detection (docs/detection.md).' },
);

/** Settings of one target's control loop. */
export const ControlSettingsSchema = Type.Object(
  {
    enabled: Type.Boolean({ default: true, description: 'Act on this target through its `actuator`; false (or no actuator): observed only — the loop still forecasts and scores anomalies and risk, and acts on nothing.' }),
    interval: Duration('Length of one step: the loop ticks once per step and reads demand per step. A multiple of the finest store granularity.', '1m'),
    metric: Type.Optional(Type.String({ pattern: METRIC_PATTERN, description: 'Demand signal: the mean of this metric series (its store key, e.g. `cpu_utilisation` or `queue_depth{queue="a"}`) per step. Without it, demand is the estimated requests per second from request events.', errorMessage: 'must be a metric series key such as cpu_utilisation' })),
    capacityPerUnit: Type.Number({ exclusiveMinimum: 0, default: 100, description: 'Demand one unit (replica, node) serves at 100 % utilisation, in the unit of the demand signal.' }),
    provisioningDelay: Duration('Time from asking for a unit until it serves: the pre-allocation lead time until enough scale-ups were measured (`leadTime`).', '5m'),
    leadTime: Type.Union([Type.Literal('learned'), Type.Literal('configured')], { default: 'learned', description: '`learned`: the pre-allocation lead time is the 90th percentile of the measured durations of the last successful scale-ups the executor verified (from 3 on; `provisioningDelay` before, and always for actuators whose new capacity cannot be observed); `configured`: always `provisioningDelay`.' }),
    initialUnits: Type.Integer({ minimum: 0, default: 1, description: 'Units assumed before the actuator has confirmed any.' }),
    minUnits: Type.Integer({ minimum: 0, default: 1, description: 'Fewest units the loop asks for.' }),
    maxUnits: Type.Integer({ minimum: 1, default: 100, description: 'Most units the loop asks for.' }),
    targetUtilisation: Type.Number({ exclusiveMinimum: 0, maximum: 1, default: DEFAULT_SCALING_POLICY.targetUtilisation, description: 'Utilisation the capacity model plans for: units = demand quantile / capacityPerUnit / this.' }),
    quantile: Type.Number({ minimum: 0.5, maximum: 0.995, default: 0.95, description: 'Demand quantile planned for (the upper bound of the central forecast interval of level 2q-1).' }),
    proactiveBelowUse: Type.Number({ exclusiveMinimum: 0, maximum: 1, default: DEFAULT_SCALING_POLICY.proactiveBelowUse, description: 'Current use below which a forecast-driven scale-up is proactive.' }),
    reactiveAboveUse: Type.Number({ exclusiveMinimum: 0, maximum: 2, default: DEFAULT_SCALING_POLICY.reactiveAboveUse, description: 'Current use above which the reactive path acts.' }),
    horizon: Duration('How far ahead the forecast looks; also how far ahead a scale-in checks that demand is not about to return.', '1h'),
    scaleUpLookahead: Duration('A scale-up goes to the largest forecast need within this time, so one action covers a rising stretch.', '30m'),
    scaleInStabilization: Duration('Scale in only to the largest recommendation of this trailing window.', '30m'),
    scaleInOnForecast: Type.Boolean({ default: false, description: 'Allow scale-in on the forecast alone; when false, observed demand must agree.' }),
    scaleInTolerance: Type.Number({ minimum: 0, maximum: 1, default: DEFAULT_SCALING_POLICY.scaleInTolerance, description: 'Scale in only when it removes at least this share of the units.' }),
    maxScaleUpUnits: Type.Integer({ minimum: 1, default: 1000, description: 'Rate limit: most units added in one step.' }),
    minWindows: Type.Integer({ minimum: 2, default: DEFAULT_SCALING_POLICY.minHistory, description: 'Fewest complete steps with data before the forecast is trusted; fewer is the condition DataComplete=False (InsufficientWindows) and the loop decides reactively.' }),
    season: Duration('Season of the online forecaster (daily by default); `0s` turns the seasonal term off.', '1d'),
    history: Duration('History read when the loop starts, to warm up the forecaster.', '3d'),
    headroomMax: Type.Number({ minimum: 0, maximum: 2, default: DEFAULT_SCALING_POLICY.headroomMax, description: 'Upper bound of the headroom that trigger refinement may add to the planned quantile.' }),
    risk: RiskSettingsSchema,
    anomaly: AnomalySettingsSchema,
  },
  { additionalProperties: false, default: {}, description: 'The control loop of this target (docs/control.md).' },
);

/** Settings with every default filled in. */
export type ControlSettings = Static<typeof ControlSettingsSchema>;
/** One risk limit as configured. */
export type RiskLimitSetting = Static<typeof RiskLimitSchema>;

const withoutDefaults = Object.fromEntries(Object.entries(ControlSettingsSchema.properties).map(([k, v]) => [k, { ...v, default: undefined }]));
/** A partial update as the API takes it: the same keys, all optional, no defaults. */
export const ControlSettingsPatch = Type.Partial(Type.Object(withoutDefaults as typeof ControlSettingsSchema.properties), { additionalProperties: false });

/**
 * Validates settings (defaults filled in) including the rules across keys. `at` prefixes problem
 * paths. Throws SHADOWPLANE_ERR_VALIDATION listing every problem.
 */
export function parseControlSettings(raw: unknown, at = '', finestGranularityMs = 60_000): ControlSettings {
  const value = withDefaults(ControlSettingsSchema, raw ?? {}) as ControlSettings;
  const problems = problemsOf(ControlSettingsSchema, value, at);
  if (problems.length === 0) problems.push(...settingsProblems(value, at, finestGranularityMs));
  if (problems.length > 0) throw new ShadowplaneError('SHADOWPLANE_ERR_VALIDATION', `control settings are not valid (${problems.length} problem${problems.length > 1 ? 's' : ''})`, problems);
  return value;
}

/** Rules across keys of valid settings. */
export function settingsProblems(s: ControlSettings, at: string, finestGranularityMs: number): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const step = durationMs(s.interval);
  if (step < finestGranularityMs || step % finestGranularityMs !== 0) problems.push({ path: `${at}/interval`, message: `must be a multiple of the finest store granularity (${finestGranularityMs / 1000}s)` });
  if (s.minUnits > s.maxUnits) problems.push({ path: `${at}/minUnits`, message: `must be <= maxUnits (${s.maxUnits})` });
  if (s.proactiveBelowUse > s.reactiveAboveUse) problems.push({ path: `${at}/proactiveBelowUse`, message: `must be <= reactiveAboveUse (${s.reactiveAboveUse})` });
  if (step > 0 && durationMs(s.horizon) < durationMs(s.provisioningDelay) + step) problems.push({ path: `${at}/horizon`, message: 'must be at least provisioningDelay plus one interval' });
  problems.push(...riskProblems(s.risk, `${at}/risk`, step));
  if (s.anomaly.maxAlarmLevel < s.anomaly.alarmThreshold) problems.push({ path: `${at}/anomaly/maxAlarmLevel`, message: `must be >= alarmThreshold (${s.anomaly.alarmThreshold})` });
  return problems;
}

/** The signal a risk limit watches, as risk drivers name it: the metric key, or `requests.<stat>`. */
export function limitSignal(l: RiskLimitSetting): string {
  return l.metric ?? `requests.${l.requests}`;
}

/** Rules across the keys of the risk settings (schema-valid). */
function riskProblems(r: ControlSettings['risk'], at: string, stepMs: number): FieldProblem[] {
  const problems: FieldProblem[] = [];
  if (durationMs(r.horizon) < stepMs) problems.push({ path: `${at}/horizon`, message: 'must be at least one interval' });
  const seen = new Map<string, number>();
  r.limits.forEach((l, i) => {
    const p = `${at}/limits/${i}`;
    if ((l.metric === undefined) === (l.requests === undefined)) problems.push({ path: p, message: 'needs exactly one of metric or requests' });
    if ((l.max === undefined) === (l.min === undefined)) problems.push({ path: p, message: 'needs exactly one of max or min' });
    const side = l.max !== undefined ? 'max' : 'min';
    const value = l.max ?? l.min;
    if (l.requests === 'errorRate' && value !== undefined && !(value >= 0 && value <= 1)) problems.push({ path: `${p}/${side}`, message: 'an error rate is a share of requests: must be between 0 and 1' });
    if (l.requests !== undefined && l.requests !== 'errorRate' && value !== undefined && !(value > 0)) problems.push({ path: `${p}/${side}`, message: 'a latency limit must be > 0 ms' });
    if (l.metric === 'utilisation') problems.push({ path: `${p}/metric`, message: 'utilisation names the built-in limit (demand over the ready units\' capacity reaching 1); it cannot be a metric limit' });
    const key = `${limitSignal(l)} ${side}`;
    const first = seen.get(key);
    if (first !== undefined) problems.push({ path: p, message: `repeats limit ${first} (same signal and side)` });
    else seen.set(key, i);
  });
  return problems;
}

/** Whole steps in a duration (at least `min`). */
export function stepsOf(duration: string, stepMs: number, min = 0): number {
  return Math.max(min, Math.ceil(durationMs(duration) / stepMs));
}

/** Interval level (percent) whose upper bound is the planned quantile, rounded to 0.1 %. */
export function levelOf(quantile: number): number {
  return Math.round((2 * quantile - 1) * 1000) / 10;
}

/** The scaling policy the settings describe (src/plan/scaling.ts). */
export function scalingPolicyOf(s: ControlSettings): ScalingPolicyConfig {
  const step = durationMs(s.interval);
  return {
    ...DEFAULT_SCALING_POLICY,
    targetUtilisation: s.targetUtilisation,
    forecastLevel: levelOf(s.quantile),
    reactiveAboveUse: s.reactiveAboveUse,
    proactiveBelowUse: s.proactiveBelowUse,
    scaleInTolerance: s.scaleInTolerance,
    scaleInStabilizationSteps: stepsOf(s.scaleInStabilization, step, 1),
    scaleInOnForecast: s.scaleInOnForecast,
    scaleUpLookaheadSteps: stepsOf(s.scaleUpLookahead, step, 1),
    scaleInLookaheadSteps: stepsOf(s.horizon, step, 1),
    maxScaleUpUnits: s.maxScaleUpUnits,
    minUnits: s.minUnits,
    maxUnits: s.maxUnits,
    headroomMax: s.headroomMax,
    minHistory: s.minWindows,
  };
}

/** The online forecaster the settings describe: the replay's defaults, this target's season, horizon and level. */
export function forecasterOf(s: ControlSettings): OnlineForecasterConfig {
  const step = durationMs(s.interval);
  const lead = stepsOf(s.provisioningDelay, step) + 1;
  const horizon = Math.max(lead, stepsOf(s.horizon, step, 1), stepsOf(s.scaleUpLookahead, step, 1));
  return {
    ...DEFAULT_ONLINE_FORECASTER,
    season: stepsOf(s.season, step),
    // warm-up proportional to the minimum history, so a short minWindows is not overruled here
    minErrors: Math.min(DEFAULT_ONLINE_FORECASTER.minErrors, s.minWindows),
    horizon,
    errorHorizon: lead,
    // The scale-in rule sizes on a wider interval than scale-up when the policy asks for one (as in the replay).
    levels: [...new Set([levelOf(s.quantile), Math.max(levelOf(s.quantile), DEFAULT_SCALING_POLICY.scaleInForecastLevel)])],
  };
}
