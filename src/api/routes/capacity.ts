/**
 * Capacity runs of a target: `POST /v1/targets/{target}/capacity-runs` starts one (202 with its
 * record; it goes on in the background), `GET .../capacity-runs` lists them newest first with
 * their figures, `GET .../capacity-runs/{id}` shows one with its progress (docs/capacity.md).
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { randomUUID } from 'node:crypto';
import { TargetName } from '../../core/schema.js';
import type { ShadowplaneService } from '../../service.js';
import { Actor, requester } from '../who.js';

const TargetParams = Type.Object({ target: TargetName });
const RunParams = Type.Object({ target: TargetName, id: Type.String({ minLength: 1, maxLength: 64 }) });
const StartBody = Type.Object(
  { actor: Actor, why: Type.Optional(Type.String({ minLength: 1, maxLength: 1024, description: 'Why (recorded in the audit trail).' })) },
  { additionalProperties: false },
);
const ListQuery = Type.Object({ limit: Type.Integer({ minimum: 1, maximum: 200, default: 20 }) });

/** /v1/targets/{target}/capacity-runs and /v1/targets/{target}/capacity-runs/{id}. */
export function capacityRoutes(app: FastifyInstance, service: ShadowplaneService): void {
  const tags = ['capacity'];
  const security = [{ bearer: [] }];

  app.post<{ Params: Static<typeof TargetParams>; Body: Static<typeof StartBody> }>(
    '/v1/targets/:target/capacity-runs',
    {
      schema: {
        tags, security, params: TargetParams, body: Type.Optional(StartBody),
        summary: 'Start a capacity run: refresh the target\'s shadow PostgreSQL, replay its captured query mix at rising rates, find the knee at its latency SLO. Answers 202 with the run (status `running`); follow it with GET.',
      },
    },
    async (req, reply) => {
      const who = requester(req, req.body ?? {});
      const run = await service.capacity.start(req.params.target, 'manual', who.actor);
      await service.store.appendAudit({ id: randomUUID(), target: run.target, at: run.at, actor: who.actor, why: who.why, action: 'capacity-run', detail: { run: run.id } });
      return reply.code(202).header('location', `/v1/targets/${run.target}/capacity-runs/${run.id}`).send(run);
    },
  );

  app.get<{ Params: Static<typeof TargetParams>; Querystring: Static<typeof ListQuery> }>(
    '/v1/targets/:target/capacity-runs',
    { schema: { tags, params: TargetParams, querystring: ListQuery, summary: 'Capacity runs of a target, newest first, with their status, figures and progress; `inForce` is the capacity the loop decides with now, `configured` whether the target has capacity settings.' } },
    async (req) => {
      const runs = await service.capacity.list(req.params.target, req.query.limit);
      const loop = service.controller.loop(req.params.target);
      return { configured: service.capacity.configured(req.params.target), runs, inForce: service.capacity.unitCapacity(req.params.target, loop.current) };
    },
  );

  app.get<{ Params: Static<typeof RunParams> }>(
    '/v1/targets/:target/capacity-runs/:id',
    { schema: { tags, params: RunParams, summary: 'One capacity run: status, progress lines, the mix replayed, the ramp\'s steps and the figures (knee, resources at the knee, scale factor, capacity per unit, confidence).' } },
    async (req) => service.capacity.get(req.params.target, req.params.id),
  );
}
