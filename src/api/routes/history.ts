/**
 * History import (`shadowplane import` is its client): `GET /v1/targets/{name}/history` says how
 * a batch must be cut (the granularities, the alignment and the latest time an import may reach);
 * `POST` writes one batch of metric points as closed windows (src/store/history.ts), records it in
 * the target's audit trail as action `import`, and makes the target's control loop read its
 * history again, so it forecasts from its next tick.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { Clock } from '../../core/clock.js';
import { ShadowplaneError, type FieldProblem } from '../../core/errors.js';
import { durationMs, TargetName } from '../../core/schema.js';
import type { Controller } from '../../control/controller.js';
import type { TargetRegistry } from '../../control/targets.js';
import { SampleSchema, seriesKey } from '../../ingest/schemas.js';
import { importableBefore, importHistory } from '../../store/history.js';
import type { ShadowStore } from '../../store/store.js';
import { requester, Who } from '../who.js';

const NameParams = Type.Object({ name: TargetName });

/** Most points in one batch. */
export const MAX_BATCH_POINTS = 500_000;

const HistoryBody = Type.Object(
  {
    source: Type.String({ minLength: 1, maxLength: 1024, description: 'Where the points come from (a Prometheus query, a file name): kept in the audit trail.' }),
    from: Type.Integer({ minimum: 0, description: 'Start of the batch (ms, inclusive), aligned to `alignMs`.' }),
    to: Type.Integer({ minimum: 0, description: 'End of the batch (ms, exclusive), aligned to `alignMs`, at most `importableBefore`.' }),
    series: Type.Array(
      Type.Object(
        {
          metric: SampleSchema.properties.metric,
          labels: SampleSchema.properties.labels,
          points: Type.Array(Type.Tuple([Type.Integer({ minimum: 0 }), Type.Number()]), { maxItems: MAX_BATCH_POINTS, description: '`[ms, value]` pairs inside [from, to).' }),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: 1000 },
    ),
    ...Who,
  },
  { additionalProperties: false },
);

/** What the history routes use. */
export interface HistoryRouteDeps {
  /** `store.lateness`, `store.topK` and `store.openKeysPerDimension` of the config. */
  readonly settings: { readonly lateness: string; readonly topK: number; readonly openKeysPerDimension: number };
  /** The store's window lengths in seconds, finest first. */
  readonly granularities: readonly number[];
  readonly clock: Clock;
  readonly targets: Pick<TargetRegistry, 'get'>;
  readonly store: ShadowStore;
  /** Its loop reads the target's history again after an import. */
  readonly controller: Pick<Controller, 'rewarm'>;
  /** Writes the open windows, so an import sees what the live rollup holds. */
  readonly flush: () => Promise<void>;
}

/** GET and POST /v1/targets/{name}/history. */
export const historyRoutes: FastifyPluginAsyncTypebox<HistoryRouteDeps> = async (app, deps) => {
  const tags = ['ingest'];
  const { settings, granularities, clock, targets } = deps;
  const alignMs = granularities.at(-1)! * 1000;
  const latenessSeconds = durationMs(settings.lateness) / 1000;
  const limits = () => ({ granularities, alignMs, importableBefore: importableBefore(granularities, latenessSeconds, clock.now()) });

  app.get(
    '/v1/targets/:name/history',
    { schema: { tags, summary: 'How a history import must be cut: store granularities (s), the alignment of a batch (ms) and the latest time it may reach (ms).', params: NameParams } },
    async (req) => {
      targets.get(req.params.name);
      return { target: req.params.name, ...limits() };
    },
  );

  app.post(
    '/v1/targets/:name/history',
    {
      schema: {
        tags, params: NameParams, body: HistoryBody, security: [{ bearer: [] }],
        summary: 'Import one batch of metric history as closed windows. A series that already has windows in [from, to) is kept as it is, so importing twice changes nothing.',
      },
    },
    async (req) => {
      const target = targets.get(req.params.name).name;
      const b = req.body;
      const { importableBefore: before } = limits();
      const problems: FieldProblem[] = [];
      if (b.from % alignMs !== 0) problems.push({ path: '/body/from', message: `must be aligned to the coarsest granularity (a multiple of ${alignMs} ms)` });
      if (b.to % alignMs !== 0) problems.push({ path: '/body/to', message: `must be aligned to the coarsest granularity (a multiple of ${alignMs} ms)` });
      if (b.to <= b.from) problems.push({ path: '/body/to', message: 'must be after from' });
      if (b.to > before) problems.push({ path: '/body/to', message: `must be at most ${before} (${new Date(before).toISOString()}): later windows may still be open in the live rollup` });
      let points = 0;
      b.series.forEach((s, i) => {
        points += s.points.length;
        const bad = s.points.findIndex(([at, v]) => at < b.from || at >= b.to || !Number.isFinite(v));
        if (bad >= 0) problems.push({ path: `/body/series/${i}/points/${bad}`, message: Number.isFinite(s.points[bad][1]) ? 'time must lie in [from, to)' : 'value must be a finite number' });
      });
      if (b.series.length > settings.topK) problems.push({ path: '/body/series', message: `holds ${b.series.length} series; at most store.topK (${settings.topK}) per batch, so none is folded into __other__` });
      if (points > MAX_BATCH_POINTS) problems.push({ path: '/body/series', message: `holds ${points} points; at most ${MAX_BATCH_POINTS} per batch` });
      const keys = b.series.map((s) => seriesKey(s.metric, s.labels));
      keys.forEach((k, i) => {
        if (keys.indexOf(k) !== i) problems.push({ path: `/body/series/${i}`, message: `repeats the series ${k} of series ${keys.indexOf(k)}` });
      });
      if (problems.length > 0) throw new ShadowplaneError('SHADOWPLANE_ERR_VALIDATION', 'the history batch is not valid', problems);
      await deps.flush();
      const options = { granularities: [...granularities], topK: settings.topK, openKeysPerDimension: settings.openKeysPerDimension };
      const result = await importHistory(deps.store, options, {
        target, from: b.from, to: b.to, series: b.series.map((s, i) => ({ key: keys[i], points: s.points })),
      });
      const who = requester(req, b);
      await deps.store.appendAudit({ id: randomUUID(), target, at: clock.now(), ...who, action: 'import', detail: { source: b.source, from: b.from, to: b.to, ...result } });
      if (result.windows > 0) await deps.controller.rewarm(target);
      return { target, from: b.from, to: b.to, ...result };
    },
  );
};
