/**
 * The wire schemas of ingested items. They list every allowed field and reject any other, so no
 * client can push a value, literal or payload into the Shadow Store.
 */
import { Type, type Static } from '@sinclair/typebox';
import { isStorableText, Magnitude, MAX_MAGNITUDE, TargetName, Text } from '../core/schema.js';

/** Event time: ms since the epoch, or an ISO-8601 string. */
const At = Type.Union([Type.Number({ minimum: 0 }), Text({ minLength: 10, maxLength: 40 })], {
  description: 'When the request started: ms since the epoch, or an ISO-8601 date-time string.',
  errorMessage: 'must be ms since the epoch or an ISO-8601 date-time string',
});

/** One request's metadata (see RequestEvent in src/model/event.ts). */
export const EventSchema = Type.Object(
  {
    target: TargetName,
    op: Type.Union([Type.Literal('read'), Type.Literal('write')]),
    table: Type.Optional(Text({ minLength: 1, maxLength: 256 })),
    columns: Type.Optional(Type.Array(Text({ minLength: 1, maxLength: 256 }), { maxItems: 64 })),
    route: Type.Optional(Text({ minLength: 1, maxLength: 512 })),
    bytes: Magnitude({ minimum: 0 }),
    rows: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_MAGNITUDE })),
    latencyMs: Magnitude({ minimum: 0 }),
    status: Type.Optional(Type.Integer({ minimum: 0, maximum: 999 })),
    error: Type.Optional(Text({ minLength: 1, maxLength: 64 })),
    user: Type.Optional(Text({ minLength: 1, maxLength: 256 })),
    requestId: Type.Optional(Text({ minLength: 1, maxLength: 128 })),
    samplingRate: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1, description: 'The rate the sender sampled at (absent: 1, not pre-sampled); the event weighs 1 / min(this, the target\'s rate).', errorMessage: 'must be a sampling rate above 0 and at most 1' })),
    at: At,
  },
  { additionalProperties: false, description: 'The metadata of one request. Unknown fields are rejected.' },
);

/** An event as it arrives on the wire. */
export type WireEvent = Static<typeof EventSchema>;

/** One resource-metric point (see MetricSample in src/model/event.ts). */
export const SampleSchema = Type.Object(
  {
    target: TargetName,
    metric: Type.String({ pattern: '^[a-zA-Z_:][a-zA-Z0-9_:]{0,127}$', errorMessage: 'must be a Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*, at most 128 characters)' }),
    labels: Type.Optional(Type.Record(Type.String({ pattern: '^[a-zA-Z_][a-zA-Z0-9_]{0,62}$' }), Text({ maxLength: 128 }), { maxProperties: 8 })),
    at: At,
    value: Magnitude({ description: 'The metric value: a finite number within ±1e300.' }),
  },
  { additionalProperties: false, description: 'One resource-metric point. Unknown fields are rejected.' },
);

/** A sample as it arrives on the wire. */
export type WireSample = Static<typeof SampleSchema>;

/** `metric{a="x",b="y"}` with labels sorted: the series key of a metric sample. */
export function seriesKey(metric: string, labels?: Record<string, string>): string {
  if (!labels) return metric;
  const names = Object.keys(labels);
  if (names.length === 0) return metric;
  names.sort();
  return `${metric}{${names.map((n) => `${n}=${JSON.stringify(labels[n])}`).join(',')}}`;
}

const TARGET_NAME = new RegExp(TargetName.pattern!);
const EVENT_FIELDS = new Set(Object.keys(EventSchema.properties));

/** A string of `min` to `max` UTF-16 units the store can hold, as Text({ minLength, maxLength }) checks it. */
const isText = (v: unknown, min: number, max: number): boolean => typeof v === 'string' && v.length >= min && v.length <= max && isStorableText(v);
/** A finite number in [min, max], as Type.Number checks it. */
const isNumberIn = (v: unknown, min: number, max: number): boolean => typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max;
const isIntegerIn = (v: unknown, min: number, max: number): boolean => Number.isInteger(v) && (v as number) >= min && (v as number) <= max;

/**
 * True only for an event that EventSchema accepts, checked field by field without the compiled
 * schema's per-call allocations (its unknown-key check builds an array of the keys and one of the
 * known names for each key): most of a fleet's events take this path. False means "not sure": the
 * caller checks with the schema, which also says what is wrong. Kept in step with EventSchema by a
 * test that checks every event this accepts against it.
 */
export function isPlainEvent(v: unknown): v is WireEvent {
  if (typeof v !== 'object' || v === null || Object.getPrototypeOf(v) !== Object.prototype) return false;
  const e = v as Record<string, unknown>;
  for (const key in e) if (!EVENT_FIELDS.has(key)) return false;
  if (typeof e.target !== 'string' || !TARGET_NAME.test(e.target)) return false;
  if (e.op !== 'read' && e.op !== 'write') return false;
  if (!isNumberIn(e.bytes, 0, MAX_MAGNITUDE) || !isNumberIn(e.latencyMs, 0, MAX_MAGNITUDE)) return false;
  if (!(isNumberIn(e.at, 0, Number.MAX_VALUE) || isText(e.at, 10, 40))) return false;
  if (e.table !== undefined && !isText(e.table, 1, 256)) return false;
  if (e.columns !== undefined) {
    const columns = e.columns;
    if (!Array.isArray(columns) || columns.length > 64) return false;
    for (let i = 0; i < columns.length; i++) if (!isText(columns[i], 1, 256)) return false;
  }
  if (e.route !== undefined && !isText(e.route, 1, 512)) return false;
  if (e.rows !== undefined && !isIntegerIn(e.rows, 0, MAX_MAGNITUDE)) return false;
  if (e.status !== undefined && !isIntegerIn(e.status, 0, 999)) return false;
  if (e.error !== undefined && !isText(e.error, 1, 64)) return false;
  if (e.user !== undefined && !isText(e.user, 1, 256)) return false;
  if (e.requestId !== undefined && !isText(e.requestId, 1, 128)) return false;
  if (e.samplingRate !== undefined && !(isNumberIn(e.samplingRate, 0, 1) && (e.samplingRate as number) > 0)) return false;
  return true;
}
