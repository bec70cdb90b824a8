/**
 * POST /v1/events and /v1/samples: a JSON array, a single JSON object, or NDJSON (one item per
 * line). Good items are accepted even when others in the batch are rejected; every rejection is
 * listed with its index, field and rule. A batch is parsed, then ingested, a few milliseconds at a
 * time between turns of the event loop, within server.maxItemsPerBatch and server.parseTimeout.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyReply } from 'fastify';
import { forEachSliced, parseBatch, type BatchBounds, type RawBatch } from '../../ingest/batch.js';
import type { IngestResult, Ingestor } from '../../ingest/ingestor.js';
import type { TokenBucket } from '../../ingest/ratelimit.js';
import { EventSchema, SampleSchema } from '../../ingest/schemas.js';
import { checkIdempotencyKey, type IngestStream } from '../../ingest/stream.js';
import { ITEMS_CHECKED_ALONE } from '../app.js';
import { problem, sendProblem } from '../problem.js';

/** What the ingest routes' OpenAPI descriptions say of the ingest stream. */
const STREAM_NOTE = 'With `ingest.jetstream` on, the answer comes once the ingest stream has acknowledged every accepted item, and an `Idempotency-Key` header (1 to 128 printable characters) makes a request sent again within two minutes, to any replica, stored once.';

/** Rejections listed in one answer; the count covers all of them. */
const MAX_LISTED_REJECTIONS = 1000;

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route takes its JSON and NDJSON bodies unparsed, as a RawBatch. */
    rawBatch?: boolean;
    /** A standby serves the route although it writes (it publishes to the ingest stream, not to the store). */
    takenOnStandby?: boolean;
  }
}

const isRawBatch = (body: unknown): body is RawBatch => typeof body === 'object' && body !== null && Buffer.isBuffer((body as RawBatch).bytes) && ((body as RawBatch).format === 'json' || (body as RawBatch).format === 'ndjson');

const IngestAnswer = Type.Object({
  accepted: Type.Integer({ description: 'Items added to the Shadow Store.' }),
  sampledOut: Type.Integer({ description: 'Valid events left out by the target sampling rate.' }),
  rejectedCount: Type.Integer(),
  rejected: Type.Array(Type.Object({ index: Type.Integer(), reason: Type.String(), problems: Type.Array(Type.Object({ path: Type.String(), message: Type.String() })) }), { description: `The first ${MAX_LISTED_REJECTIONS} rejected items.` }),
});

/** The API's ingest budget (server.maxEventsPerSecond items per second), shared by every ingest route. */
export type IngestBudget = Pick<TokenBucket, 'take' | 'ratePerSecond'>;

/** What the ingest routes use. */
export interface IngestRouteDeps {
  readonly ingestor: Pick<Ingestor, 'ingestLine' | 'finish'>;
  /**
   * The ingest stream when `ingest.jetstream` is on: accepted items are published to it and the
   * request is answered once JetStream acknowledged them all (an Idempotency-Key header names the
   * messages, so a request sent again is stored once); a standby takes them too.
   */
  readonly stream?: Pick<IngestStream, 'batch'>;
  readonly admission: IngestBudget;
  /** server.maxItemsPerBatch and server.parseTimeout. */
  readonly bounds: BatchBounds;
}

/** /v1/events and /v1/samples. */
export const ingestRoutes: FastifyPluginAsyncTypebox<IngestRouteDeps> = async (app, { ingestor, stream, admission, bounds }) => {
  const handle = async (kind: 'event' | 'sample', body: unknown, idempotencyKey: string | string[] | undefined, reply: FastifyReply) => {
    const key = checkIdempotencyKey(idempotencyKey);
    // JSON and NDJSON arrive unparsed (rawBatch); a text/plain body is read as NDJSON, as it always was.
    const raw: RawBatch | undefined = isRawBatch(body) ? body : typeof body === 'string' ? { format: 'ndjson', bytes: Buffer.from(body) } : undefined;
    const items = raw ? await parseBatch(raw, bounds) : [body];
    if (!admit(admission, items.length, reply)) return reply;
    const result: IngestResult = { accepted: 0, sampledOut: 0, rejected: [] };
    const batch = stream?.batch(key === undefined ? undefined : `${kind}/${key}`);
    await forEachSliced(items, (item, i) => ingestor.ingestLine(kind, item, i, result, batch));
    await batch?.publish();
    ingestor.finish(kind, result);
    const answer = {
      accepted: result.accepted, sampledOut: result.sampledOut,
      rejectedCount: result.rejected.length, rejected: result.rejected.slice(0, MAX_LISTED_REJECTIONS),
    };
    if (result.rejected.length > 0 && result.accepted === 0 && result.sampledOut === 0) {
      return sendProblem(reply, { ...problem('SHADOWPLANE_ERR_VALIDATION', `all ${result.rejected.length} items were rejected`), ...answer });
    }
    return answer;
  };

  // Items are validated one by one by the ingest path (a bad item must not sink its batch), so
  // the routes take any body; the item schemas are published as OpenAPI components instead.
  app.addSchema({ ...EventSchema, $id: 'RequestEvent' });
  app.addSchema({ ...SampleSchema, $id: 'MetricSample' });
  const security = [{ bearer: [] }];
  const consumes = ['application/json', 'application/x-ndjson'];

  app.post('/v1/events', {
    config: { ...ITEMS_CHECKED_ALONE, rawBatch: true, takenOnStandby: stream !== undefined },
    schema: { tags: ['ingest'], summary: 'Ingest request-metadata events.', description: 'A RequestEvent, an array of them, or NDJSON with one per line. Each event is validated on its own; `rejected` lists those that were not accepted. ' + STREAM_NOTE, consumes, security, response: { 200: IngestAnswer } },
  }, async (req, reply) => handle('event', req.body, req.headers['idempotency-key'], reply));

  app.post('/v1/samples', {
    config: { ...ITEMS_CHECKED_ALONE, rawBatch: true, takenOnStandby: stream !== undefined },
    schema: { tags: ['ingest'], summary: 'Ingest resource-metric samples.', description: 'A MetricSample, an array of them, or NDJSON with one per line. ' + STREAM_NOTE, consumes, security, response: { 200: IngestAnswer } },
  }, async (req, reply) => handle('sample', req.body, req.headers['idempotency-key'], reply));
};


/**
 * Takes `count` items from the API's ingest budget; when there are not enough, answers 429 with
 * Retry-After and returns false.
 */
export function admit(budget: IngestBudget, count: number, reply: FastifyReply): boolean {
  const wait = budget.take(count);
  if (wait === 0) return true;
  void sendProblem(reply.header('retry-after', String(wait)), problem('SHADOWPLANE_ERR_RATE_LIMITED', `more than server.maxEventsPerSecond (${budget.ratePerSecond}) items per second; retry in ${wait} s`));
  return false;
}
