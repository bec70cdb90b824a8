/** Health, readiness, the service's own metrics and the store's quarantine. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { onRequestAsyncHookHandler } from 'fastify';
import type { Registry } from 'prom-client';
import type { ShadowStore } from '../../store/store.js';
import { problem, sendProblem } from '../problem.js';

const QuarantineQuery = Type.Object({ limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }) }, { additionalProperties: false });

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** What the service says of its own state; read on every request, as it changes while it runs. */
export interface ServiceState {
  /** Why this instance runs no loops and refuses writes (a standby), naming the holder; undefined while it owns the store. */
  readonly standby: string | undefined;
  /** Set while flushes fail: the first failure's time and the last error. */
  readonly flushFailure: { readonly error: string; readonly since: number } | undefined;
}

/** What the ops routes use. */
export interface OpsDeps {
  readonly state: ServiceState;
  readonly store: Pick<ShadowStore, 'backend' | 'seriesCount' | 'quarantineCount' | 'listQuarantine'>;
  /** The service's own Prometheus metrics. */
  readonly registry: Registry;
}

/**
 * The standby rule, as an onRequest hook for every route of the API: a standby (another instance
 * holds the store's lease) answers reads and refuses every request that would write, with
 * SHADOWPLANE_ERR_STANDBY naming the holder; only ingest routes publishing to the ingest stream
 * (`takenOnStandby`) are served.
 */
export function refuseWritesOnStandby(state: Pick<ServiceState, 'standby'>): onRequestAsyncHookHandler {
  return async (req, reply) => {
    if (state.standby && MUTATING.has(req.method) && !req.routeOptions.config.takenOnStandby) {
      return sendProblem(reply.header('retry-after', '1'), problem('SHADOWPLANE_ERR_STANDBY', `${state.standby}; send writes to the holder (this instance takes over when its lease lapses)`));
    }
  };
}

/** GET /healthz, /readyz, /metrics and /v1/store/quarantine. */
export const opsRoutes: FastifyPluginAsyncTypebox<OpsDeps> = async (app, { state, store, registry }) => {
  app.get('/healthz', { schema: { tags: ['ops'], summary: 'The process is up.' } }, async () => ({ status: 'ok' }));

  app.get('/readyz', { schema: { tags: ['ops'], summary: 'The Shadow Store answers and takes flushes.' } }, async (_req, reply) => {
    if (state.standby) return sendProblem(reply, problem('SHADOWPLANE_ERR_STANDBY', state.standby));
    const failing = state.flushFailure;
    if (failing) {
      const detail = `the Shadow Store has failed every flush since ${new Date(failing.since).toISOString()} (${failing.error}); the windows wait in memory and the next flush retries`;
      return sendProblem(reply, problem('SHADOWPLANE_ERR_STORE_UNAVAILABLE', detail));
    }
    try {
      await store.seriesCount();
      return { status: 'ready', backend: store.backend };
    } catch (err) {
      return sendProblem(reply, problem('SHADOWPLANE_ERR_STORE_UNAVAILABLE', (err as Error).message));
    }
  });

  app.get(
    '/v1/store/quarantine',
    {
      schema: {
        tags: ['shadow store'],
        summary: 'Windows the store refused to write, last refused first, with the backend\'s error (see docs/errors.md, SHADOWPLANE_ERR_STORE_REJECTED).',
        querystring: QuarantineQuery,
      },
    },
    async (req) => ({
      count: await store.quarantineCount(),
      windows: (await store.listQuarantine(req.query.limit)).map((q) => {
        // As stored: numbers that are not finite stay the strings "NaN" and "Infinity" (JSON has no such number).
        const { sketch: _sketch, ...row } = JSON.parse(q.row) as Record<string, unknown>;
        return { error: q.error, firstAt: new Date(q.firstAt).toISOString(), lastAt: new Date(q.lastAt).toISOString(), attempts: q.attempts, window: row };
      }),
    }),
  );

  app.get('/metrics', { schema: { tags: ['ops'], summary: 'Prometheus metrics of the service itself.' } }, async (_req, reply) => {
    const body = await registry.metrics();
    return reply.type(registry.contentType).send(body);
  });
};
