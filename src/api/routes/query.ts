/** Reading the shadow: a series at a step, the top keys of a dimension, and the live window. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { Clock } from '../../core/clock.js';
import { Duration, MAX_TIME_MS, TargetName, Text, durationMs } from '../../core/schema.js';
import { ShadowplaneError } from '../../core/errors.js';
import type { TargetRegistry } from '../../control/targets.js';
import { SERIES_STATS, readSeries, windowStat, type SeriesStat } from '../../store/query.js';
import type { RollupEngine } from '../../store/rollup.js';
import type { ShadowStore } from '../../store/store.js';
import { DIMENSIONS, Window, type WindowRow } from '../../store/window.js';

const NameParams = Type.Object({ name: TargetName });
const Time = Type.String({ description: 'ms since the epoch, an ISO-8601 date-time, `now`, or `now-<duration>` such as `now-1h`.' });
const literals = <T extends string>(values: readonly T[], description: string, def: T) =>
  Type.Union(values.map((v) => Type.Literal(v)), { description, default: def });

const SeriesQuery = Type.Object(
  {
    dim: literals(DIMENSIONS, 'Dimension: `total`, or a key of `op`, `table`, `column` (`table.column`), `user` (pseudonym), `route`, or `metric` (a resource-metric series).', 'total'),
    key: Text({ default: '', description: 'The key within the dimension (empty for `total`).' }),
    metric: literals(SERIES_STATS, 'The statistic: counts and volumes, `errorRate`, latency (or metric value) `mean`/`min`/`max`/`p50`..`p99`, `peakRps` (to 7 significant digits), `samplingRate`, `last`.', 'estimatedCount'),
    from: Type.String({ ...Time, default: 'now-1h' }),
    to: Type.String({ ...Time, default: 'now' }),
    step: Duration('Point spacing; it picks the granularity read (the coarsest that divides it, but none finer than the finest whose retention still covers `from`: the step then rounds up to that).', '1m'),
  },
  { additionalProperties: false },
);

const TopQuery = Type.Object(
  {
    dim: literals(['op', 'table', 'column', 'user', 'route', 'metric'] as const, 'The dimension to rank.', 'table'),
    by: literals(['count', 'bytes'] as const, 'Rank by estimated request count or estimated bytes.', 'count'),
    from: Type.String({ ...Time, default: 'now-1h' }),
    to: Type.String({ ...Time, default: 'now' }),
    limit: Type.Integer({ minimum: 1, maximum: 1000, default: 10 }),
  },
  { additionalProperties: false },
);

/**
 * Parses a time parameter; SHADOWPLANE_ERR_VALIDATION naming the parameter when it cannot, or when
 * the time lies outside ±MAX_TIME_MS (the date range; it also keeps every bound inside BIGINT).
 */
export function parseTime(text: string, now: number, param: string): number {
  const t = readTime(text, now);
  if (Number.isNaN(t)) throw new ShadowplaneError('SHADOWPLANE_ERR_VALIDATION', `cannot read ${param}`, [{ path: `/querystring/${param}`, message: 'must be ms since the epoch, an ISO-8601 date-time, now, or now-<duration>' }]);
  if (Math.abs(t) > MAX_TIME_MS) throw new ShadowplaneError('SHADOWPLANE_ERR_VALIDATION', `${param} is out of range`, [{ path: `/querystring/${param}`, message: `must lie within ${MAX_TIME_MS} ms of the epoch (the date range)` }]);
  return t;
}

function readTime(text: string, now: number): number {
  if (/^[0-9]+$/.test(text)) return Number(text);
  if (text === 'now') return now;
  if (text.startsWith('now-')) {
    try {
      return now - durationMs(text.slice(4));
    } catch {
      /* not a duration: try a date below */
    }
  }
  return Date.parse(text);
}

/** The statistics of one window, for the live view. */
export function windowSummary(w: Window) {
  const stat = (s: SeriesStat) => {
    const v = windowStat(w, s);
    return Number.isFinite(v) ? v : null;
  };
  return {
    count: w.count,
    estimatedCount: w.estCount,
    bytes: w.bytes,
    estimatedBytes: w.estBytes,
    errors: w.errors,
    errorRate: stat('errorRate'),
    value: { mean: stat('mean'), p50: stat('p50'), p95: stat('p95'), p99: stat('p99'), max: stat('max'), last: stat('last') },
    peakRps: w.peak,
    samplingRate: w.rate,
  };
}

