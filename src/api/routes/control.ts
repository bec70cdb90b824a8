/**
 * The operator's control API: per-target control settings, overrides (pause, dry-run, review,
 * pin), forced actions, decisions and their approval, conditions and the audit trail. Every
 * change records who (the body's `actor`, else the caller's identity), when and why.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { Clock } from '../../core/clock.js';
import { durationMs, TargetName } from '../../core/schema.js';
import { ControlSettingsPatch } from '../../control/settings.js';
import type { Controller } from '../../control/controller.js';
import { requester, Who } from '../who.js';
import { parseTime } from './query.js';

const For = Type.Optional(Type.String({ pattern: '^[0-9]+(ms|s|m|h|d)$', description: 'How long the override lasts, e.g. `2h`; without it, until cleared.', errorMessage: 'must be a duration such as 30m or 2h' }));
const Units = Type.Integer({ minimum: 0, maximum: 100000 });

const TargetParams = Type.Object({ target: TargetName });
const KindParams = Type.Object({ target: TargetName, kind: Type.Union([Type.Literal('pause'), Type.Literal('dry-run'), Type.Literal('review'), Type.Literal('pin')]) });
const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });
const SettingsBody = Type.Object({ settings: ControlSettingsPatch, ...Who }, { additionalProperties: false });
const OverrideBody = Type.Object(
  { ...Who, for: For, min: Type.Optional(Units), max: Type.Optional(Units), exact: Type.Optional(Units) },
  { additionalProperties: false },
);
const ClearBody = Type.Object({ ...Who }, { additionalProperties: false });
const ActuatorBody = Type.Object(
  {
    actuator: Type.Object({ type: Type.String({ description: 'webhook, command or replay; the other keys are those of the config\'s `actuator` (docs/actuators.md).' }) }, { additionalProperties: true }),
    ...Who,
  },
  { additionalProperties: false },
);
const RulesBody = Type.Object({ rules: Type.Array(Type.Any(), { maxItems: 32, description: 'Response rules (docs/control.md); validated as a whole, problems name `/body/rules/<i>/...`.' }), ...Who }, { additionalProperties: false });
const ForceBody = Type.Object({ units: Units, ...Who }, { additionalProperties: false });
const VerdictBody = Type.Object({ ...Who }, { additionalProperties: false });
const DecisionsQuery = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 1000, default: 50 }),
  before: Type.Optional(Type.String({ description: 'Only decisions made before this time (ISO-8601 or ms).' })),
  status: Type.Optional(Type.Union((['no-action', 'pending-approval', 'submitted', 'succeeded', 'failed', 'rejected', 'superseded'] as const).map((s) => Type.Literal(s)))),
});
const LimitQuery = Type.Object({ limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }) });
const ComponentReport = Type.Object(
  {
    component: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$', description: 'The component\'s name.', errorMessage: 'must be 1-63 letters, digits, dots, dashes or underscores' }),
    kind: Type.Union((['traffic', 'partitions', 'volumes', 'sql'] as const).map((k) => Type.Literal(k))),
    action: Type.String({ pattern: '^[a-z][a-z0-9-]{0,62}$', description: 'What it did, e.g. `shadow-created`, `switched`, `failed-over`.', errorMessage: 'must be a lower-case code such as shadow-created' }),
    message: Type.String({ minLength: 1, maxLength: 500, description: 'What it did and why, in words.' }),
    evidence: Type.Optional(Type.Record(Type.String({ maxLength: 64 }), Type.Union([Type.Number(), Type.String({ maxLength: 200 }), Type.Boolean(), Type.Null()]), { maxProperties: 32, description: 'Its figures: up to 32 keys of numbers, short strings, booleans.' })),
    at: Type.Optional(Type.Integer({ minimum: 0, description: 'When (ms since the epoch); default: when it arrives.' })),
  },
  { additionalProperties: false },
);


/** What the control routes use. */
export interface ControlRouteDeps {
  readonly controller: Pick<
    Controller,
    | 'controlled' | 'view' | 'putSettings' | 'putActuator' | 'removeActuator' | 'rules' | 'putRules' | 'setOverride' | 'clearOverride' | 'force'
    | 'decisions' | 'recordComponentDecision' | 'decision' | 'approve' | 'reject' | 'conditions' | 'auditTrail'
  >;
  readonly clock: Clock;
}

