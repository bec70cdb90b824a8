/**
 * POST /v1/events and /v1/samples: a JSON array, a single JSON object, or NDJSON (one item per
 * line). Good items are accepted even when others in the batch are rejected; every rejection is
 * listed with its index, field and rule.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { IngestResult } from '../../ingest/ingestor.js';
import { EventSchema, SampleSchema } from '../../ingest/schemas.js';
import type { ShadowplaneService } from '../../service.js';
import { ITEMS_CHECKED_ALONE } from '../app.js';
import { problem, sendProblem } from '../problem.js';

/** Rejections listed in one answer; the count covers all of them. */
const MAX_LISTED_REJECTIONS = 1000;

const IngestAnswer = Type.Object({
  accepted: Type.Integer({ description: 'Items added to the Shadow Store.' }),
  sampledOut: Type.Integer({ description: 'Valid events left out by the target sampling rate.' }),
  rejectedCount: Type.Integer(),
  rejected: Type.Array(Type.Object({ index: Type.Integer(), reason: Type.String(), problems: Type.Array(Type.Object({ path: Type.String(), message: Type.String() })) }), { description: `The first ${MAX_LISTED_REJECTIONS} rejected items.` }),
});

/** /v1/events and /v1/samples. */
export function ingestRoutes(app: FastifyInstance, service: ShadowplaneService): void {
  const { ingestor } = service;

  const handle = (kind: 'event' | 'sample', body: unknown, reply: FastifyReply) => {
    const ndjson = Buffer.isBuffer(body) || typeof body === 'string' ? body : null;
    const items = ndjson !== null ? null : Array.isArray(body) ? body : [body];
    const count = items ? items.length : countLines(ndjson!);
    if (!admit(service, count, reply)) return reply;
    let result: IngestResult;
    if (items) {
      result = kind === 'event' ? ingestor.ingestEvents(items) : ingestor.ingestSamples(items);
    } else {
      result = { accepted: 0, sampledOut: 0, rejected: [] };
      forEachNdjsonLine(ndjson!, (item, index) => ingestor.ingestLine(kind, item, index, result));
      ingestor.finish(kind, result);
    }
    const answer = { accepted: result.accepted, sampledOut: result.sampledOut, rejectedCount: result.rejected.length, rejected: result.rejected.slice(0, MAX_LISTED_REJECTIONS) };
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
    config: ITEMS_CHECKED_ALONE,
    schema: { tags: ['ingest'], summary: 'Ingest request-metadata events.', description: 'A RequestEvent, an array of them, or NDJSON with one per line. Each event is validated on its own; `rejected` lists those that were not accepted.', consumes, security, response: { 200: IngestAnswer } },
  }, async (req, reply) => handle('event', req.body, reply));

  app.post('/v1/samples', {
    config: ITEMS_CHECKED_ALONE,
    schema: { tags: ['ingest'], summary: 'Ingest resource-metric samples.', description: 'A MetricSample, an array of them, or NDJSON with one per line.', consumes, security, response: { 200: IngestAnswer } },
  }, async (req, reply) => handle('sample', req.body, reply));
}

/**
 * Takes `count` items from the API's ingest budget (server.maxEventsPerSecond, shared by every
 * ingest route); when there are not enough, answers 429 with Retry-After and returns false.
 */
export function admit(service: ShadowplaneService, count: number, reply: FastifyReply): boolean {
  const wait = service.admission.take(count);
  if (wait === 0) return true;
  void sendProblem(reply.header('retry-after', String(wait)), problem('SHADOWPLANE_ERR_RATE_LIMITED', `more than server.maxEventsPerSecond (${service.config.server.maxEventsPerSecond}) items per second; retry in ${wait} s`));
  return false;
}

/**
 * An NDJSON body is decoded a piece of about this many bytes at a time (cut at a newline): one
 * string per piece instead of one per line, and small enough to stay out of V8's large-object
 * space, where a string (over about 128 KiB) costs several times more per byte to create than
 * a small one. Decoding a 200 KiB body in one go took over 1 ms; in pieces, well under 0.2 ms.
 */
const DECODE_PIECE_BYTES = 64 * 1024;
const NEWLINE = 0x0a;

/**
 * Calls `fn` with each non-blank line of an NDJSON body parsed as JSON (or the parse Error) and
 * its 0-based index among the non-blank lines. A Buffer is decoded as UTF-8; cutting it at
 * newline bytes is safe because 0x0A never occurs inside a multi-byte UTF-8 character.
 */
export function forEachNdjsonLine(body: Buffer | string, fn: (item: unknown, index: number) => void): void {
  if (typeof body === 'string') {
    forEachLine(body, fn, 0);
    return;
  }
  let index = 0;
  let pos = 0;
  while (pos < body.length) {
    let end = body.length;
    if (pos + DECODE_PIECE_BYTES < body.length) {
      end = body.lastIndexOf(NEWLINE, pos + DECODE_PIECE_BYTES);
      // A line longer than a piece: the piece runs to that line's end.
      if (end < pos) end = body.indexOf(NEWLINE, pos + DECODE_PIECE_BYTES);
      if (end < 0) end = body.length;
    }
    index = forEachLine(body.toString('utf8', pos, end), fn, index);
    pos = end + 1;
  }
}

/** forEachNdjsonLine() over one decoded string, numbering from `index`; returns the next index. */
function forEachLine(text: string, fn: (item: unknown, index: number) => void, index: number): number {
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const line = text.slice(start, end);
    start = end + 1;
    // Almost every line starts with `{`; only the others need the (allocating) blank check.
    if (line.charCodeAt(0) !== 0x7b && line.trim() === '') continue;
    let item: unknown;
    try {
      item = JSON.parse(line);
    } catch (err) {
      item = err as Error;
    }
    fn(item, index++);
  }
  return index;
}

/** Lines in an NDJSON body (an upper bound of its items, for the rate limit). */
function countLines(body: Buffer | string): number {
  const next = typeof body === 'string' ? (from: number) => body.indexOf('\n', from) : (from: number) => body.indexOf(NEWLINE, from);
  let n = 1;
  for (let i = next(0); i >= 0; i = next(i + 1)) n++;
  return n;
}
