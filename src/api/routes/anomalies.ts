/**
 * Anomaly events and failure risk of every target (src/control/anomaly.ts), controlled or observed
 * only: list and read events, triage them (who and why are recorded on the event and in the audit
 * trail), and read a target's latest risk score with its drivers and the limit that drives it. An
 * unknown target is SHADOWPLANE_ERR_TARGET_NOT_FOUND; a refused triage change is
 * SHADOWPLANE_ERR_TRIAGE_STATE.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { MAX_TIME_MS, TargetName } from '../../core/schema.js';
import { ShadowplaneError } from '../../core/errors.js';
import type { Controller } from '../../control/controller.js';
import type { ShadowStore } from '../../store/store.js';
import { requester, Who } from '../who.js';

const TargetParams = Type.Object({ target: TargetName });
const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 300 }) });
const States = ['open', 'acknowledged', 'resolved', 'false-positive'] as const;
const ListQuery = Type.Object({
  state: Type.Optional(Type.Union(States.map((s) => Type.Literal(s)), { description: 'Only events in this triage state.' })),
  limit: Type.Integer({ minimum: 1, maximum: 1000, default: 50 }),
  before: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_TIME_MS, description: 'Only events that started before this time (ms since the epoch): paging back.' })),
});
const TriageBody = Type.Object(
  {
    state: Type.Union((['acknowledged', 'resolved', 'false-positive'] as const).map((s) => Type.Literal(s))),
    ...Who,
  },
  { additionalProperties: false },
);

/** What the anomaly routes use. */
export interface AnomalyRouteDeps {
  readonly controller: Pick<Controller, 'loop' | 'triage'>;
  /** The anomaly events, and the audit trail their triage goes to. */
  readonly store: ShadowStore;
}

/** /v1/targets/{target}/anomalies, /v1/anomalies/{id}, /v1/anomalies/{id}/triage, /v1/targets/{target}/risk. */
export const anomalyRoutes: FastifyPluginAsyncTypebox<AnomalyRouteDeps> = async (app, { controller, store }) => {
  const tags = ['anomalies'];
  const security = [{ bearer: [] }];

  app.get(
    '/v1/targets/:target/anomalies',
    { schema: { tags, summary: 'Anomaly events of a target, newest first: start, end, severity, drivers, kind, triage state.', params: TargetParams, querystring: ListQuery } },
    async (req) => {
      controller.loop(req.params.target);
      const q = req.query;
      return { anomalies: await store.listAnomalies({ target: req.params.target, limit: q.limit, before: q.before, state: q.state }) };
    },
  );

  app.get('/v1/anomalies/:id', { schema: { tags, summary: 'One anomaly event.', params: IdParams } }, async (req) => {
    const event = await store.getAnomaly(req.params.id);
    if (!event) throw new ShadowplaneError('SHADOWPLANE_ERR_NOT_FOUND', `no anomaly event ${req.params.id}`);
    return event;
  });

  app.put(
    '/v1/anomalies/:id/triage',
    { schema: { tags, summary: 'Triage an anomaly event: acknowledged, resolved or false-positive (open -> any; acknowledged -> resolved | false-positive; resolved -> false-positive). A false positive raises the alarm level of its top driver for its target (GET /v1/targets/{target}/learned).', params: IdParams, body: TriageBody, security } },
    async (req) => {
      return controller.triage(req.params.id, req.body.state, requester(req, req.body));
    },
  );

  app.get(
    '/v1/targets/:target/risk',
    { schema: { tags, summary: 'Latest failure-risk score of a target (probability of a failure or SLO breach within the horizon) with its drivers and `limit`: the limit that drives it (utilisation or one of `control.risk.limits`) and when its trend is forecast to cross it; `ready: false` with a reason until the loop has produced one.', params: TargetParams } },
    async (req) => {
      const risk = controller.loop(req.params.target).latestRisk();
      if (!risk) return { target: req.params.target, ready: false, reason: 'NoData', message: 'the control loop has not scored a step of this target yet' };
      if (!risk.ready) return { ...risk, reason: 'WarmingUp', message: 'the detectors are still warming up: the probability is not trusted yet' };
      return { ...risk, reason: 'Scored', message: `risk computed for the step ending ${new Date(risk.t).toISOString()}` };
    },
  );
};
