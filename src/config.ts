/**
 * The root configuration: one YAML file, validated at start by the same TypeBox schemas the API
 * uses. Unknown keys are rejected, every key has a default and a description, and docs/config.md
 * is generated from this file (`npm run docs:config`). It composes the settings of every room
 * (control, executor, shadows), so it lives beside the service rather than in core.
 */
import { Type, type Static } from '@sinclair/typebox';
import { existsSync, readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { DEFAULT_TIMEOUTS } from './api/app.js';
import { ShadowplaneError } from './core/errors.js';
import { Duration, Labels, SamplingRate, ScrapeConfig, TargetName, durationMs } from './core/schema.js';
import { problemsOf, withDefaults } from './core/validation.js';
import { ControlSettingsSchema } from './control/settings.js';
import { CapacitySettingsSchema, capacityProblems } from './control/capacity.js';
import { ResponseRulesSchema, parseResponseRules } from './control/respond.js';
import { SeriesRulesSchema, seriesRuleProblems } from './ingest/series-rules.js';
import { JetStreamIngestSchema } from './ingest/stream.js';
import { AlertingConfigSchema } from './export/alertmanager.js';
import { KedaConfigSchema } from './export/keda.js';
import { CommandConfigSchema, ExecutorConfigSchema, ReplayConfigSchema, WebhookConfigSchema } from './exec/config.js';

/** One managed target as declared in the config file or the API. */
export const TargetConfig = Type.Object(
  {
    name: TargetName,
    kind: Type.Union([Type.Literal('database'), Type.Literal('service'), Type.Literal('stream'), Type.Literal('volume')], { description: 'What the target is.' }),
    labels: Labels,
    sampling: Type.Object({ rate: SamplingRate }, { additionalProperties: false, default: {}, description: 'Request-metadata sampling.' }),
    scrape: Type.Optional(ScrapeConfig),
    control: ControlSettingsSchema,
    capacity: Type.Optional(CapacitySettingsSchema),
    respond: ResponseRulesSchema,
    actuator: Type.Optional(Type.Union([WebhookConfigSchema, CommandConfigSchema, ReplayConfigSchema], { description: 'How the control loop acts on this target: `webhook`, `command` or `replay` (docs/actuators.md). Without one, the target is observed but not controlled.' })),
  },
  { additionalProperties: false },
);

/** The kinds of shadow component the service can read and act on. */
export const SHADOW_KINDS = ['traffic', 'partitions', 'volumes', 'sql'] as const;

/**
 * One shadow component (a data plane running as its own process with its own admin API) that the
 * service reads the status of and relays operator actions to. Used by the config file and by
 * `POST /v1/shadows`.
 */
export const ShadowConfig = Type.Object(
  {
    name: Type.String({ ...TargetName, description: 'What the API and the dashboard call the component: lower-case letters, digits, `.`, `_` and `-`, 1 to 64 characters.' }),
    kind: Type.Union(SHADOW_KINDS.map((k) => Type.Literal(k)), {
      description: '`traffic` (the HTTP proxy, `shadowplane proxy`), `partitions` (the stream service, `shadowplane stream serve`), `volumes` (`shadowplane volume serve`) or `sql` (`shadowplane pg-proxy --admin`).',
    }),
    url: Type.String({ pattern: '^https?://[^/?#]+/?$', description: 'Base URL of the component\'s admin API, e.g. `http://127.0.0.1:9901` (the proxy\'s `--admin`, the stream service\'s `--listen`, the volume service\'s `--http-port`, the pg-proxy\'s `--admin`).', errorMessage: 'must be an http:// or https:// base URL (scheme, host and port, no path)' }),
    token: Type.Optional(Type.String({ minLength: 1, maxLength: 512, description: 'Bearer token the service sends to the component (e.g. the proxy\'s SHADOWPLANE_PROXY_TOKEN). Never shown by the API.' })),
    target: Type.Optional(Type.String({ ...TargetName, description: 'The target this component shadows, if any: the dashboard links the two.' })),
    interval: Duration('How often the service reads the component\'s status.', '5s'),
  },
  { additionalProperties: false },
);

/** The whole configuration file. */
export const ConfigSchema = Type.Object(
  {
    server: Type.Object(
      {
        host: Type.String({ default: '127.0.0.1', description: 'Address the HTTP API listens on. Any address other than loopback requires `token`.' }),
        port: Type.Integer({ minimum: 0, maximum: 65535, default: 7070, description: 'TCP port of the HTTP API (0 picks a free one).' }),
        token: Type.Optional(Type.String({ minLength: 16, description: 'Bearer token required by every mutating request. Also read from SHADOWPLANE_API_TOKEN. Required when `host` is not loopback.' })),
        bodyLimit: Type.Integer({ minimum: 1024, default: 16 * 1024 * 1024, description: 'Largest request body accepted, in bytes; larger bodies get 413.' }),
        maxEventsPerSecond: Type.Integer({ minimum: 1, default: 2_000_000, description: 'Events and samples accepted per second over the API before requests get 429.' }),
        maxItemsPerBatch: Type.Integer({ minimum: 1, default: 100_000, description: 'Most events or samples in one ingest request (NDJSON lines or array elements); a request with more gets 413 and nothing in it is ingested.' }),
        parseTimeout: Duration('Most time spent parsing one ingest request; a request that takes longer gets 413 and nothing in it is ingested.', '5s'),
        headersTimeout: Duration('How long a client may take to send a request\'s headers; also closes connections that never send anything.', `${DEFAULT_TIMEOUTS.headersMs / 1000}s`),
        requestTimeout: Duration('How long a client may take to send a whole request, body included. Not less than `headersTimeout`.', `${DEFAULT_TIMEOUTS.requestMs / 1000}s`),
        idleTimeout: Duration('How long a connection may stay without traffic either way (idle keep-alive connections included) before it is closed.', `${DEFAULT_TIMEOUTS.idleMs / 1000}s`),
      },
      { additionalProperties: false, default: {}, description: 'The HTTP API.' },
    ),
    store: Type.Object(
      {
        backend: Type.Union([Type.Literal('sqlite'), Type.Literal('postgres')], { default: 'sqlite', description: 'Where the Shadow Store keeps its windows: an embedded SQLite file, or PostgreSQL.' }),
        dataDir: Type.String({ default: './data', description: 'Directory for the SQLite file, the pseudonymisation key and windows a stop could not write (`unflushed/`). One instance holds it at a time (`shadowplane.lock`).' }),
        postgres: Type.Object(
          {
            url: Type.String({ default: 'postgres://postgres@127.0.0.1:5432/postgres', description: 'Connection URL. Also read from SHADOWPLANE_PG_URL.' }),
            schema: Type.String({ pattern: '^[a-z_][a-z0-9_]{0,62}$', default: 'shadowplane', description: 'Schema holding the tables; created if missing.' }),
            leaseCheck: Duration('How often a standby instance tries to take the store\'s lease (a session advisory lock): the longest the loops stop after the holder dies.', '1s'),
          },
          { additionalProperties: false, default: {}, description: 'PostgreSQL backend settings (used when `backend: postgres`).' },
        ),
        granularities: Type.Array(Duration('A window length.', '1m'), { minItems: 1, maxItems: 6, default: ['1m', '5m', '1h'], description: 'Window lengths, finest first; each must divide the next, the finest must be whole seconds and at most 1d.' }),
        retention: Type.Record(Type.String(), Duration('How long windows of this length are kept.', '7d'), {
          default: { '1m': '3d', '5m': '14d', '1h': '90d' },
          description: 'How long windows of each granularity are kept, keyed by granularity. A granularity without an entry is kept forever. The defaults are sized for a fleet: queries over older ranges read the next coarser granularity.',
        }),
        flushInterval: Duration('How often open windows are written to the store; a crash loses at most this much.', '5s'),
        compactionInterval: Duration('How often windows past their retention are deleted.', '10m'),
        lateness: Duration('How long after its end a window still accepts late events.', '1m'),
        topK: Type.Integer({ minimum: 1, maximum: 10000, default: 100, description: 'Keys kept per dimension (table, column, user, route, metric) in each closed window; the rest are merged into `__other__`.' }),
        openKeysPerDimension: Type.Integer({ minimum: 1, maximum: 100000, default: 1000, description: 'Keys tracked per dimension in an open window before new keys go straight to `__other__` (bounds memory).' }),
      },
      { additionalProperties: false, default: {}, description: 'The Shadow Store.' },
    ),
    ingest: Type.Object(
      {
        pseudonymKey: Type.Optional(Type.String({ minLength: 32, description: 'Secret key (at least 32 characters) for the HMAC that replaces user ids. Also read from SHADOWPLANE_PSEUDONYM_KEY. Without one, a random key is created in `store.dataDir` on first start.' })),
        maxFutureSkew: Duration('How far in the future an event time may lie (clock skew allowance).', '1m'),
        unknownTargets: Type.Union([Type.Literal('reject'), Type.Literal('create')], { default: 'reject', description: 'What happens to events for a target that is not declared: rejected, or the target is created (kind `service`, sampling 1).' }),
        remoteWrite: Type.Object(
          { enabled: Type.Boolean({ default: false, description: 'Accept Prometheus remote-write 1.0 at `POST /api/v1/write` (snappy-compressed protobuf), series mapped by `ingest.seriesRules`.' }) },
          { additionalProperties: false, default: {}, description: 'Prometheus remote-write receiver (docs/integrations.md).' },
        ),
        otlp: Type.Object(
          { enabled: Type.Boolean({ default: false, description: 'Accept OpenTelemetry OTLP/HTTP metrics at `POST /v1/metrics` (protobuf or JSON), series mapped by `ingest.seriesRules`.' }) },
          { additionalProperties: false, default: {}, description: 'OpenTelemetry OTLP/HTTP metrics receiver (docs/integrations.md).' },
        ),
        seriesRules: SeriesRulesSchema,
        jetstream: JetStreamIngestSchema,
      },
      { additionalProperties: false, default: {}, description: 'Ingestion of request metadata and resource metrics.' },
    ),
    targets: Type.Array(TargetConfig, { default: [], description: 'Managed targets declared here; more can be created through the API. Both persist.' }),
    shadows: Type.Array(ShadowConfig, { default: [], description: 'Shadow components the service reads and acts on (docs/dashboard.md, Shadows); more can be registered through `POST /v1/shadows`.' }),
    control: Type.Object(
      {
        enabled: Type.Boolean({ default: true, description: 'Run the control loops of the targets that have an actuator.' }),
        tickSpread: Duration('Loops tick this far apart at most within each step: each target\'s ticks keep a phase of their own (from a hash of its name, less than this and its step), so a fleet\'s loops do not all read, flush and decide at the same moment. `0s`: every loop ticks on the step boundary.', '30s'),
        concurrentTicks: Type.Integer({ minimum: 1, maximum: 1000, default: 4, description: 'Scheduled ticks that run at once across all loops; the rest wait their turn. A fleet\'s ticks then neither queue thousands of store reads ahead of the API\'s nor all resume together when a long flush ends. A tick asked for through the API does not wait.' }),
        executor: ExecutorConfigSchema,
      },
      { additionalProperties: false, default: {}, description: 'The control loops and the executor that carries out their actions (docs/control.md).' },
    ),
    alerting: AlertingConfigSchema,
    keda: KedaConfigSchema,
    demo: Type.Object(
      {
        enabled: Type.Boolean({ default: false, description: 'Run the demo: a target called `demo` fed by replaying a real trace excerpt, controlled through a virtual fleet. For trying Shadowplane out; switch it off in a real deployment.' }),
        trace: Type.String({ default: 'examples/data/nasa_http_1995-07_excerpt.csv', description: 'CSV `timestamp,value` of demand per minute (requests per minute) replayed into the demo target.' }),
        history: Duration('Trace history loaded at start as closed windows, so the forecast is ready at once.', '2d'),
      },
      { additionalProperties: false, default: {}, description: 'The built-in demo (docs/control.md).' },
    ),
  },
  { additionalProperties: false },
);

/** The validated configuration with every default filled in. */
export type Config = Static<typeof ConfigSchema>;

/**
 * Validates a parsed config object (defaults filled in). Throws SHADOWPLANE_ERR_CONFIG_INVALID
 * listing every problem by key path.
 */
export function validateConfig(raw: unknown, source = 'config'): Config {
  const value = withDefaults(ConfigSchema, raw ?? {}) as Config;
  // Defaults of a map are merged into a given map; a retention map that is given replaces them.
  const givenRetention = (raw as { store?: { retention?: unknown } } | undefined)?.store?.retention;
  if (givenRetention !== undefined && value.store && typeof givenRetention === 'object') value.store.retention = { ...(givenRetention as Record<string, string>) };
  const problems = problemsOf(ConfigSchema, value);
  if (problems.length === 0) problems.push(...crossFieldProblems(value));
  if (problems.length > 0) {
    throw new ShadowplaneError('SHADOWPLANE_ERR_CONFIG_INVALID', `${source} is not valid (${problems.length} problem${problems.length > 1 ? 's' : ''})`, problems);
  }
  return value;
}

/** Reads and validates a YAML config file; SHADOWPLANE_ERR_CONFIG_UNREADABLE when it cannot be read or parsed. */
export function loadConfigFile(path: string): Config {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ShadowplaneError('SHADOWPLANE_ERR_CONFIG_UNREADABLE', `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text, { prettyErrors: true });
  } catch (err) {
    throw new ShadowplaneError('SHADOWPLANE_ERR_CONFIG_UNREADABLE', `${path} is not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  return validateConfig(raw ?? {}, path);
}

/**
 * The configuration in force: `--config FILE` if given, else ./shadowplane.yaml when present,
 * else the embedded defaults; then secrets from the environment.
 */
export function resolveConfig(path: string | undefined, env: NodeJS.ProcessEnv = process.env): Config {
  const file = path ?? (existsSync('shadowplane.yaml') ? 'shadowplane.yaml' : undefined);
  const config = file ? loadConfigFile(file) : validateConfig({}, 'embedded defaults');
  if (env.SHADOWPLANE_API_TOKEN) config.server.token = env.SHADOWPLANE_API_TOKEN;
  if (env.SHADOWPLANE_PSEUDONYM_KEY) config.ingest.pseudonymKey = env.SHADOWPLANE_PSEUDONYM_KEY;
  if (env.SHADOWPLANE_PG_URL) config.store.postgres.url = env.SHADOWPLANE_PG_URL;
  return config;
}

/** Rules the schema alone cannot say. */
function crossFieldProblems(config: Config): { path: string; message: string }[] {
  const problems: { path: string; message: string }[] = [];
  if (durationMs(config.server.requestTimeout) < durationMs(config.server.headersTimeout)) problems.push({ path: '/server/requestTimeout', message: 'must not be shorter than server.headersTimeout' });
  const grans = config.store.granularities.map(durationMs);
  grans.forEach((g, i) => {
    if (i === 0 && g % 1000 !== 0) problems.push({ path: '/store/granularities/0', message: 'the finest granularity must be a whole number of seconds' });
    if (i === 0 && g > 86_400_000) problems.push({ path: '/store/granularities/0', message: 'the finest granularity must be at most 1d (its windows keep an estimate per second)' });
    if (i > 0 && (g <= grans[i - 1] || g % grans[i - 1] !== 0)) {
      problems.push({ path: `/store/granularities/${i}`, message: `must be a multiple of, and longer than, ${config.store.granularities[i - 1]}` });
    }
  });
  for (const key of Object.keys(config.store.retention)) {
    if (!config.store.granularities.includes(key)) problems.push({ path: `/store/retention/${key}`, message: `is not one of the granularities (${config.store.granularities.join(', ')})` });
  }
  problems.push(...seriesRuleProblems(config.ingest.seriesRules, '/ingest/seriesRules'));
  const { jetstream } = config.ingest;
  if (jetstream.enabled) {
    if (config.store.backend !== 'postgres') problems.push({ path: '/ingest/jetstream/enabled', message: 'needs store.backend: postgres (the replicas share the store)' });
    if (config.demo.enabled) problems.push({ path: '/ingest/jetstream/enabled', message: 'cannot be combined with demo.enabled (the demo feeds its target in process)' });
    if (durationMs(jetstream.lease) < 1000) problems.push({ path: '/ingest/jetstream/lease', message: 'must be at least 1s' });
    if (durationMs(jetstream.retention) < durationMs('1h')) problems.push({ path: '/ingest/jetstream/retention', message: 'must be at least 1h' });
  }
  const names = new Set<string>();
  config.targets.forEach((t, i) => {
    if (names.has(t.name)) problems.push({ path: `/targets/${i}/name`, message: `"${t.name}" is declared twice` });
    names.add(t.name);
    if (t.capacity) problems.push(...capacityProblems(t.capacity, `/targets/${i}/capacity`));
    try {
      parseResponseRules(t.respond, `/targets/${i}/respond`);
    } catch (err) {
      if (!(err instanceof ShadowplaneError)) throw err;
      problems.push(...err.problems);
    }
  });
  const shadows = new Set<string>();
  config.shadows.forEach((s, i) => {
    if (shadows.has(s.name)) problems.push({ path: `/shadows/${i}/name`, message: `"${s.name}" is declared twice` });
    shadows.add(s.name);
    if (durationMs(s.interval) < 1000) problems.push({ path: `/shadows/${i}/interval`, message: 'must be at least 1s' });
  });
  if (durationMs(config.alerting.interval) < 1000) problems.push({ path: '/alerting/interval', message: 'must be at least 1s' });
  return problems;
}
