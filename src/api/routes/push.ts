/**
 * Metrics pushed in other systems' formats: `POST /api/v1/write` (Prometheus remote-write 1.0),
 * each on only when configured. Series become samples through `ingest.seriesRules`
 * (src/ingest/series-rules.ts) and then take the path of `POST /v1/samples`: the same validation,
 * unknown-target and lateness rules, the same 413 (body and decompressed size over
 * server.bodyLimit) and 429 (the shared server.maxEventsPerSecond budget). Stale markers (NaN) are
 * left out: a gap is what they mean, and the store keeps no NaN.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { IngestResult } from '../../ingest/ingestor.js';
import { decodeWriteRequest } from '../../ingest/remote-write.js';
import { SeriesMapper, type PushedSeries } from '../../ingest/series-rules.js';
import { seriesKey, type WireSample } from '../../ingest/schemas.js';
import type { ShadowplaneService } from '../../service.js';
import { problem, sendProblem } from '../problem.js';
import { admit } from './ingest.js';

/** Rejections listed in one answer; the count covers all of them. */
const MAX_LISTED_REJECTIONS = 100;

/** A pushed series with its points, in any format. */
export interface PushedPoints extends PushedSeries {
  readonly samples: readonly { readonly at: number; readonly value: number }[];
}

/**
 * Maps pushed series through the rules and ingests them as samples; answers with what became of
 * them (or 429 when over budget, 400 when every mapped sample was rejected).
 */
export function ingestPushed(service: ShadowplaneService, mapper: SeriesMapper, series: readonly PushedPoints[], reply: FastifyReply) {
  const samples: WireSample[] = [];
  const from: PushedSeries[] = [];
  let unmatched = 0;
  let stale = 0;
  for (const s of series) {
    for (const p of s.samples) {
      if (Number.isNaN(p.value)) {
        stale++;
        continue;
      }
      const sample = mapper.map(s, p.at, p.value);
      if (!sample) {
        unmatched++;
        continue;
      }
      samples.push(sample);
      from.push(s);
    }
  }
  if (!admit(service, samples.length, reply)) return reply;
  const result: IngestResult = service.ingestor.ingestSamples(samples);
  const answer = {
    accepted: result.accepted,
    unmatched,
    stale,
    rejectedCount: result.rejected.length,
    rejected: result.rejected.slice(0, MAX_LISTED_REJECTIONS).map((r) => ({ series: seriesKey(from[r.index].metric, from[r.index].labels as Record<string, string>), at: samples[r.index].at, reason: r.reason, problems: r.problems })),
  };
  if (result.rejected.length > 0) {
    const first = answer.rejected[0];
    service.log.warn({ rejected: result.rejected.length, accepted: result.accepted, first: `${first.series}: ${first.problems[0]?.path} ${first.problems[0]?.message}` }, 'pushed samples rejected');
  }
  if (result.rejected.length > 0 && result.accepted === 0) {
    return sendProblem(reply, { ...problem('SHADOWPLANE_ERR_VALIDATION', `all ${result.rejected.length} mapped samples were rejected`), ...answer });
  }
  return answer;
}

/** POST /api/v1/write when `ingest.remoteWrite.enabled`. */
export function pushRoutes(app: FastifyInstance, service: ShadowplaneService): void {
  const { ingest, server } = service.config;
  if (!ingest.remoteWrite.enabled) return;
  const mapper = new SeriesMapper(ingest.seriesRules);
  app.addContentTypeParser('application/x-protobuf', { parseAs: 'buffer' }, (_req: FastifyRequest, body: Buffer, done: (err: Error | null, body?: unknown) => void) => done(null, body));
  app.post('/api/v1/write', {
    schema: {
      tags: ['ingest'], summary: 'Prometheus remote-write 1.0 receiver.', consumes: ['application/x-protobuf'], security: [{ bearer: [] }],
      description: 'A snappy-compressed protobuf WriteRequest, as Prometheus sends it. Series map onto targets and metrics by `ingest.seriesRules`; the answer counts accepted, unmatched (no rule), stale (NaN) and rejected samples.',
    },
  }, async (req, reply) => {
    if (!Buffer.isBuffer(req.body)) return sendProblem(reply, problem('SHADOWPLANE_ERR_VALIDATION', 'the body must be a snappy-compressed protobuf WriteRequest', [{ path: '/headers/content-type', message: 'must be application/x-protobuf' }]));
    return ingestPushed(service, mapper, decodeWriteRequest(req.body, server.bodyLimit), reply);
  });
}
