/**
 * The proxy's admin HTTP API (fastify, on its own port, loopback by default): routes, fractions,
 * weights and migrations at runtime, comparison results, upstream health, and Prometheus metrics
 * at /metrics. Bodies are validated against the TypeBox schemas; errors are problem+json with the
 * catalogue code and one entry per bad field. Mutations need the bearer token when one is set.
 */
import type { FastifyInstance } from 'fastify';
import { buildApp, type ListenerTimeouts } from '../../api/app.js';
import { ShadowplaneError } from '../../core/errors.js';
import { validate, MigrationPolicySchema, type RouteConfig } from './config.js';
import type { TrafficProxy } from './proxy.js';
import type { RouteRuntime } from './route.js';

const COMMANDS = ['promote', 'pause', 'resume', 'abort', 'rollback'] as const;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Recursive merge of plain objects; arrays and scalars in `patch` replace. */
export function mergePatch(base: unknown, patch: unknown): unknown {
  if (!isObject(base) || !isObject(patch)) return patch;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(patch)) out[k] = v === null ? undefined : mergePatch(base[k], v);
  return out;
}

function routeView(r: RouteRuntime) {
  const mirror = r.mirror;
  return {
    config: r.cfg,
    weight: r.weight,
    mirror: mirror ? { inFlight: mirror.inFlight, breakerOpen: mirror.breaker.open } : null,
    upstreams: { primary: r.primary.status(), shadow: r.shadow?.status() ?? null, secondary: r.secondary?.status() ?? null },
    migration: r.migration ? { id: r.migration.id, status: r.migration.status, weight: r.migration.weight } : null,
  };
}

/**
 * Builds the admin API for `proxy` (not listening; call `listen`). `token`, when set, is required
 * as `Authorization: Bearer <token>` on every non-GET request.
 */
export function buildAdmin(proxy: TrafficProxy, token?: string, timeouts?: ListenerTimeouts): FastifyInstance {
  const app = buildApp({ name: 'proxy-admin', bodyLimit: 1_048_576, token, tokenSource: 'SHADOWPLANE_PROXY_TOKEN', timeouts });

  const getRoute = (name: string): RouteRuntime => {
    const r = proxy.route(name);
    if (!r) throw new ShadowplaneError('SHADOWPLANE_ERR_NOT_FOUND', `no route named "${name}"`);
    return r;
  };

  app.get('/healthz', async () => ({ ok: true }));
  app.get('/metrics', async (_req, reply) => {
    for (const u of proxy.upstreamList()) proxy.metrics.upstreamUp.set({ upstream: u.origin }, u.available ? 1 : 0);
    for (const r of proxy.routes()) if (r.mirror) proxy.metrics.breakerState.set({ route: r.name }, r.mirror.breaker.open ? 1 : 0);
    return reply.type('text/plain; version=0.0.4').send(proxy.metrics.render());
  });

  app.get('/v1/routes', async () => ({ routes: proxy.routes().map(routeView) }));
  app.put('/v1/routes', async (req) => {
    if (!Array.isArray(req.body)) throw new ShadowplaneError('SHADOWPLANE_ERR_CONFIG_INVALID', 'body must be an array of routes', [{ path: '/', message: 'must be an array' }]);
    proxy.setRoutes(req.body);
    return { routes: proxy.routes().map(routeView) };
  });
  app.get<{ Params: { name: string } }>('/v1/routes/:name', async (req) => routeView(getRoute(req.params.name)));
  app.put<{ Params: { name: string } }>('/v1/routes/:name', async (req) => {
    const body = isObject(req.body) ? { ...req.body, name: req.params.name } : req.body;
    proxy.upsertRoute(body);
    return routeView(getRoute(req.params.name));
  });
  app.patch<{ Params: { name: string } }>('/v1/routes/:name', async (req) => {
    const r = getRoute(req.params.name);
    if (!isObject(req.body)) throw new ShadowplaneError('SHADOWPLANE_ERR_CONFIG_INVALID', 'body must be an object', [{ path: '/', message: 'must be an object' }]);
    const merged = mergePatch(r.cfg, { ...req.body, name: r.name }) as RouteConfig;
    proxy.upsertRoute(JSON.parse(JSON.stringify(merged)));
    return routeView(r);
  });
  app.delete<{ Params: { name: string } }>('/v1/routes/:name', async (req, reply) => {
    if (!proxy.removeRoute(req.params.name)) throw new ShadowplaneError('SHADOWPLANE_ERR_NOT_FOUND', `no route named "${req.params.name}"`);
    return reply.code(204).send();
  });

  app.get<{ Params: { name: string } }>('/v1/routes/:name/comparison', async (req) => {
    const r = getRoute(req.params.name);
    const mirror = r.mirror;
    const counts = mirror ? Object.fromEntries((['sent', 'ok', 'shadow_5xx', 'timeout', 'refused', 'reset', 'error', 'dropped_inflight', 'dropped_rate', 'oversized', 'breaker_open', 'unhealthy', 'aborted'] as const).map((o) => [o, mirror.count(o)])) : {};
    return { route: r.name, mirror: counts, comparison: r.comparison.summary() };
  });

  app.post<{ Params: { name: string } }>('/v1/routes/:name/migrations', async (req, reply) => {
    const r = getRoute(req.params.name);
    const body = req.body ?? {};
    if (!isObject(body)) throw new ShadowplaneError('SHADOWPLANE_ERR_VALIDATION', 'body must be an object', [{ path: '/', message: 'must be an object' }]);
    const extra = Object.keys(body).filter((k) => k !== 'reason' && k !== 'policy');
    if (extra.length) throw new ShadowplaneError('SHADOWPLANE_ERR_VALIDATION', 'unknown fields', extra.map((k) => ({ path: `/${k}`, message: 'unknown field' })));
    if (body.reason !== undefined && typeof body.reason !== 'string') throw new ShadowplaneError('SHADOWPLANE_ERR_VALIDATION', 'bad reason', [{ path: '/reason', message: 'must be a string' }]);
    const policy = validate(MigrationPolicySchema, mergePatch(r.cfg.migration, body.policy ?? {}), '/policy');
    const m = r.startMigration(policy, (body.reason as string | undefined) ?? 'manual');
    return reply.code(201).send(m.view());
  });
  app.get<{ Params: { name: string } }>('/v1/routes/:name/migration', async (req) => {
    const v = getRoute(req.params.name).migrationView();
    if (!v) throw new ShadowplaneError('SHADOWPLANE_ERR_NOT_FOUND', `route "${req.params.name}" has no migration`);
    return v;
  });
  app.post<{ Params: { name: string; command: string } }>('/v1/routes/:name/migration/:command', async (req) => {
    const r = getRoute(req.params.name);
    const cmd = req.params.command as (typeof COMMANDS)[number];
    if (!COMMANDS.includes(cmd)) throw new ShadowplaneError('SHADOWPLANE_ERR_VALIDATION', `unknown command "${req.params.command}"`, [{ path: '/command', message: `must be one of ${COMMANDS.join(', ')}` }]);
    const m = r.migration;
    if (!m) throw new ShadowplaneError('SHADOWPLANE_ERR_NOT_FOUND', `route "${r.name}" has no migration`);
    m[cmd]();
    return m.view();
  });

  app.get('/v1/upstreams', async () => ({ upstreams: proxy.upstreamList().map((u) => u.status()) }));
  return app;
}
