/**
 * What a target's loop has learned (src/control/learned.ts): headroom, lead time, alarm levels,
 * each with its source and history; and forgetting an alarm level a triage verdict taught.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { Controller } from '../../control/controller.js';
import { TargetName } from '../../core/schema.js';
import { requester, Who } from '../who.js';

const TargetParams = Type.Object({ target: TargetName });
const SignalParams = Type.Object({ target: TargetName, signal: Type.String({ minLength: 1, maxLength: 300, description: 'The driver signal (`requests`, a metric key).' }) });
const ResetBody = Type.Object({ ...Who }, { additionalProperties: false });

/** What the learned-state routes use. */
export interface LearnedRouteDeps {
  readonly controller: Pick<Controller, 'learned' | 'resetAlarmLevel'>;
}

/** GET /v1/targets/{target}/learned, DELETE /v1/targets/{target}/learned/alarm-levels/{signal}. */
export const learnedRoutes: FastifyPluginAsyncTypebox<LearnedRouteDeps> = async (app, { controller }) => {
  const tags = ['control'];

  app.get(
    '/v1/targets/:target/learned',
    { schema: { tags, summary: 'What the target\'s loop has learned and kept across restarts: headroom (trigger refinement), lead time (measured provisioning delay, or the configured one until enough scale-ups were measured), alarm levels taught by false-positive verdicts; with the history of their changes, newest first.', params: TargetParams } },
    async (req) => controller.learned(req.params.target),
  );

  app.delete(
    '/v1/targets/:target/learned/alarm-levels/:signal',
    { schema: { tags, summary: 'Forget the alarm level false-positive verdicts taught a driver signal: events open at the alarm threshold again. Persisted and audited.', params: SignalParams, body: ResetBody, security: [{ bearer: [] }] } },
    async (req) => {
      await controller.resetAlarmLevel(req.params.target, req.params.signal, requester(req, req.body));
      return controller.learned(req.params.target);
    },
  );
};
