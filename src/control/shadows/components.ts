/**
 * How the service talks to each kind of shadow component over its admin HTTP API: one status read
 * per kind (several GETs folded into one view) and the operator actions it relays. The service
 * imports nothing of the components' code: they are separate processes, and this file is the
 * contract with their documented admin APIs (docs/traffic.md, partitions.md, volumes.md, sql.md).
 */
import { ERROR_CATALOGUE, ShadowplaneError, type ErrorCode, type FieldProblem } from '../../core/errors.js';

/** A kind of component (config `shadows[].kind`). */
export type ShadowKind = 'traffic' | 'partitions' | 'volumes' | 'sql';

/** Migration commands of the traffic proxy. */
export const MIGRATION_COMMANDS = ['promote', 'pause', 'resume', 'abort', 'rollback'] as const;

/** An operator action on a component, relayed to its admin API. */
export type ShadowAction =
  | { readonly op: 'migration'; readonly route: string; readonly command: (typeof MIGRATION_COMMANDS)[number] }
  | { readonly op: 'migration-start'; readonly route: string; readonly steps?: readonly number[] }
  | { readonly op: 'pin'; readonly partition: number; readonly pinned: boolean }
  | { readonly op: 'forbid'; readonly partition: number; readonly worker: number; readonly forbidden: boolean }
  | { readonly op: 'move'; readonly partition: number; readonly worker: number }
  | { readonly op: 'failover' | 'failback'; readonly volume: string }
  | { readonly op: 'rates'; readonly sampleRate?: number; readonly writeRate?: number; readonly readRate?: number };

/** The kind each action applies to. */
export const ACTION_KIND: Record<ShadowAction['op'], ShadowKind> = {
  migration: 'traffic', 'migration-start': 'traffic', pin: 'partitions', forbid: 'partitions', move: 'partitions', failover: 'volumes', failback: 'volumes', rates: 'sql',
};

/** One admin API: base URL, optional token, timeout. */
export interface Endpoint {
  readonly name: string;
  readonly url: string;
  readonly token?: string;
  readonly timeoutMs: number;
}

const seg = (s: string | number) => encodeURIComponent(String(s));

/**
 * One request to a component; resolves to its JSON answer (null for an empty one). A transport
 * failure or timeout is SHADOWPLANE_ERR_SHADOW_UNREACHABLE; 401/403 and unreadable answers are
 * SHADOWPLANE_ERR_SHADOW_REFUSED; an error the component gives with a catalogue code is passed on
 * with that code, the detail prefixed with the component's name.
 */
export async function call(ep: Endpoint, method: string, path: string, body?: unknown): Promise<unknown> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (ep.token) headers.authorization = `Bearer ${ep.token}`;
  let res: Response;
  let text: string;
  try {
    res = await fetch(ep.url.replace(/\/$/, '') + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(ep.timeoutMs) });
    text = await res.text();
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    const why = e.name === 'TimeoutError' ? `no answer within ${ep.timeoutMs} ms` : (e.cause?.code ?? e.cause?.message ?? e.message);
    throw new ShadowplaneError('SHADOWPLANE_ERR_SHADOW_UNREACHABLE', `shadow "${ep.name}" cannot be reached at ${ep.url}: ${why}`);
  }
  let data: unknown = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    throw new ShadowplaneError('SHADOWPLANE_ERR_SHADOW_REFUSED', `shadow "${ep.name}" answered ${method} ${path} with HTTP ${res.status} and a body that is not JSON`);
  }
  if (res.ok) return data;
  const p = (data ?? {}) as { code?: string; detail?: string; title?: string; problems?: FieldProblem[] };
  const said = p.detail ?? p.title ?? `HTTP ${res.status}`;
  if (res.status === 401 || res.status === 403) {
    throw new ShadowplaneError('SHADOWPLANE_ERR_SHADOW_REFUSED', `shadow "${ep.name}" refused the service (HTTP ${res.status}: ${said}); check the token registered for it`);
  }
  const code = p.code && p.code in ERROR_CATALOGUE && p.code !== 'SHADOWPLANE_ERR_UNAUTHORIZED' ? (p.code as ErrorCode) : 'SHADOWPLANE_ERR_SHADOW_REFUSED';
  throw new ShadowplaneError(code, `shadow "${ep.name}" answered HTTP ${res.status}: ${said}`, Array.isArray(p.problems) ? p.problems : []);
}

