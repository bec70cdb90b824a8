/**
 * Response rules: what a target's loop does, besides scaling, when trouble is coming. Each rule
 * names one condition (failure risk at or above a level, an open anomaly event, or the forecast
 * crossing a limit within a horizon) that must hold for a time, one action to take then (start a
 * gradual migration on a traffic shadow, fail a volume over, move or pin a partition, pre-allocate
 * units, call a webhook, run a command, or only notify), and optionally an `undo` action for when the condition
 * clears. A rule fires at most once per episode (the condition holding without a break); the
 * episode state is kept in the target's control state, so a restart does not fire it again.
 *
 * This file holds the schema, its validation and the episode tracker, all pure; the loop
 * (src/control/loop.ts) gates a firing like a scaling decision and the controller carries it out.
 */
import { Type, type Static } from '@sinclair/typebox';
import { ShadowplaneError, type FieldProblem } from '../core/errors.js';
import { Duration, durationMs } from '../core/schema.js';
import { problemsOf, withDefaults } from '../core/validation.js';
import type { AnomalyEvent } from '../model/detect.js';

const Name = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$', errorMessage: 'must be 1-63 letters, digits, dots, dashes or underscores' });
const Shadow = Type.String({ minLength: 1, maxLength: 63, description: 'A shadow component declared under `shadows:` or registered through the API.' });
const Route = Type.String({ minLength: 1, maxLength: 200, description: 'A route of the traffic proxy.' });
const Volume = Type.String({ minLength: 1, maxLength: 200, description: 'A volume of the volume service.' });
const Partition = Type.Integer({ minimum: 0, description: 'A partition of the stream service.' });
const strict = { additionalProperties: false } as const;

/** What a rule does (exactly one key). */
export const ResponseActionSchema = Type.Object(
  {
    migrate: Type.Optional(Type.Object({ shadow: Shadow, route: Route, steps: Type.Optional(Type.Array(Type.Number({ exclusiveMinimum: 0, maximum: 1 }), { minItems: 1, maxItems: 20, description: 'Traffic weights of the shadow, step by step; default: the route\'s own policy.' })) }, { ...strict, description: 'Start a gradual migration of a route of a traffic shadow to its shadow upstream; the proxy verifies each step and rolls back on its own verification failing.' })),
    abort: Type.Optional(Type.Object({ shadow: Shadow, route: Route }, { ...strict, description: 'All traffic of a route back to its primary, its migration over, also after it completed (the `undo` for `migrate`).' })),
    failover: Type.Optional(Type.Object({ shadow: Shadow, volume: Volume }, { ...strict, description: 'Fail a volume of a volume shadow over to its shadow copy.' })),
    failback: Type.Optional(Type.Object({ shadow: Shadow, volume: Volume }, { ...strict, description: 'Fail a volume back to its primary (an `undo` for `failover`).' })),
    move: Type.Optional(Type.Object({ shadow: Shadow, partition: Partition, worker: Type.Integer({ minimum: 0, description: 'The worker it moves to.' }) }, { ...strict, description: 'Move a partition of a stream shadow to a worker.' })),
    pin: Type.Optional(Type.Object({ shadow: Shadow, partition: Partition, pinned: Type.Boolean({ default: true, description: 'false unpins it.' }) }, { ...strict, description: 'Pin a partition of a stream shadow where it is (or unpin it).' })),
    scale: Type.Optional(Type.Object({ add: Type.Integer({ minimum: 1, maximum: 1000, description: 'Units added to those there are, within maxUnits.' }) }, { ...strict, description: 'Pre-allocate units through the target\'s actuator (refused on an observed-only target).' })),
    webhook: Type.Optional(Type.Object({ url: Type.String({ pattern: '^https?://', description: 'Where the firing is POSTed.' }), timeoutMs: Type.Integer({ minimum: 1, maximum: 600_000, default: 10_000, description: 'Per-request timeout, ms.' }) }, { ...strict, description: 'POST the firing as JSON (e.g. to start diagnostics); retried on 5xx and network errors.' })),
    command: Type.Optional(Type.Object({
      command: Type.String({ minLength: 1, description: 'Program to run, without a shell (looked up on PATH), e.g. a diagnostics script.' }),
      args: Type.Array(Type.String(), { default: [], description: 'Arguments, passed as they are.' }),
      timeoutMs: Type.Integer({ minimum: 1, maximum: 3_600_000, default: 30_000, description: 'Kill the process group after this, ms.' }),
    }, { ...strict, description: 'Run a program as the command actuator does (docs/actuators.md): the firing as SHADOWPLANE_ACTION_* variables and one JSON line on stdin, plus SHADOWPLANE_RULE and SHADOWPLANE_EVIDENCE; exit 0 succeeds, 75 is retried.' })),
    notify: Type.Optional(Type.Object({}, { ...strict, description: 'Only record the firing (the decision and the live stream carry it).' })),
  },
  { ...strict, description: 'Exactly one of migrate, abort, failover, failback, move, pin, scale, webhook, command, notify.' },
);