/** /v1/targets/{target}/control, overrides, decisions, conditions, audit; /v1/decisions/{id}. */
export const controlRoutes: FastifyPluginAsyncTypebox<ControlRouteDeps> = async (app, { controller: c, clock }) => {
  const tags = ['control'];
  const security = [{ bearer: [] }];

  app.get('/v1/control', { schema: { tags, summary: 'The controlled targets (those with an actuator); every other target is observed only.' } }, async () => ({ targets: c.controlled() }));

  app.get('/v1/targets/:target/control', { schema: { tags, summary: 'Control settings, overrides, capacity, actuator and mode (controlled or observe-only) of a target.', params: TargetParams } }, async (req) => c.view(req.params.target));

  app.put(
    '/v1/targets/:target/control',
    { schema: { tags, summary: 'Change control settings (thresholds, horizon, quantile, policy knobs); validated, persisted, audited.', params: TargetParams, body: SettingsBody, security } },
    async (req) => ({ settings: await c.putSettings(req.params.target, req.body.settings, requester(req, req.body)) }),
  );

  app.put(
    '/v1/targets/:target/actuator',
    { schema: { tags, summary: 'Give a target an actuator, or replace its own (validated like the config\'s `actuator`); it acts through it from the next tick. Persisted and audited.', params: TargetParams, body: ActuatorBody, security } },
    async (req) => {
      const actuator = await c.putActuator(req.params.target, req.body.actuator, requester(req, req.body));
      return { target: req.params.target, actuator: actuator.type, mode: c.view(req.params.target).mode };
    },
  );

  app.delete(
    '/v1/targets/:target/actuator',
    { schema: { tags, summary: 'Take a target\'s actuator away: it is observed only from the next tick on (forecasts, anomalies and risk, no action). Persisted and audited.', params: TargetParams, body: ClearBody, security } },
    async (req) => {
      await c.removeActuator(req.params.target, requester(req, req.body));
      return { target: req.params.target, actuator: null, mode: 'observe-only' };
    },
  );

  app.get(
    '/v1/targets/:target/respond',
    { schema: { tags, summary: 'Response rules of a target, their source (config or api) and where each rule\'s episode stands.', params: TargetParams } },
    async (req) => c.rules(req.params.target),
  );

  app.put(
    '/v1/targets/:target/respond',
    { schema: { tags, summary: 'Replace the response rules of a target (validated; preferred over the config file\'s from then on); in force from the next tick. Persisted and audited.', params: TargetParams, body: RulesBody, security } },
    async (req) => ({ rules: await c.putRules(req.params.target, req.body.rules, requester(req, req.body)) }),
  );

  app.put(
    '/v1/targets/:target/overrides/:kind',
    { schema: { tags, summary: 'Set an override: pause, dry-run (forecast only), review (decisions wait for approval) or pin (min / max / exact units), optionally for a period.', params: KindParams, body: OverrideBody, security } },
    async (req) => {
      const b = req.body;
      const pin = {
        ...(b.min !== undefined ? { min: b.min } : {}),
        ...(b.max !== undefined ? { max: b.max } : {}),
        ...(b.exact !== undefined ? { exact: b.exact } : {}),
      };
      return { overrides: await c.setOverride(req.params.target, req.params.kind, requester(req, b), b.for === undefined ? undefined : durationMs(b.for), req.params.kind === 'pin' ? pin : undefined) };
    },
  );

  app.delete(
    '/v1/targets/:target/overrides/:kind',
    { schema: { tags, summary: 'Clear an override (resume, leave dry-run or review, unpin).', params: KindParams, body: ClearBody, security } },
    async (req) => ({ overrides: await c.clearOverride(req.params.target, req.params.kind, requester(req, req.body)) }),
  );

  app.post(
    '/v1/targets/:target/force',
    { schema: { tags, summary: 'Force a scale to `units` now (past pause, dry-run and review); returns its decision.', params: TargetParams, body: ForceBody, security } },
    async (req, reply) => reply.code(201).send(await c.force(req.params.target, req.body.units, requester(req, req.body))),
  );

  app.get(
    '/v1/targets/:target/decisions',
    { schema: { tags, summary: 'Decisions of a target, newest first.', params: TargetParams, querystring: DecisionsQuery } },
    async (req) => ({ decisions: await c.decisions(req.params.target, req.query.limit, req.query.before === undefined ? undefined : parseTime(req.query.before, clock.now(), 'before'), req.query.status) }),
  );

  app.post(
    '/v1/targets/:target/decisions',
    { schema: { tags, summary: 'A shadow component reports an action it took on its own (shadow partition created or switched, volume failed over, blocks copied up); recorded as a decision on the target\'s timeline.', params: TargetParams, body: ComponentReport } },
    async (req, reply) => reply.code(201).send(await c.recordComponentDecision(req.params.target, req.body)),
  );

  app.get('/v1/decisions/:id', { schema: { tags, summary: 'One decision record.', params: IdParams } }, async (req) => c.decision(req.params.id));

  app.post(
    '/v1/decisions/:id/approve',
    { schema: { tags, summary: 'Approve a decision waiting in review mode: its action is carried out.', params: IdParams, body: VerdictBody, security } },
    async (req) => c.approve(req.params.id, requester(req, req.body)),
  );

  app.post(
    '/v1/decisions/:id/reject',
    { schema: { tags, summary: 'Reject a decision waiting in review mode.', params: IdParams, body: VerdictBody, security } },
    async (req) => c.reject(req.params.id, requester(req, req.body)),
  );

  app.get('/v1/targets/:target/conditions', { schema: { tags, summary: 'Status conditions of a target.', params: TargetParams } }, async (req) => ({ conditions: await c.conditions(req.params.target) }));

  app.get(
    '/v1/targets/:target/audit',
    { schema: { tags, summary: 'Who changed what, when and why, newest first.', params: TargetParams, querystring: LimitQuery } },
    async (req) => ({ audit: await c.auditTrail(req.params.target, req.query.limit) }),
  );
};
