/**
 * Anomaly events and failure risk of every target (src/control/anomaly.ts), controlled or observed
 * only: list and read events, triage them (who and why are recorded on the event and in the audit
 * trail), and read a target's latest risk score with its drivers and the limit that drives it. An
 * unknown target is SHADOWPLANE_ERR_TARGET_NOT_FOUND; a refused triage change is
 * SHADOWPLANE_ERR_TRIAGE_STATE.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { MAX_TIME_MS, TargetName } from '../../core/schema.js';
import { ShadowplaneError } from '../../core/errors.js';
import type { TriageState } from '../../model/detect.js';
import type { ShadowplaneService } from '../../service.js';
import { requester, Who } from '../who.js';

const TargetParams = Type.Object({ target: TargetName });
const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 300 }) });
const States = ['open', 'acknowledged', 'resolved', 'false-positive'];
const ListQuery = Type.Object({
  state: Type.Optional(Type.Union(States.map((s) => Type.Literal(s)), { description: 'Only events in this triage state.' })),
  limit: Type.Integer({ minimum: 1, maximum: 1000, default: 50 }),
  before: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_TIME_MS, description: 'Only events that started before this time (ms since the epoch): paging back.' })),
});
const TriageBody = Type.Object(
  {
    state: Type.Union(['acknowledged', 'resolved', 'false-positive'].map((s) => Type.Literal(s))),
    ...Who,
  },
  { additionalProperties: false },
);

/** /v1/targets/{target}/anomalies, /v1/anomalies/{id}, /v1/anomalies/{id}/triage, /v1/targets/{target}/risk. */
export function anomalyRoutes(app: FastifyInstance, service: ShadowplaneService): void {
  const tags = ['anomalies'];
  const security = [{ bearer: [] }];
  const { controller, store } = service;

  app.get<{ Params: Static<typeof TargetParams>; Querystring: Static<typeof ListQuery> }>(
    '/v1/targets/:target/anomalies',
    { schema: { tags, summary: 'Anomaly events of a target, newest first: start, end, severity, drivers, kind, triage state.', params: TargetParams, querystring: ListQuery } },
    async (req) => {
      controller.loop(req.params.target);
      const q = req.query;
      return { anomalies: await store.listAnomalies({ target: req.params.target, limit: q.limit, before: q.before, state: q.state as TriageState | undefined }) };
    },
  );

  app.get<{ Params: Static<typeof IdParams> }>('/v1/anomalies/:id', { schema: { tags, summary: 'One anomaly event.', params: IdParams } }, async (req) => {
    const event = await store.getAnomaly(req.params.id);
    if (!event) throw new ShadowplaneError('SHADOWPLANE_ERR_NOT_FOUND', `no anomaly event ${req.params.id}`);
    return event;
  });

  app.put<{ Params: Static<typeof IdParams>; Body: Static<typeof TriageBody> }>(
    '/v1/anomalies/:id/triage',
    { schema: { tags, summary: 'Triage an anomaly event: acknowledged, resolved or false-positive (open -> any; acknowledged -> resolved | false-positive; resolved -> false-positive). A false positive raises the alarm level of its top driver for its target (GET /v1/targets/{target}/learned).', params: IdParams, body: TriageBody, security } },
    async (req) => {
      return controller.triage(req.params.id, req.body.state as TriageState, requester(req, req.body));
    },
  );

  app.get<{ Params: Static<typeof TargetParams> }>(
    '/v1/targets/:target/risk',
    { schema: { tags, summary: 'Latest failure-risk score of a target (probability of a failure or SLO breach within the horizon) with its drivers and `limit`: the limit that drives it (utilisation or one of `control.risk.limits`) and when its trend is forecast to cross it; `ready: false` with a reason until the loop has produced one.', params: TargetParams } },
    async (req) => {
      const risk = controller.loop(req.params.target).latestRisk();
      if (!risk) return { target: req.params.target, ready: false, reason: 'NoData', message: 'the control loop has not scored a step of this target yet' };
      if (!risk.ready) return { ...risk, reason: 'WarmingUp', message: 'the detectors are still warming up: the probability is not trusted yet' };
      return { ...risk, reason: 'Scored', message: `risk computed for the step ending ${new Date(risk.t).toISOString()}` };
    },
  );
}