/** One response rule of a target. */
export const ResponseRuleSchema = Type.Object(
  {
    name: Type.String({ ...Name, description: 'Unique among the target\'s rules; decisions and audit entries name it.' }),
    when: Type.Object(
      {
        risk: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1, description: 'Failure risk (the loop\'s, once ready) at or above this.' })),
        anomaly: Type.Optional(Type.Object({ driver: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'Only events this signal drives.' })), severity: Type.Number({ minimum: 0, maximum: 1, default: 0, description: 'Only events at least this severe.' }) }, { ...strict, description: 'An anomaly event of the target is open.' })),
        forecast: Type.Optional(Type.Object({ above: Type.Number({ description: 'Limit in the unit of the demand signal.' }), within: Duration('Horizon the forecast mean is read over.', '30m') }, { ...strict, description: 'The forecast mean of the demand crosses `above` within `within`.' })),
        for: Duration('How long the condition must hold before the rule fires (0s: at the first step it holds).', '0s'),
      },
      { ...strict, description: 'Exactly one of risk, anomaly, forecast; and `for`.' },
    ),
    do: ResponseActionSchema,
    undo: Type.Optional(ResponseActionSchema),
  },
  strict,
);

/** The rules of one target. */
export const ResponseRulesSchema = Type.Array(ResponseRuleSchema, { default: [], maxItems: 32, description: 'Response rules: act through a shadow when trouble is coming (docs/control.md, response rules).' });

/** One rule with its defaults filled in. */
export type ResponseRule = Static<typeof ResponseRuleSchema>;
/** One action of a rule. */
export type ResponseAction = Static<typeof ResponseActionSchema>;

const CONDITIONS = ['risk', 'anomaly', 'forecast'] as const;
const ACTIONS = ['migrate', 'abort', 'failover', 'failback', 'move', 'pin', 'scale', 'webhook', 'command', 'notify'] as const;

/** The single key an action object has. */
export function actionKind(a: ResponseAction): (typeof ACTIONS)[number] {
  return ACTIONS.find((k) => a[k] !== undefined)!;
}

/** Validates a target's rules (defaults filled in); `at` prefixes paths. Throws SHADOWPLANE_ERR_VALIDATION listing every problem. */
export function parseResponseRules(raw: unknown, at = ''): ResponseRule[] {
  const rules = withDefaults(ResponseRulesSchema, raw ?? []) as ResponseRule[];
  const problems = problemsOf(ResponseRulesSchema, rules, at);
  if (problems.length === 0) problems.push(...ruleProblems(rules, at));
  if (problems.length > 0) throw new ShadowplaneError('SHADOWPLANE_ERR_VALIDATION', `response rules are not valid (${problems.length} problem${problems.length > 1 ? 's' : ''})`, problems);
  return rules;
}

function ruleProblems(rules: readonly ResponseRule[], at: string): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const names = new Map<string, number>();
  rules.forEach((r, i) => {
    const p = `${at}/${i}`;
    if (CONDITIONS.filter((k) => r.when[k] !== undefined).length !== 1) problems.push({ path: `${p}/when`, message: `needs exactly one of ${CONDITIONS.join(', ')}` });
    for (const side of ['do', 'undo'] as const) {
      const a = r[side];
      if (a && ACTIONS.filter((k) => a[k] !== undefined).length !== 1) problems.push({ path: `${p}/${side}`, message: `needs exactly one of ${ACTIONS.join(', ')}` });
    }
    const first = names.get(r.name);
    if (first !== undefined) problems.push({ path: `${p}/name`, message: `repeats the name of rule ${first}` });
    else names.set(r.name, i);
  });
  return problems;
}

/** What the loop knows at a tick, for the conditions. */
export interface RuleFacts {
  /** Failure risk, undefined while not ready. */
  readonly risk: number | undefined;
  /** The anomaly events of the target still open. */
  readonly openEvents: readonly AnomalyEvent[];
  /** Forecast mean per step after the last complete one; null without a forecast. */
  readonly forecast: readonly number[] | null;
  /** Length of one step, ms. */
  readonly stepMs: number;
}

/** Where one rule's episode stands (kept in the control state). */
export interface RuleEpisode {
  /** When the condition started to hold without a break (ms); absent while it does not hold. */
  since?: number;
  /** True once the rule fired in this episode. */
  fired?: boolean;
}

/** One firing: the rule, which side of it, and the evidence in words. */
export interface Firing {
  readonly rule: ResponseRule;
  readonly phase: 'do' | 'undo';
  readonly action: ResponseAction;
  readonly evidence: string;
}

