/**
 * The built-in demo (`demo.enabled`): a target called `demo`, labelled as a demo, whose demand is
 * a real trace excerpt (NASA HTTP requests per minute, examples/data) replayed in real time, one
 * trace minute per minute, as the metric `requests_per_minute` through the ingest path. The trace
 * history before "now" is loaded at start as closed windows (as if the service had been running),
 * so the forecast is ready on the first tick. It is controlled through the `replay` actuator (a
 * virtual fleet), so its decisions appear in the API within a minute of start. With it comes the
 * traffic story of src/demo/traffic.ts (target `demo-api`). A real deployment leaves
 * `demo.enabled` false.
 */
import { readFileSync } from 'node:fs';
import { durationMs } from '../core/schema.js';
import { validateConfig, type Config } from '../config.js';
import { DEMO_API_TARGET, demoApiTarget } from './traffic.js';
import { parseControlSettings } from '../control/settings.js';
import { ShadowplaneError } from '../core/errors.js';
import { parseCsv } from '../core/csv.js';
import { logger } from '../obs/log.js';
import type { ShadowplaneService } from '../service.js';
import { Window } from '../store/window.js';

/** Name of the demo target. */
export const DEMO_TARGET = 'demo';
/** Metric the demo feeds. */
export const DEMO_METRIC = 'requests_per_minute';
const MINUTE = 60_000;
const log = logger('demo');

/**
 * The config with the demo targets (`demo`, `demo-api`) added when `demo.enabled` (unchanged
 * otherwise; a target of the same name already declared is kept).
 */
export function withDemo(config: Config): Config {
  if (!config.demo.enabled || config.targets.some((t) => t.name === DEMO_TARGET)) return config;
  const demo = {
    name: DEMO_TARGET,
    kind: 'service' as const,
    labels: { demo: 'true', note: 'DEMO: NASA-HTTP 1995-07 requests per minute replayed in real time into a virtual fleet; its request metadata (tables, columns, users, routes) is synthesised' },
    sampling: { rate: 1 },
    control: parseControlSettings({
      enabled: true, interval: '1m', metric: DEMO_METRIC, capacityPerUnit: 20, provisioningDelay: '5m', initialUnits: 2, minUnits: 1, maxUnits: 40,
      targetUtilisation: 0.9, quantile: 0.95, proactiveBelowUse: 0.8, reactiveAboveUse: 0.9, horizon: '1h', scaleUpLookahead: '30m',
      scaleInStabilization: '30m', scaleInOnForecast: false, scaleInTolerance: 0.2, maxScaleUpUnits: 1000, minWindows: 30, season: '1d', history: '2d', headroomMax: 0.5,
      risk: { horizon: '1h', limits: [] },
    }),
    actuator: { type: 'replay' as const, provisioningDelayMs: 5 * MINUTE },
    respond: [],
  };
  const api = config.targets.some((t) => t.name === DEMO_API_TARGET) ? [] : validateConfig({ targets: [demoApiTarget()] }).targets;
  return { ...config, targets: [...config.targets, demo, ...api] };
}

