/**
 * Capacity runs of a target: `POST /v1/targets/{target}/capacity-runs` starts one (202 with its
 * record; it goes on in the background), `GET .../capacity-runs` lists them newest first with
 * their figures, `GET .../capacity-runs/{id}` shows one with its progress (docs/capacity.md).
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { randomUUID } from 'node:crypto';
import type { CapacityRuns } from '../../control/capacity.js';
import type { Controller } from '../../control/controller.js';
import { TargetName } from '../../core/schema.js';
import type { ShadowStore } from '../../store/store.js';
import { Actor, requester } from '../who.js';

const TargetParams = Type.Object({ target: TargetName });
const RunParams = Type.Object({ target: TargetName, id: Type.String({ minLength: 1, maxLength: 64 }) });
const StartBody = Type.Object(
  { actor: Actor, why: Type.Optional(Type.String({ minLength: 1, maxLength: 1024, description: 'Why (recorded in the audit trail).' })) },
  { additionalProperties: false },
);
const ListQuery = Type.Object({ limit: Type.Integer({ minimum: 1, maximum: 200, default: 20 }) });

/** What the capacity-run routes use. */
export interface CapacityRouteDeps {
  readonly capacity: CapacityRuns;
  readonly controller: Pick<Controller, 'loop'>;
  /** The audit trail a run's start goes to. */
  readonly store: Pick<ShadowStore, 'appendAudit'>;
}

/** /v1/targets/{target}/capacity-runs and /v1/targets/{target}/capacity-runs/{id}. */
export const capacityRoutes: FastifyPluginAsyncTypebox<CapacityRouteDeps> = async (app, { capacity, controller, store }) => {
  const tags = ['capacity'];
  const security = [{ bearer: [] }];

  app.post(
    '/v1/targets/:target/capacity-runs',
    {
      schema: {
        tags, security, params: TargetParams, body: Type.Optional(StartBody),
        summary: 'Start a capacity run: refresh the target\'s shadow PostgreSQL, replay its captured query mix at rising rates, find the knee at its latency SLO. Answers 202 with the run (status `running`); follow it with GET.',
      },
    },
    async (req, reply) => {
      const who = requester(req, req.body ?? {});
      const run = await capacity.start(req.params.target, 'manual', who.actor);
      await store.appendAudit({ id: randomUUID(), target: run.target, at: run.at, actor: who.actor, why: who.why, action: 'capacity-run', detail: { run: run.id } });
      return reply.code(202).header('location', `/v1/targets/${run.target}/capacity-runs/${run.id}`).send(run);
    },
  );

  app.get(
    '/v1/targets/:target/capacity-runs',
    { schema: { tags, params: TargetParams, querystring: ListQuery, summary: 'Capacity runs of a target, newest first, with their status, figures and progress; `inForce` is the capacity the loop decides with now, `configured` whether the target has capacity settings.' } },
    async (req) => {
      const runs = await capacity.list(req.params.target, req.query.limit);
      const loop = controller.loop(req.params.target);
      return { configured: capacity.configured(req.params.target), runs, inForce: capacity.unitCapacity(req.params.target, loop.current) };
    },
  );

  app.get(
    '/v1/targets/:target/capacity-runs/:id',
    { schema: { tags, params: RunParams, summary: 'One capacity run: status, progress lines, the mix replayed, the ramp\'s steps and the figures (knee, resources at the knee, scale factor, capacity per unit, confidence).' } },
    async (req) => capacity.get(req.params.target, req.params.id),
  );
};