/** What the query routes use. */
export interface QueryRouteDeps {
  /** `store.granularities` and `store.retention` of the config. */
  readonly settings: { readonly granularities: readonly string[]; readonly retention: Readonly<Record<string, string>> };
  /** The store's window lengths in seconds, finest first. */
  readonly granularities: readonly number[];
  readonly clock: Clock;
  readonly targets: Pick<TargetRegistry, 'get'>;
  readonly store: ShadowStore;
  /** The live rollup, for the still-open windows. */
  readonly engine: Pick<RollupEngine, 'openRows'>;
}

/** /v1/targets/:name/series, /top and /live. */
export const queryRoutes: FastifyPluginAsyncTypebox<QueryRouteDeps> = async (app, deps) => {
  const tags = ['shadow store'];
  const { granularities, store } = deps;

  app.get(
    '/v1/targets/:name/series',
    { schema: { tags, summary: 'One series of the Shadow Store at a step.', params: NameParams, querystring: SeriesQuery } },
    async (req) => {
      const q = req.query;
      const { from, to, now } = rangeOf(deps, req.params.name, q);
      const target = req.params.name;
      // Granularities whose retention no longer covers `from` would leave the range's start empty.
      const covering = granularityCovering(deps.settings, from, now);
      const kept = granularities.filter((g) => g >= covering);
      const series = await readSeries(store, kept, { target, dim: q.dim, key: q.key, stat: q.metric, from, to, stepMs: durationMs(q.step) });
      return { target, dim: q.dim, key: q.key, metric: q.metric, from, to, granularity: series.granularity, step: series.stepMs, points: series.points };
    },
  );

  app.get(
    '/v1/targets/:name/top',
    { schema: { tags, summary: 'The heaviest keys of a dimension over a range.', params: NameParams, querystring: TopQuery } },
    async (req) => {
      const q = req.query;
      const { from, to, now } = rangeOf(deps, req.params.name, q);
      const granularity = granularityCovering(deps.settings, from, now);
      const target = req.params.name;
      const rows = await store.topKeys({ target, granularity, dim: q.dim, from: from - (from % (granularity * 1000)), to, by: q.by, limit: q.limit });
      const keys = rows.map((r) => ({ key: r.key, count: r.count, estimatedCount: r.estCount, bytes: r.bytes, estimatedBytes: r.estBytes, errors: r.errors }));
      return { target, dim: q.dim, by: q.by, from, to, granularity, keys };
    },
  );

  app.get(
    '/v1/targets/:name/live',
    { schema: { tags, summary: 'The still-open windows of the finest granularity, with their top keys.', params: NameParams } },
    async (req) => {
      deps.targets.get(req.params.name);
      const byStart = new Map<number, WindowRow[]>();
      for (const row of deps.engine.openRows(req.params.name)) byStart.set(row.start, [...(byStart.get(row.start) ?? []), row]);
      const windows = [...byStart.entries()].map(([start, rows]) => {
        const dims: Record<string, { key: string; estimatedCount: number; estimatedBytes: number }[]> = {};
        let total = {};
        for (const row of rows) {
          if (row.dim === 'total') {
            total = windowSummary(Window.fromRow(row));
            continue;
          }
          (dims[row.dim] ??= []).push({ key: row.key, estimatedCount: row.estCount, estimatedBytes: row.estBytes });
        }
        for (const list of Object.values(dims)) list.sort((a, b) => b.estimatedCount - a.estimatedCount).splice(10);
        return { start, granularity: granularities[0], total, top: dims };
      });
      return { target: req.params.name, now: deps.clock.now(), windows };
    },
  );
};

/** The checked time range of a query on an existing target; SHADOWPLANE_ERR_VALIDATION when empty. */
function rangeOf(deps: Pick<QueryRouteDeps, 'targets' | 'clock'>, target: string, q: { from: string; to: string }): { from: number; to: number; now: number } {
  deps.targets.get(target);
  const now = deps.clock.now();
  const from = parseTime(q.from, now, 'from');
  const to = parseTime(q.to, now, 'to');
  if (to <= from) throw new ShadowplaneError('SHADOWPLANE_ERR_VALIDATION', 'empty range', [{ path: '/querystring/to', message: 'must be after from' }]);
  return { from, to, now };
}

/** The finest granularity whose retention still covers `from`, else the coarsest. */
function granularityCovering(settings: QueryRouteDeps['settings'], from: number, now: number): number {
  const { granularities, retention } = settings;
  for (const g of granularities) {
    const keep = retention[g];
    if (keep === undefined || now - durationMs(keep) <= from) return durationMs(g) / 1000;
  }
  return durationMs(granularities[granularities.length - 1]) / 1000;
}
