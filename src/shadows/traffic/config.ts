/**
 * Traffic manager configuration: the JSON schemas (TypeBox) for routes and the proxy, their
 * defaults, and the one validation entry point used by the CLI, the config file and the admin API.
 */
import { readFile } from 'node:fs/promises';
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { parse as parseYaml } from 'yaml';
import { ShadowplaneError, type FieldProblem } from '../../core/errors.js';

const Fraction = (def: number, description: string) => Type.Number({ minimum: 0, maximum: 1, default: def, description });
const PositiveInt = (def: number, description: string) => Type.Integer({ minimum: 1, default: def, description });
const HttpUrl = (description: string) => Type.String({ pattern: '^http://[^/]+', description });

/** Mirroring of requests to the shadow: fire and forget, bounded. */
export const MirrorSchema = Type.Object(
  {
    fraction: Fraction(0, 'share of eligible reads mirrored to the shadow'),
    methods: Type.Array(Type.String({ pattern: '^[A-Z]+$' }), { default: ['GET', 'HEAD'], description: 'read methods eligible for mirroring' }),
    writes: Type.Object(
      {
        enabled: Type.Boolean({ default: false }),
        fraction: Fraction(1, 'share of writes mirrored when enabled'),
        perSecond: Type.Number({ minimum: 0, default: 10, description: 'token-bucket rate limit of mirrored writes' }),
      },
      { additionalProperties: false, default: {} },
    ),
    maxInFlight: PositiveInt(64, 'mirrors outstanding at once; more are dropped and counted'),
    timeoutMs: PositiveInt(1000, 'a mirror with no answer for this long is abandoned and counted'),
    maxBodyBytes: Type.Integer({ minimum: 0, default: 1_048_576, description: 'larger request bodies are not mirrored (counted)' }),
    shadowHostSuffix: Type.Boolean({ default: false, description: 'send Host: <host>-shadow to the shadow' }),
    breaker: Type.Object(
      {
        failureThreshold: PositiveInt(5, 'consecutive failed mirrors that open the breaker'),
        cooldownMs: PositiveInt(5000, 'how long the breaker stays open before one probe'),
      },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false, default: {} },
);

/** Comparison of primary and shadow answers to mirrored requests. */
export const CompareSchema = Type.Object(
  {
    enabled: Type.Boolean({ default: true }),
    headers: Type.Array(Type.String({ minLength: 1 }), { default: ['content-type'], description: 'response headers compared' }),
    ignore: Type.Array(Type.String({ pattern: '^/' }), { default: [], description: 'JSON pointers or globs (* one segment, ** any) not compared' }),
    maxBodyBytes: Type.Integer({ minimum: 0, default: 262_144, description: 'bodies beyond this are compared by status and headers only' }),
  },
  { additionalProperties: false, default: {} },
);

/** Verification and rollback rules of a gradual migration. */
export const MigrationPolicySchema = Type.Object(
  {
    steps: Type.Array(Type.Number({ exclusiveMinimum: 0, maximum: 1 }), { minItems: 1, default: [0.01, 0.05, 0.25, 0.5, 1] }),
    minRequests: PositiveInt(100, 'shadow-served requests needed before a step is judged'),
    minDurationMs: Type.Integer({ minimum: 0, default: 30_000, description: 'time a step lasts at least' }),
    errorRateTolerance: Fraction(0.01, 'shadow error rate may exceed the primary one by this much'),
    p99Tolerance: Type.Number({ minimum: 0, default: 0.25, description: 'shadow p99 may exceed primary p99 by this ratio' }),
    p99SlackMs: Type.Number({ minimum: 0, default: 5, description: 'plus this many ms' }),
    maxMismatchRate: Fraction(0.05, 'mirror comparison mismatch rate allowed'),
    rollbackTo: Type.Union([Type.Literal('last-good'), Type.Literal('zero')], { default: 'last-good' }),
    rollbackOnPrimaryRecovery: Type.Boolean({ default: false }),
    recoveryMaxErrorRate: Fraction(0.01, 'primary counts as recovered at or below this error rate'),
    recoveryMaxP99Ms: Type.Number({ minimum: 0, default: 200, description: 'and at or below this p99 (window or health checks)' }),
  },
  { additionalProperties: false, default: {} },
);

/** Active health checks and passive outlier detection for the upstreams of a route. */
export const HealthSchema = Type.Object(
  {
    path: Type.Union([Type.String({ pattern: '^/' }), Type.Null()], { default: null, description: 'GET path probed; null disables active checks' }),
    intervalMs: PositiveInt(2000, 'probe interval'),
    timeoutMs: PositiveInt(1000, 'probe timeout'),
    unhealthyThreshold: PositiveInt(3, 'consecutive failed probes marking an upstream unhealthy'),
    healthyThreshold: PositiveInt(2, 'consecutive good probes marking it healthy again'),
    outlierConsecutiveFailures: PositiveInt(5, 'consecutive failed live requests that eject an upstream'),
    outlierEjectMs: PositiveInt(10_000, 'how long an ejected upstream receives no traffic'),
  },
  { additionalProperties: false, default: {} },
);

/** One route: which requests it matches and where they go. */
export const RouteSchema = Type.Object(
  {
    name: Type.String({ pattern: '^[A-Za-z0-9_.-]+$', maxLength: 64 }),
    host: Type.Optional(Type.String({ minLength: 1, description: 'exact host or *.suffix; absent matches any host' })),
    pathPrefix: Type.String({ pattern: '^/', default: '/' }),
    primary: HttpUrl('primary upstream, http://host:port'),
    shadow: Type.Optional(HttpUrl('shadow upstream')),
    secondary: Type.Optional(HttpUrl('secondary primary, used to cancel comparison noise')),
    weight: Fraction(0, 'share of live traffic served by the shadow'),
    sticky: Type.Optional(
      Type.Object(
        { header: Type.Optional(Type.String({ minLength: 1 })), cookie: Type.Optional(Type.String({ minLength: 1 })) },
        { additionalProperties: false },
      ),
    ),
    failover: Type.Boolean({ default: false, description: 'serve from the shadow while the primary is unavailable' }),
    templates: Type.Array(Type.String({ pattern: '^/' }), { default: [], description: 'route templates such as /users/:id for telemetry' }),
    mirror: MirrorSchema,
    compare: CompareSchema,
    migration: MigrationPolicySchema,
    health: HealthSchema,
  },
  { additionalProperties: false },
);

/** Telemetry to the control plane. */
export const ControlSchema = Type.Object(
  {
    url: HttpUrl('control-plane base URL'),
    target: Type.String({ minLength: 1 }),
    name: Type.String({ minLength: 1, maxLength: 128, default: 'proxy', description: "this proxy's name on the target's timeline (its name in the service's shadows list)" }),
    sampleRate: Fraction(0.1, "the target's sampling rate"),
    requestIdHeader: Type.String({ minLength: 1, default: 'x-request-id' }),
    userHeader: Type.Optional(Type.String({ minLength: 1, description: 'header carrying the caller user id' })),
    batchSize: PositiveInt(500, 'events per POST'),
    flushIntervalMs: PositiveInt(1000, 'longest time an event waits'),
    bufferLimit: PositiveInt(20_000, 'events buffered at most; more are dropped and counted'),
  },
  { additionalProperties: false },
);

/** The whole proxy. */
export const ProxyConfigSchema = Type.Object(
  {
    listen: Type.String({ pattern: '^[^:]*:[0-9]+$', default: '127.0.0.1:8080' }),
    admin: Type.String({ pattern: '^[^:]*:[0-9]+$', default: '127.0.0.1:9901' }),
    upstreamTimeoutMs: PositiveInt(30_000, 'primary (or serving shadow) answer timeout; 504 after it'),
    keepAliveTimeoutMs: PositiveInt(65_000, 'idle client keep-alive'),
    maxSocketsPerUpstream: PositiveInt(1024, 'connection pool size per upstream'),
    control: Type.Optional(ControlSchema),
    routes: Type.Array(RouteSchema, { default: [] }),
  },
  { additionalProperties: false },
);

export type MirrorConfig = Static<typeof MirrorSchema>;
export type CompareConfig = Static<typeof CompareSchema>;
export type MigrationPolicy = Static<typeof MigrationPolicySchema>;
export type HealthConfig = Static<typeof HealthSchema>;
export type RouteConfig = Static<typeof RouteSchema>;
export type ControlConfig = Static<typeof ControlSchema>;
export type ProxyConfig = Static<typeof ProxyConfigSchema>;

/**
 * Fills defaults into `input` and checks it against `schema` plus the rules JSON schema cannot
 * say (ascending steps, unique route names). Throws SHADOWPLANE_ERR_CONFIG_INVALID with one
 * problem per broken rule, each naming the field by JSON pointer under `base`.
 */
export function validate<T extends TSchema>(schema: T, input: unknown, base = ''): Static<T> {
  const value = Value.Default(schema, structuredClone(input)) as unknown;
  const problems: FieldProblem[] = [...Value.Errors(schema, value)].map((e) => ({ path: base + (e.path || '/'), message: e.message }));
  if (problems.length === 0) problems.push(...extraRules(value, base));
  if (problems.length > 0) throw new ShadowplaneError('SHADOWPLANE_ERR_CONFIG_INVALID', `invalid configuration (${problems.length} problem${problems.length > 1 ? 's' : ''})`, problems);
  return value as Static<T>;
}

function extraRules(value: unknown, base: string): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const checkSteps = (steps: number[], at: string): void => {
    if (steps.some((s, i) => i > 0 && s <= steps[i - 1]!)) problems.push({ path: at, message: 'must be strictly ascending' });
  };
  const checkRoute = (r: RouteConfig, at: string): void => {
    checkSteps(r.migration.steps, `${at}/migration/steps`);
    for (const key of ['primary', 'shadow', 'secondary'] as const) {
      const url = r[key];
      if (url === undefined) continue;
      try {
        const u = new URL(url);
        if (u.pathname !== '/' || u.search) problems.push({ path: `${at}/${key}`, message: 'must be an origin without path or query' });
      } catch {
        problems.push({ path: `${at}/${key}`, message: 'must be a valid http:// URL' });
      }
    }
    if (r.weight > 0 && !r.shadow) problems.push({ path: `${at}/weight`, message: 'needs a shadow' });
    if (r.sticky && !r.sticky.header && !r.sticky.cookie) problems.push({ path: `${at}/sticky`, message: 'needs header or cookie' });
  };
  const v = value as Partial<ProxyConfig> & Partial<RouteConfig>;
  if (Array.isArray(v.routes)) {
    const seen = new Set<string>();
    v.routes.forEach((r, i) => {
      checkRoute(r, `${base}/routes/${i}`);
      if (seen.has(r.name)) problems.push({ path: `${base}/routes/${i}/name`, message: `duplicate route name "${r.name}"` });
      seen.add(r.name);
    });
  } else if (typeof v.name === 'string' && v.mirror) {
    checkRoute(v as RouteConfig, base);
  } else if (Array.isArray((v as Partial<MigrationPolicy>).steps)) {
    checkSteps((v as MigrationPolicy).steps, `${base}/steps`);
  }
  return problems;
}

/** Validates one route (admin API, config). Throws like `validate`. */
export function validateRoute(input: unknown, base = ''): RouteConfig {
  return validate(RouteSchema, input, base);
}

/**
 * Reads a JSON or YAML proxy configuration file. Throws SHADOWPLANE_ERR_CONFIG_UNREADABLE when it
 * cannot be read or parsed, SHADOWPLANE_ERR_CONFIG_INVALID when it breaks the schema.
 */
export async function loadProxyConfigFile(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ShadowplaneError('SHADOWPLANE_ERR_CONFIG_UNREADABLE', `cannot read ${path}: ${(err as Error).message}`);
  }
  try {
    return /\.json$/i.test(path) ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new ShadowplaneError('SHADOWPLANE_ERR_CONFIG_UNREADABLE', `cannot parse ${path}: ${(err as Error).message}`);
  }
}

/** Splits `HOST:PORT` (validated by the schema pattern) into its parts; an empty host means all interfaces. */
export function splitHostPort(value: string): { host: string; port: number } {
  const i = value.lastIndexOf(':');
  return { host: value.slice(0, i) || '0.0.0.0', port: Number(value.slice(i + 1)) };
}