/** Reads a `timestamp,value` CSV into values; SHADOWPLANE_ERR_INPUT_FILE naming the line otherwise. */
export function readTraceValues(path: string): number[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ShadowplaneError('SHADOWPLANE_ERR_INPUT_FILE', `cannot read the demo trace ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const values: number[] = [];
  for (const { line, fields } of parseCsv(text, path).slice(1)) {
    const v = Number(fields[1]);
    if (!Number.isFinite(v) || v < 0) throw new ShadowplaneError('SHADOWPLANE_ERR_INPUT_FILE', `${path}:${line}: value must be a number >= 0`, [{ path: `${path}:${line}`, message: 'value must be a number >= 0' }]);
    values.push(v);
  }
  if (values.length < 2) throw new ShadowplaneError('SHADOWPLANE_ERR_INPUT_FILE', `${path} holds fewer than 2 values`);
  return values;
}

/** Feeds the demo target: history at open, then one trace minute per minute of the service clock. */
export class DemoFeed {
  private position = 0;
  private cancel: (() => void) | undefined;

  private constructor(
    private readonly service: ShadowplaneService,
    private readonly values: number[],
  ) {}

  /** Reads the trace and writes its history (demo.history) as closed windows ending at the current minute. */
  static async open(service: ShadowplaneService): Promise<DemoFeed> {
    const values = readTraceValues(service.config.demo.trace);
    const feed = new DemoFeed(service, values);
    const now = service.clock.now();
    const minute = now - (now % MINUTE);
    const steps = Math.min(values.length - 1, Math.floor(durationMs(service.config.demo.history) / MINUTE));
    const granularity = service.granularities[0];
    if (granularity * 1000 === MINUTE) {
      const rows = [];
      for (let i = 0; i < steps; i++) {
        const start = minute - (steps - i) * MINUTE;
        const w = new Window(start, granularity);
        w.addSample(start, values[i]);
        rows.push(w.toRow(DEMO_TARGET, 'metric', DEMO_METRIC, true));
      }
      await service.store.writeWindows(rows);
    } else {
      log.warn({ granularity }, 'the finest store granularity is not 1m: the demo starts without history');
    }
    feed.position = steps;
    log.info({ trace: service.config.demo.trace, history: steps }, 'demo target "demo" fed from a replayed trace (DEMO: switch off with demo.enabled: false)');
    return feed;
  }

  /** Ingests the current minute's value now, then one value at the start of every minute. */
  start(): void {
    const clock = this.service.clock;
    const next = () => {
      this.feedOne();
      const now = clock.now();
      this.cancel = clock.setTimer(MINUTE - (now % MINUTE) + 1, next);
    };
    next();
  }

  /** Stops feeding. */
  stop(): void {
    this.cancel?.();
  }

  private feedOne(): void {
    const value = this.values[this.position % this.values.length];
    this.position++;
    const at = this.service.clock.now();
    const result = this.service.ingestor.ingestSamples([{ target: DEMO_TARGET, metric: DEMO_METRIC, at, value }]);
    if (result.rejected.length > 0) log.warn({ rejected: result.rejected }, 'demo sample rejected');
    const events = this.service.ingestor.ingestEvents(syntheticRequests(value, at, this.position));
    if (events.rejected.length > 0) log.warn({ rejected: events.rejected }, 'demo request metadata rejected');
  }
}

/** The tables, their columns and the share of requests each gets in the synthesised metadata. */
const DEMO_SCHEMA: readonly { table: string; columns: readonly string[]; share: number }[] = [
  { table: 'pages', columns: ['id', 'path', 'updated_at'], share: 0.5 },
  { table: 'images', columns: ['id', 'path', 'bytes'], share: 0.3 },
  { table: 'access_log', columns: ['host', 'path', 'status', 'bytes'], share: 0.15 },
  { table: 'sessions', columns: ['id', 'user_id', 'expires_at'], share: 0.05 },
];

/**
 * Request metadata (table, columns, user, route) synthesised for the demo target — the trace has
 * counts only: one event per ten requests of the minute, at most 200, drawn deterministically from
 * DEMO_SCHEMA and 40 users, each marked with the request id prefix `demo-synthetic-`.
 */
export function syntheticRequests(requestsPerMinute: number, at: number, seed: number): Record<string, unknown>[] {
  const n = Math.min(200, Math.max(1, Math.round(requestsPerMinute / 10)));
  const events: Record<string, unknown>[] = [];
  for (let i = 0; i < n; i++) {
    const u = ((seed * 131 + i * 37) % 1000) / 1000;
    let acc = 0;
    const pick = DEMO_SCHEMA.find((t) => (acc += t.share) > u) ?? DEMO_SCHEMA[0];
    const write = i % 9 === 0;
    events.push({
      target: DEMO_TARGET, op: write ? 'write' : 'read', table: pick.table, columns: pick.columns.slice(0, 1 + (i % pick.columns.length)),
      user: `demo-user-${(seed + i * 7) % 40}`, route: `GET /${pick.table}/:id`, bytes: 400 + ((i * 97) % 4000), latencyMs: 2 + ((i * 13) % 40) / 4,
      requestId: `demo-synthetic-${seed}-${i}`, at: at + i,
    });
  }
  return events;
}
