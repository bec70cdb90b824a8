/**
 * Metrics pushed in other systems' formats: `POST /api/v1/write` (Prometheus remote-write 1.0) and
 * `POST /v1/metrics` (OpenTelemetry OTLP/HTTP, protobuf or JSON), each on only when configured. Series become samples through `ingest.seriesRules`
 * (src/ingest/series-rules.ts) and then take the path of `POST /v1/samples`: the same validation,
 * unknown-target and lateness rules, the same 413 (body and decompressed size over
 * server.bodyLimit) and 429 (the shared server.maxEventsPerSecond budget). Stale markers (NaN) are
 * left out: a gap is what they mean, and the store keeps no NaN.
 */
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { IngestResult, Ingestor } from '../../ingest/ingestor.js';
import type { IngestStream } from '../../ingest/stream.js';
import { decodeWriteRequest } from '../../ingest/remote-write.js';
import { decodeOtlpMetrics, otlpResponse } from '../../ingest/otlp.js';
import { SeriesMapper, type PushedPoints, type PushedSeries, type SeriesRule } from '../../ingest/series-rules.js';
import { seriesKey, type WireSample } from '../../ingest/schemas.js';
import type { Logger } from '../../obs/log.js';
import { problem, sendProblem } from '../problem.js';
import { admit, type IngestBudget } from './ingest.js';

/** Rejections listed in one answer; the count covers all of them. */
const MAX_LISTED_REJECTIONS = 100;

/** What became of a push. */
interface PushAnswer {
  accepted: number;
  unmatched: number;
  stale: number;
  rejectedCount: number;
  rejected: { series: string; at: number | string; reason: string; problems: { path: string; message: string }[] }[];
}

/** What the push routes use. */
export interface PushRouteDeps {
  /** `ingest.remoteWrite`, `ingest.otlp` and `ingest.seriesRules` of the config. */
  readonly settings: {
    readonly remoteWrite: { readonly enabled: boolean };
    readonly otlp: { readonly enabled: boolean };
    readonly seriesRules: readonly SeriesRule[];
  };
  /** server.bodyLimit: also the most a remote-write body may decompress to. */
  readonly bodyLimit: number;
  readonly ingestor: Pick<Ingestor, 'ingestSamples'>;
  /** The ingest stream when `ingest.jetstream` is on: samples are answered once it acknowledged them. */
  readonly stream?: Pick<IngestStream, 'batch'>;
  readonly admission: IngestBudget;
  readonly log: Logger;
}

/**
 * Maps pushed series through the rules and ingests them as samples. Undefined when the ingest
 * budget refused them (the 429 is sent already); else what became of them, and whether every
 * mapped sample was rejected.
 */
async function ingestPushed(
  deps: PushRouteDeps, mapper: SeriesMapper, series: readonly PushedPoints[], reply: FastifyReply,
): Promise<{ answer: PushAnswer; allRejected: boolean } | undefined> {
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
  if (!admit(deps.admission, samples.length, reply)) return undefined;
  const batch = deps.stream?.batch();
  const result: IngestResult = deps.ingestor.ingestSamples(samples, batch);
  await batch?.publish();
  const answer: PushAnswer = {
    accepted: result.accepted,
    unmatched,
    stale,
    rejectedCount: result.rejected.length,
    rejected: result.rejected.slice(0, MAX_LISTED_REJECTIONS).map((r) => ({
      series: seriesKey(from[r.index].metric, from[r.index].labels as Record<string, string>), at: samples[r.index].at, reason: r.reason, problems: r.problems,
    })),
  };
  if (result.rejected.length > 0) {
    const first = answer.rejected[0];
    deps.log.warn({ rejected: result.rejected.length, accepted: result.accepted, first: `${first.series}: ${first.problems[0]?.path} ${first.problems[0]?.message}` }, 'pushed samples rejected');
  }
  return { answer, allRejected: result.rejected.length > 0 && result.accepted === 0 };
}

