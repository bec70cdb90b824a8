/**
 * The proxy's admin HTTP API (the component kit's admin app, on its own port, loopback by default):
 * routes, fractions, weights and migrations at runtime, comparison results, upstream health, and
 * Prometheus metrics at /metrics. Request schemas and answers follow the contract (contract.ts);
 * route configurations are validated against the proxy's config schemas. Errors are problem+json
 * with the catalogue code and one entry per bad field. Mutations need the bearer token when one is set.
 */
import type { FastifyInstance } from 'fastify';
import type { ListenerTimeouts } from '../../api/app.js';
import { ShadowplaneError } from '../../core/errors.js';
import { buildAdmin as buildKitAdmin, startAdmin as startKitAdmin, type AdminRoutes, type AdminSpec } from '../kit/admin.js';
import { validate, MigrationPolicySchema, type RouteConfig } from './config.js';
import {
  MigrationCommandParams, MigrationStartBody, RouteParams,
  type ComparisonAnswer, type MigrationView, type RouteView, type RoutesAnswer,
} from './contract.js';
import { MIRROR_OUTCOMES } from './mirror.js';
import type { TrafficProxy } from './proxy.js';
import type { RouteRuntime } from './route.js';

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

function routeView(r: RouteRuntime): RouteView {
  const mirror = r.mirror;
  return {
    config: r.cfg,
    weight: r.weight,
    mirror: mirror ? { inFlight: mirror.inFlight, breakerOpen: mirror.breaker.open } : null,
    upstreams: { primary: r.primary.status(), shadow: r.shadow?.status() ?? null, secondary: r.secondary?.status() ?? null },
    migration: r.migration ? { id: r.migration.id, status: r.migration.status, weight: r.migration.weight } : null,
  };
}

/** The proxy's `/v1` routes. */
function routes(proxy: TrafficProxy): AdminRoutes {
  const getRoute = (name: string): RouteRuntime => {
    const r = proxy.route(name);
    if (!r) throw new ShadowplaneError('SHADOWPLANE_ERR_NOT_FOUND', `no route named "${name}"`);
    return r;
  };
  const byName = { schema: { params: RouteParams } };

  return async (app) => {
    app.get('/routes', async (): Promise<RoutesAnswer> => ({ routes: proxy.routes().map(routeView) }));
    app.put('/routes', async (req): Promise<RoutesAnswer> => {
      if (!Array.isArray(req.body)) throw new ShadowplaneError('SHADOWPLANE_ERR_CONFIG_INVALID', 'body must be an array of routes', [{ path: '/', message: 'must be an array' }]);
      proxy.setRoutes(req.body);
      return { routes: proxy.routes().map(routeView) };
    });
    app.get('/routes/:name', byName, async (req): Promise<RouteView> => routeView(getRoute(req.params.name)));
    app.put('/routes/:name', byName, async (req): Promise<RouteView> => {
      const body = isObject(req.body) ? { ...req.body, name: req.params.name } : req.body;
      proxy.upsertRoute(body);
      return routeView(getRoute(req.params.name));
    });
    app.patch('/routes/:name', byName, async (req): Promise<RouteView> => {
      const r = getRoute(req.params.name);
      if (!isObject(req.body)) throw new ShadowplaneError('SHADOWPLANE_ERR_CONFIG_INVALID', 'body must be an object', [{ path: '/', message: 'must be an object' }]);
      const merged = mergePatch(r.cfg, { ...req.body, name: r.name }) as RouteConfig;
      proxy.upsertRoute(JSON.parse(JSON.stringify(merged)));
      return routeView(r);
    });
    app.delete('/routes/:name', byName, async (req, reply) => {
      if (!proxy.removeRoute(req.params.name)) throw new ShadowplaneError('SHADOWPLANE_ERR_NOT_FOUND', `no route named "${req.params.name}"`);
      return reply.code(204).send();
    });

    app.get('/routes/:name/comparison', byName, async (req): Promise<ComparisonAnswer> => {
      const r = getRoute(req.params.name);
      const mirror = r.mirror;
      const counts = mirror ? Object.fromEntries(MIRROR_OUTCOMES.map((o) => [o, mirror.count(o)])) : {};
      return { route: r.name, mirror: counts, comparison: r.comparison.summary() };
    });

    app.post('/routes/:name/migrations', { schema: { params: RouteParams, body: MigrationStartBody } }, async (req, reply) => {
      const r = getRoute(req.params.name);
      const body = req.body ?? {};
      const policy = validate(MigrationPolicySchema, mergePatch(r.cfg.migration, body.policy ?? {}), '/policy');
      const m = r.startMigration(policy, body.reason ?? 'manual');
      const view: MigrationView = m.view();
      return reply.code(201).send(view);
    });
    app.get('/routes/:name/migration', byName, async (req): Promise<MigrationView> => {
      const v = getRoute(req.params.name).migrationView();
      if (!v) throw new ShadowplaneError('SHADOWPLANE_ERR_NOT_FOUND', `route "${req.params.name}" has no migration`);
      return v;
    });
    app.post('/routes/:name/migration/:command', { schema: { params: MigrationCommandParams } }, async (req): Promise<MigrationView> => {
      const r = getRoute(req.params.name);
      const m = r.migration;
      if (!m) throw new ShadowplaneError('SHADOWPLANE_ERR_NOT_FOUND', `route "${r.name}" has no migration`);
      m[req.params.command]();
      return m.view();
    });

    app.get('/upstreams', async () => ({ upstreams: proxy.upstreamList().map((u) => u.status()) }));
  };
}

function spec(proxy: TrafficProxy, token: string | undefined, timeouts: ListenerTimeouts | undefined): AdminSpec {
  return {
    name: 'proxy-admin', what: 'the admin API', bodyLimit: 1_048_576, token, tokenEnv: 'SHADOWPLANE_PROXY_TOKEN', timeouts,
    metrics: {
      registry: proxy.metrics.registry,
      beforeScrape: () => {
        for (const u of proxy.upstreamList()) proxy.metrics.upstreamUp.set({ upstream: u.origin }, u.available ? 1 : 0);
        for (const r of proxy.routes()) if (r.mirror) proxy.metrics.breakerState.set({ route: r.name }, r.mirror.breaker.open ? 1 : 0);
      },
    },
  };
}

/** `extra` routes (e.g. the http-tap's `/tap`) join the proxy's under `/v1`. */
function withExtra(proxy: TrafficProxy, extra?: AdminRoutes): AdminRoutes {
  const own = routes(proxy);
  return extra ? async (app, opts) => { await own(app, opts); await extra(app, opts); } : own;
}

/**
 * Builds the admin API for `proxy` (not listening; call `listen`). `token`, when set, is required
 * as `Authorization: Bearer <token>` on every non-GET request.
 */
export function buildAdmin(proxy: TrafficProxy, token?: string, timeouts?: ListenerTimeouts, extra?: AdminRoutes): FastifyInstance {
  return buildKitAdmin(spec(proxy, token, timeouts), withExtra(proxy, extra));
}

/** Builds the admin API and listens on `at`; refuses a bind beyond loopback without a token. */
export function startAdmin(proxy: TrafficProxy, at: { host: string; port: number }, token?: string, extra?: AdminRoutes): Promise<FastifyInstance> {
  return startKitAdmin(spec(proxy, token, undefined), withExtra(proxy, extra), at);
}