function list(value: unknown, what: string): Record<string, unknown>[] {
  if (!Array.isArray(value)) throw new ShadowplaneError('SHADOWPLANE_ERR_SHADOW_REFUSED', `unexpected answer: ${what} is not a list`);
  return value as Record<string, unknown>[];
}

/** The traffic proxy: every route with its mirror counts, comparison summary and migration. */
async function readTraffic(ep: Endpoint) {
  const { routes } = (await call(ep, 'GET', '/v1/routes')) as { routes: unknown };
  return {
    routes: await Promise.all(list(routes, 'routes').map(async (r) => {
      const cfg = r.config as { name: string; host?: string; pathPrefix?: string; mirror?: { fraction?: number } };
      const cmp = (await call(ep, 'GET', `/v1/routes/${seg(cfg.name)}/comparison`)) as { mirror: Record<string, number>; comparison: unknown };
      const migration = r.migration ? await call(ep, 'GET', `/v1/routes/${seg(cfg.name)}/migration`) : null;
      return {
        name: cfg.name, host: cfg.host ?? null, pathPrefix: cfg.pathPrefix ?? '/', weight: r.weight, mirrorFraction: cfg.mirror?.fraction ?? 0,
        mirrorState: r.mirror, upstreams: r.upstreams, mirror: cmp.mirror, comparison: cmp.comparison, migration,
      };
    })),
  };
}

/** The stream service: partitions with their standbys, the routing table, and per worker what it owns and hosts. */
async function readPartitions(ep: Endpoint) {
  const [partitions, routing] = await Promise.all([call(ep, 'GET', '/v1/partitions'), call(ep, 'GET', '/v1/routing')]);
  const parts = list(partitions, 'partitions') as { partition: number; worker: number; standby?: { worker: number } }[];
  const workers = new Map<number, { worker: number; owns: number[]; standbys: number[] }>();
  const at = (w: number) => workers.get(w) ?? workers.set(w, { worker: w, owns: [], standbys: [] }).get(w)!;
  for (const p of parts) {
    at(p.worker).owns.push(p.partition);
    if (p.standby) at(p.standby.worker).standbys.push(p.partition);
  }
  return { partitions: parts, routing, workers: [...workers.values()].sort((a, b) => a.worker - b.worker) };
}

/** The volume service: each volume's placement, heat, tiers and failover state. */
async function readVolumes(ep: Endpoint) {
  const names = list(await call(ep, 'GET', '/volumes'), 'volumes');
  return { volumes: await Promise.all(names.map((v) => call(ep, 'GET', `/volumes/${seg(String(v.name))}`))) };
}

/** Reads a component's status (its kind's view). Rejects as `call` does. */
export function readStatus(kind: ShadowKind, ep: Endpoint): Promise<unknown> {
  switch (kind) {
    case 'traffic':
      return readTraffic(ep);
    case 'partitions':
      return readPartitions(ep);
    case 'volumes':
      return readVolumes(ep);
    case 'sql':
      return call(ep, 'GET', '/v1/status');
  }
}

/** The admin request that carries out `action`; `why` goes along where the component records a reason. */
export function actionRequest(action: ShadowAction, why: string): { method: string; path: string; body?: unknown } {
  switch (action.op) {
    case 'migration':
      return { method: 'POST', path: `/v1/routes/${seg(action.route)}/migration/${action.command}` };
    case 'migration-start':
      // The proxy keeps the reason with the migration; without steps it uses the route's policy.
      return { method: 'POST', path: `/v1/routes/${seg(action.route)}/migrations`, body: { reason: why, ...(action.steps ? { policy: { steps: action.steps } } : {}) } };
    case 'pin':
      return { method: 'POST', path: `/v1/partitions/${action.partition}/pin`, body: { pinned: action.pinned } };
    case 'forbid':
      return { method: 'POST', path: `/v1/partitions/${action.partition}/forbid`, body: { worker: action.worker, forbidden: action.forbidden } };
    case 'move':
      return { method: 'POST', path: `/v1/partitions/${action.partition}/move`, body: { worker: action.worker } };
    case 'failover':
      // The volume service keeps at most 200 characters of a reason.
      return { method: 'POST', path: `/volumes/${seg(action.volume)}/failover`, body: { reason: why.slice(0, 200) } };
    case 'failback':
      return { method: 'POST', path: `/volumes/${seg(action.volume)}/failback` };
    case 'rates': {
      const { op: _op, ...rates } = action;
      return { method: 'PUT', path: '/v1/rates', body: rates };
    }
  }
}
