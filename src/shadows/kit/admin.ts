/**
 * The admin API every shadow component serves, built one way: the HTTP base the service's own API
 * uses (TypeBox validation naming the field, problem+json errors, the bearer token on every request
 * that changes state), the refusal to listen beyond loopback without a token, the component's
 * routes under `/v1`, and beside them `GET /healthz` and, when the component keeps metrics, its
 * prom-client registry at `GET /metrics`.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { assertSafeBind, buildApp, type ListenerTimeouts } from '../../api/app.js';

/** The version prefix of every component's admin routes. */
export const ADMIN_PREFIX = '/v1';

/** What sets one component's admin API apart. */
export interface AdminSpec {
  /** Logger name, e.g. `proxy-admin`. */
  readonly name: string;
  /** What the API is, for the refusal to bind beyond loopback: `the stream API`. */
  readonly what: string;
  /** Largest request body, bytes. */
  readonly bodyLimit: number;
  /** When set, every request that changes state needs `Authorization: Bearer <token>`. */
  readonly token?: string;
  /** The environment variable the token comes from, named in the 401 and the bind refusal. */
  readonly tokenEnv: string;
  /** Connection timeouts; the base's defaults when not given. */
  readonly timeouts?: ListenerTimeouts;
  /** The component's metrics, served at /metrics; `beforeScrape` sets the gauges read on demand. */
  readonly metrics?: { readonly registry: Registry; readonly beforeScrape?: () => void };
}

/**
 * The component's routes, registered under ADMIN_PREFIX (paths in it are relative: `/routes`). The
 * app they get has the TypeBox type provider, so each handler's request is typed from its schema.
 */
export type AdminRoutes = FastifyPluginAsyncTypebox;

/** Builds the admin API (not listening; tests use `inject`). */
export function buildAdmin(spec: AdminSpec, routes: AdminRoutes): FastifyInstance {
  const app = buildApp({ name: spec.name, bodyLimit: spec.bodyLimit, token: spec.token, tokenSource: spec.tokenEnv, timeouts: spec.timeouts });
  app.get('/healthz', async () => ({ ok: true }));
  const metrics = spec.metrics;
  if (metrics) {
    app.get('/metrics', async (_req, reply) => {
      metrics.beforeScrape?.();
      return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
    });
  }
  void app.register(routes, { prefix: ADMIN_PREFIX });
  return app;
}

/**
 * Builds the admin API and listens on `at` (port 0 picks one). Refuses
 * (SHADOWPLANE_ERR_INSECURE_BIND) an address beyond loopback without a long enough token; rejects
 * when the address cannot be bound.
 */
export async function startAdmin(spec: AdminSpec, routes: AdminRoutes, at: { readonly host: string; readonly port: number }): Promise<FastifyInstance> {
  assertSafeBind(spec.what, at.host, spec.token, spec.tokenEnv);
  const app = buildAdmin(spec, routes);
  try {
    await app.listen({ host: at.host, port: at.port });
  } catch (err) {
    await app.close();
    throw err;
  }
  return app;
}
