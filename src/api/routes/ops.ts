/** Health, readiness and the service's own metrics. */
import type { FastifyInstance } from 'fastify';
import type { ShadowplaneService } from '../../service.js';
import { problem, sendProblem } from '../problem.js';

/** GET /healthz, /readyz and /metrics. */
export function opsRoutes(app: FastifyInstance, service: ShadowplaneService): void {
  app.get('/healthz', { schema: { tags: ['ops'], summary: 'The process is up.' } }, async () => ({ status: 'ok' }));

  app.get('/readyz', { schema: { tags: ['ops'], summary: 'The Shadow Store answers.' } }, async (_req, reply) => {
    try {
      await service.store.seriesCount();
      return { status: 'ready', backend: service.store.backend };
    } catch (err) {
      return sendProblem(reply, problem('SHADOWPLANE_ERR_STORE_UNAVAILABLE', (err as Error).message));
    }
  });

  app.get('/metrics', { schema: { tags: ['ops'], summary: 'Prometheus metrics of the service itself.' } }, async (_req, reply) => {
    const body = await service.metrics.registry.metrics();
    return reply.type(service.metrics.registry.contentType).send(body);
  });
}
