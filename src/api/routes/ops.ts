/** Health, readiness, the service's own metrics and the store's quarantine. */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { ShadowplaneService } from '../../service.js';
import { problem, sendProblem } from '../problem.js';

const QuarantineQuery = Type.Object({ limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }) }, { additionalProperties: false });

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * GET /healthz, /readyz, /metrics and /v1/store/quarantine; and the standby rule for every route
 * registered after these: a standby (another instance holds the store's lease) answers reads and
 * refuses every request that would write, with SHADOWPLANE_ERR_STANDBY naming the holder.
 */
export function opsRoutes(app: FastifyInstance, service: ShadowplaneService): void {
  app.addHook('onRequest', async (req, reply) => {
    if (service.standby && MUTATING.has(req.method)) {
      return sendProblem(reply.header('retry-after', '1'), problem('SHADOWPLANE_ERR_STANDBY', `${service.standby}; send writes to the holder (this instance takes over when its lease lapses)`));
    }
  });

  app.get('/healthz', { schema: { tags: ['ops'], summary: 'The process is up.' } }, async () => ({ status: 'ok' }));

  app.get('/readyz', { schema: { tags: ['ops'], summary: 'The Shadow Store answers and takes flushes.' } }, async (_req, reply) => {
    if (service.standby) return sendProblem(reply, problem('SHADOWPLANE_ERR_STANDBY', service.standby));
    const failing = service.flushFailure;
    if (failing) {
      const detail = `the Shadow Store has failed every flush since ${new Date(failing.since).toISOString()} (${failing.error}); the windows wait in memory and the next flush retries`;
      return sendProblem(reply, problem('SHADOWPLANE_ERR_STORE_UNAVAILABLE', detail));
    }
    try {
      await service.store.seriesCount();
      return { status: 'ready', backend: service.store.backend };
    } catch (err) {
      return sendProblem(reply, problem('SHADOWPLANE_ERR_STORE_UNAVAILABLE', (err as Error).message));
    }
  });

  app.get<{ Querystring: Static<typeof QuarantineQuery> }>(
    '/v1/store/quarantine',
    { schema: { tags: ['shadow store'], summary: 'Windows the store refused to write, last refused first, with the backend\'s error (see docs/errors.md, SHADOWPLANE_ERR_STORE_REJECTED).', querystring: QuarantineQuery } },
    async (req) => ({
      count: await service.store.quarantineCount(),
      windows: (await service.store.listQuarantine(req.query.limit)).map((q) => {
        // As stored: numbers that are not finite stay the strings "NaN" and "Infinity" (JSON has no such number).
        const { sketch: _sketch, ...row } = JSON.parse(q.row) as Record<string, unknown>;
        return { error: q.error, firstAt: new Date(q.firstAt).toISOString(), lastAt: new Date(q.lastAt).toISOString(), attempts: q.attempts, window: row };
      }),
    }),
  );

  app.get('/metrics', { schema: { tags: ['ops'], summary: 'Prometheus metrics of the service itself.' } }, async (_req, reply) => {
    const body = await service.metrics.registry.metrics();
    return reply.type(service.metrics.registry.contentType).send(body);
  });
}