/** The 400 of a push whose every mapped sample was rejected. */
function allRejected(reply: FastifyReply, answer: PushAnswer) {
  return sendProblem(reply, { ...problem('SHADOWPLANE_ERR_VALIDATION', `all ${answer.rejectedCount} mapped samples were rejected`), ...answer });
}

/** POST /api/v1/write when `ingest.remoteWrite.enabled`, POST /v1/metrics when `ingest.otlp.enabled`. */
export const pushRoutes: FastifyPluginAsyncTypebox<PushRouteDeps> = async (app, deps) => {
  const ingest = deps.settings;
  if (!ingest.remoteWrite.enabled && !ingest.otlp.enabled) return;
  const mapper = new SeriesMapper(ingest.seriesRules);
  app.addContentTypeParser('application/x-protobuf', { parseAs: 'buffer' }, (_req: FastifyRequest, body: Buffer, done: (err: Error | null, body?: unknown) => void) => done(null, body));
  const security = [{ bearer: [] }];

  if (ingest.otlp.enabled) {
    app.post('/v1/metrics', {
      config: { takenOnStandby: deps.stream !== undefined },
      // OTLP clients may gzip the body (the Collector does by default); the body limit then
      // applies to what it inflates to, as fastify counts the bytes of the stream returned here.
      preParsing: async (req: FastifyRequest, _reply: FastifyReply, payload: Readable) => {
        if (req.headers['content-encoding'] !== 'gzip') return payload;
        const inflated = Object.assign(createGunzip(), { receivedEncodedLength: 0 });
        payload.on('data', (chunk: Buffer) => (inflated.receivedEncodedLength += chunk.length));
        payload.on('error', (err) => inflated.destroy(err));
        return payload.pipe(inflated);
      },
      schema: {
        tags: ['ingest'], summary: 'OpenTelemetry OTLP/HTTP metrics receiver.', consumes: ['application/x-protobuf', 'application/json'], security,
        description: 'An ExportMetricsServiceRequest as protobuf or OTLP/JSON, optionally gzip-compressed (Content-Encoding: gzip). Metrics map onto targets and metrics by `ingest.seriesRules` (names and attribute keys with `.` become `_`); the answer is an ExportMetricsServiceResponse in the request\'s encoding, with a partial success counting rejected points.',
      },
    }, async (req, reply) => {
      const json = !Buffer.isBuffer(req.body);
      const done = await ingestPushed(deps, mapper, decodeOtlpMetrics(req.body), reply);
      if (!done) return reply;
      if (done.allRejected) return allRejected(reply, done.answer);
      const first = done.answer.rejected[0];
      const message = first ? `${done.answer.rejectedCount} points rejected, e.g. ${first.series}: ${first.problems[0]?.path} ${first.problems[0]?.message}` : '';
      return reply.type(json ? 'application/json' : 'application/x-protobuf').send(otlpResponse(done.answer.rejectedCount, message, json));
    });
  }

  if (!ingest.remoteWrite.enabled) return;
  app.post('/api/v1/write', {
    config: { takenOnStandby: deps.stream !== undefined },
    schema: {
      tags: ['ingest'], summary: 'Prometheus remote-write 1.0 receiver.', consumes: ['application/x-protobuf'], security,
      description: 'A snappy-compressed protobuf WriteRequest, as Prometheus sends it. Series map onto targets and metrics by `ingest.seriesRules`; the answer counts accepted, unmatched (no rule), stale (NaN) and rejected samples.',
    },
  }, async (req, reply) => {
    if (!Buffer.isBuffer(req.body)) return sendProblem(reply, problem('SHADOWPLANE_ERR_VALIDATION', 'the body must be a snappy-compressed protobuf WriteRequest', [{ path: '/headers/content-type', message: 'must be application/x-protobuf' }]));
    const done = await ingestPushed(deps, mapper, decodeWriteRequest(req.body, deps.bodyLimit), reply);
    if (!done) return reply;
    return done.allRejected ? allRejected(reply, done.answer) : done.answer;
  });
};
