/**
 * Turning an ingest request body (NDJSON, or a JSON array or single value) into its items with
 * bounded work: at most `maxItems` items, at most `parseTimeoutMs` spent parsing, no item longer
 * than MAX_ITEM_BYTES, and a turn of the event loop after every piece of about 64 KiB, so a large
 * batch never holds up other requests (`/healthz` among them). Either the whole body parses
 * within its bounds or it is refused before any item is ingested.
 */
import { ShadowplaneError } from '../core/errors.js';

/** Limits on one request's batch. */
export interface BatchBounds {
  /** Most items in one body (`server.maxItemsPerBatch`). */
  readonly maxItems: number;
  /** Most wall time spent parsing one body, ms (`server.parseTimeout`). */
  readonly parseTimeoutMs: number;
}

/** A body as the ingest routes receive it: its bytes and how they are framed. */
export interface RawBatch {
  readonly format: 'ndjson' | 'json';
  readonly bytes: Buffer;
}

/**
 * The longest single item (one NDJSON line, one array element), bytes. An event or a sample is a
 * few hundred bytes; one megabyte of JSON still parses in milliseconds, while a single 16 MB
 * value would hold the event loop for most of a second.
 */
export const MAX_ITEM_BYTES = 1024 * 1024;

/**
 * A body is decoded and parsed a piece of about this many bytes at a time (cut between items):
 * one string per piece instead of one per item, and small enough to stay out of V8's large-object
 * space, where a string (over about 128 KiB) costs several times more per byte to create than a
 * small one. Decoding a 200 KiB body in one go took over 1 ms; in pieces, well under 0.2 ms.
 */
const PIECE_BYTES = 64 * 1024;
const NEWLINE = 0x0a;

/** Resolves on the next turn of the event loop, after pending I/O callbacks have run. */
export const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Most time spent on the items of a batch before the event loop gets a turn, ms. A time rather
 * than an item count: a rejected item costs ten times an accepted one, and a loaded machine
 * several times more.
 */
const TURN_MS = 10;

/** Calls `fn` on each item in order, giving the event loop a turn whenever TURN_MS have passed. */
export async function forEachSliced<T>(items: readonly T[], fn: (item: T, index: number) => void): Promise<void> {
  let turnStarted = performance.now();
  for (let i = 0; i < items.length; i++) {
    fn(items[i], i);
    if (i % 64 === 63 && performance.now() - turnStarted > TURN_MS) {
      await nextTurn();
      turnStarted = performance.now();
    }
  }
}

/**
 * The items of a body: each a parsed value, or the Error of an NDJSON line that is not JSON (it is
 * rejected by its index, the rest goes on). Blank NDJSON lines are skipped. Throws
 * SHADOWPLANE_ERR_PAYLOAD_TOO_LARGE past a bound, SHADOWPLANE_ERR_VALIDATION when a JSON body is
 * not JSON.
 */
export async function parseBatch(body: RawBatch, bounds: BatchBounds): Promise<unknown[]> {
  const items: unknown[] = [];
  const deadline = performance.now() + bounds.parseTimeoutMs;
  const pieces = body.format === 'ndjson' ? ndjsonPieces(body.bytes) : jsonPieces(body.bytes);
  for (const piece of pieces) {
    piece(items);
    if (items.length > bounds.maxItems) {
      throw new ShadowplaneError('SHADOWPLANE_ERR_PAYLOAD_TOO_LARGE', `more than server.maxItemsPerBatch (${bounds.maxItems}) items in one request; send smaller batches`);
    }
    if (performance.now() > deadline) {
      throw new ShadowplaneError('SHADOWPLANE_ERR_PAYLOAD_TOO_LARGE', `parsing the request took longer than server.parseTimeout (${bounds.parseTimeoutMs} ms); nothing was ingested, send smaller batches`);
    }
    await nextTurn();
  }
  return items;
}

/** A piece of work that appends the items of one piece of a body. */
type Piece = (into: unknown[]) => void;

/**
 * The pieces of an NDJSON body. A Buffer is cut at newline bytes (safe: 0x0A never occurs inside
 * a multi-byte UTF-8 character) and each piece decoded once.
 */