/** Whether a rule's condition holds, with the evidence in words (null: it does not hold). */
export function conditionHolds(rule: ResponseRule, f: RuleFacts): string | null {
  const w = rule.when;
  if (w.risk !== undefined) return f.risk !== undefined && f.risk >= w.risk ? `failure risk ${f.risk.toFixed(2)} >= ${w.risk}` : null;
  if (w.anomaly) {
    const a = w.anomaly;
    const hit = f.openEvents.find((e) => e.severity >= a.severity && (a.driver === undefined || e.drivers.some((d) => d.signal === a.driver)));
    return hit ? `anomaly event ${hit.id} open (severity ${hit.severity.toFixed(2)}, driven by ${hit.drivers.slice(0, 3).map((d) => d.signal).join(', ') || 'no signal'})` : null;
  }
  const fc = w.forecast!;
  if (!f.forecast) return null;
  const steps = Math.max(1, Math.ceil(durationMs(fc.within) / f.stepMs));
  const h = f.forecast.slice(0, steps).findIndex((v) => v >= fc.above);
  return h >= 0 ? `forecast ${f.forecast[h].toFixed(1)} >= ${fc.above} in ${((h + 1) * f.stepMs) / 60_000} min` : null;
}

/**
 * Moves each rule's episode on to `now` and returns the firings: `do` when the condition has held
 * for the rule's `for` and the rule has not fired in this episode; `undo` (when the rule has one)
 * when a fired episode ends. `episodes` (by rule name) is updated in place; entries of rules no
 * longer present are dropped. Returns whether any episode changed, so the caller saves them.
 */
export function advanceEpisodes(
  rules: readonly ResponseRule[], episodes: Record<string, RuleEpisode>, facts: RuleFacts, now: number,
): { firings: Firing[]; changed: boolean } {
  const firings: Firing[] = [];
  let changed = false;
  for (const name of Object.keys(episodes)) {
    if (!rules.some((r) => r.name === name)) {
      delete episodes[name];
      changed = true;
    }
  }
  for (const rule of rules) {
    const ep = (episodes[rule.name] ??= {});
    const evidence = conditionHolds(rule, facts);
    if (evidence !== null) {
      if (ep.since === undefined) {
        ep.since = now;
        changed = true;
      }
      if (!ep.fired && now - ep.since >= durationMs(rule.when.for)) {
        ep.fired = true;
        changed = true;
        firings.push({ rule, phase: 'do', action: rule.do, evidence: `${evidence}, holding since ${new Date(ep.since).toISOString()}` });
      }
    } else if (ep.since !== undefined) {
      if (ep.fired && rule.undo) firings.push({ rule, phase: 'undo', action: rule.undo, evidence: `the condition cleared (${describeCondition(rule)} no longer holds)` });
      delete ep.since;
      delete ep.fired;
      changed = true;
    }
  }
  return { firings, changed };
}

/** A rule's condition in words. */
export function describeCondition(rule: ResponseRule): string {
  const w = rule.when;
  const hold = durationMs(w.for) > 0 ? ` for ${w.for}` : '';
  if (w.risk !== undefined) return `risk >= ${w.risk}${hold}`;
  if (w.anomaly) return `an anomaly event${w.anomaly.driver ? ` on ${w.anomaly.driver}` : ''}${w.anomaly.severity > 0 ? ` of severity >= ${w.anomaly.severity}` : ''}${hold}`;
  return `forecast >= ${w.forecast!.above} within ${w.forecast!.within}${hold}`;
}

/** An action in words, e.g. `migrate route api of checkout-proxy`. */
export function describeAction(a: ResponseAction): string {
  if (a.migrate) return `migrate route ${a.migrate.route} of ${a.migrate.shadow} to its shadow${a.migrate.steps ? ` in steps ${a.migrate.steps.join(', ')}` : ''}`;
  if (a.abort) return `send all traffic of route ${a.abort.route} of ${a.abort.shadow} back to its primary`;
  if (a.failover) return `fail volume ${a.failover.volume} of ${a.failover.shadow} over to its shadow`;
  if (a.failback) return `fail volume ${a.failback.volume} of ${a.failback.shadow} back`;
  if (a.move) return `move partition ${a.move.partition} of ${a.move.shadow} to worker ${a.move.worker}`;
  if (a.pin) return `${a.pin.pinned ? 'pin' : 'unpin'} partition ${a.pin.partition} of ${a.pin.shadow}`;
  if (a.scale) return `add ${a.scale.add} unit${a.scale.add > 1 ? 's' : ''}`;
  if (a.webhook) return `call ${a.webhook.url}`;
  if (a.command) return `run ${a.command.command}`;
  return 'notify';
}
