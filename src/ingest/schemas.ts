/**
 * The wire schemas of ingested items. They list every allowed field and reject any other, so no
 * client can push a value, literal or payload into the Shadow Store.
 */
import { Type, type Static } from '@sinclair/typebox';
import { Magnitude, MAX_MAGNITUDE, TargetName, Text } from '../core/schema.js';

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