export function* ndjsonPieces(body: Buffer): Generator<Piece> {
  let pos = 0;
  while (pos < body.length) {
    let end = body.length;
    if (pos + PIECE_BYTES < body.length) {
      end = body.lastIndexOf(NEWLINE, pos + PIECE_BYTES);
      // A line longer than a piece: the piece runs to that line's end.
      if (end < pos) end = body.indexOf(NEWLINE, pos + PIECE_BYTES);
      if (end < 0) end = body.length;
    }
    const from = pos;
    pos = end + 1;
    yield (into) => parseLines(body.toString('utf8', from, end), into);
  }
}

/** Appends each non-blank line of `text` parsed as JSON (or its parse Error). */
function parseLines(text: string, into: unknown[]): void {
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const line = text.slice(start, end);
    start = end + 1;
    // Almost every line starts with `{`; only the others need the (allocating) blank check.
    if (line.charCodeAt(0) !== 0x7b && line.trim() === '') continue;
    into.push(parseItem(line));
  }
}

/** One item's JSON, or the Error saying why it is not an item. */
function parseItem(text: string): unknown {
  // Characters, not bytes, are compared: UTF-8 never has fewer bytes than UTF-16 code units.
  if (text.length > MAX_ITEM_BYTES) return new Error(`is longer than ${MAX_ITEM_BYTES} bytes`);
  try {
    return JSON.parse(text);
  } catch (err) {
    return err as Error;
  }
}

const bodyError = (detail: string) => new ShadowplaneError('SHADOWPLANE_ERR_VALIDATION', 'the body is not valid JSON', [{ path: '/body', message: detail }]);

/**
 * The pieces of a JSON body. An array is cut between its elements (found by a scan that tracks
 * nesting and strings) and each run of elements parsed as an array of its own; any other value is
 * one item. JSON that does not parse refuses the whole body, as a body that is not JSON does.
 */
export function* jsonPieces(body: Buffer): Generator<Piece> {
  let pos = skipSpace(body, 0);
  if (body[pos] !== 0x5b /* [ */) {
    if (body.length > MAX_ITEM_BYTES) throw new ShadowplaneError('SHADOWPLANE_ERR_PAYLOAD_TOO_LARGE', `a single item is longer than ${MAX_ITEM_BYTES} bytes`);
    yield (into) => into.push(parseWhole(body.toString('utf8')));
    return;
  }
  pos++;
  const arrayStart = pos;
  const scan = { depth: 0, inString: false, escaped: false };
  let elementStart = pos;
  let pieceStart = pos;
  for (;;) {
    if (pos >= body.length) throw bodyError('the array is not closed with ]');
    const b = body[pos];
    let endOfArray = false;
    if (scan.inString) {
      if (scan.escaped) scan.escaped = false;
      else if (b === 0x5c /* \ */) scan.escaped = true;
      else if (b === 0x22 /* " */) scan.inString = false;
    } else if (b === 0x22) {
      scan.inString = true;
    } else if (b === 0x7b /* { */ || b === 0x5b /* [ */) {
      scan.depth++;
    } else if (b === 0x7d /* } */ || b === 0x5d /* ] */) {
      if (scan.depth === 0) endOfArray = b === 0x5d;
      else scan.depth--;
    }
    const atComma = !scan.inString && scan.depth === 0 && b === 0x2c; /* , */
    if (atComma || endOfArray) {
      if (pos - elementStart > MAX_ITEM_BYTES) throw new ShadowplaneError('SHADOWPLANE_ERR_PAYLOAD_TOO_LARGE', `a single item is longer than ${MAX_ITEM_BYTES} bytes`);
      elementStart = pos + 1;
      if (endOfArray || pos - pieceStart >= PIECE_BYTES) {
        const text = body.toString('utf8', pieceStart, pos);
        // `[]` is the one array with nothing between its brackets; `[...,]` is not JSON.
        const emptyArray = pieceStart === arrayStart && endOfArray && text.trim() === '';
        if (!emptyArray && text.trim() === '') throw bodyError('an array element is missing');
        pieceStart = pos + 1;
        if (!emptyArray) yield (into) => { for (const item of parseWhole(`[${text}]`) as unknown[]) into.push(item); };
      }
      if (endOfArray) break;
    }
    pos++;
  }
  if (skipSpace(body, pos + 1) < body.length) throw bodyError('unexpected data after the closing ]');
}

function parseWhole(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw bodyError((err as Error).message);
  }
}

/** The first position at or after `pos` that is not JSON whitespace. */
function skipSpace(body: Buffer, pos: number): number {
  while (pos < body.length && (body[pos] === 0x20 || body[pos] === 0x0a || body[pos] === 0x0d || body[pos] === 0x09)) pos++;
  return pos;
}
