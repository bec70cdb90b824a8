/**
 * OpenTelemetry OTLP/HTTP metrics in: an `ExportMetricsServiceRequest` as protobuf or as OTLP/JSON,
 * turned into the series the series rules map (src/ingest/series-rules.ts), named the way
 * Prometheus names OTLP metrics: characters other than `[a-zA-Z0-9_:]` in metric and attribute
 * names become `_` (`http.server.duration` -> `http_server_duration`, `service.name` ->
 * `service_name`), resource attributes and data-point attributes together are the labels (a
 * data-point attribute wins a clash). Gauges and sums give one series each; histograms give
 * `_bucket{le}` (cumulative), `_sum` and `_count`; exponential histograms `_sum` and `_count`;
 * summaries a series per `quantile`, `_sum` and `_count` — as the Prometheus scraper flattens them.
 *
 * The message types are the part of opentelemetry-proto's `collector/metrics/v1/metrics_service.proto`,
 * `metrics/v1/metrics.proto`, `resource/v1/resource.proto` and `common/v1/common.proto` (Apache-2.0,
 * github.com/open-telemetry/opentelemetry-proto) that carries metric values, with the same field
 * numbers; exemplars and flags are skipped as unknown fields. protobufjs decodes both encodings
 * (its JSON mapping takes OTLP/JSON's lowerCamelCase names).
 */
import protobuf from 'protobufjs';
import { ShadowplaneError } from '../core/errors.js';
import type { PushedPoints } from './series-rules.js';

const PROTO = `
syntax = "proto3";
package otlp;
message ExportMetricsServiceRequest { repeated ResourceMetrics resource_metrics = 1; }
message ExportMetricsServiceResponse { ExportMetricsPartialSuccess partial_success = 1; }
message ExportMetricsPartialSuccess { int64 rejected_data_points = 1; string error_message = 2; }
message ResourceMetrics { Resource resource = 1; repeated ScopeMetrics scope_metrics = 2; string schema_url = 3; }
message Resource { repeated KeyValue attributes = 1; uint32 dropped_attributes_count = 2; }
message ScopeMetrics { InstrumentationScope scope = 1; repeated Metric metrics = 2; string schema_url = 3; }
message InstrumentationScope { string name = 1; string version = 2; repeated KeyValue attributes = 3; uint32 dropped_attributes_count = 4; }
message Metric {
  string name = 1; string description = 2; string unit = 3;
  oneof data { Gauge gauge = 5; Sum sum = 7; Histogram histogram = 9; ExponentialHistogram exponential_histogram = 10; Summary summary = 11; }
}
message Gauge { repeated NumberDataPoint data_points = 1; }
message Sum { repeated NumberDataPoint data_points = 1; int32 aggregation_temporality = 2; bool is_monotonic = 3; }
message Histogram { repeated HistogramDataPoint data_points = 1; int32 aggregation_temporality = 2; }
message ExponentialHistogram { repeated ExponentialHistogramDataPoint data_points = 1; int32 aggregation_temporality = 2; }
message Summary { repeated SummaryDataPoint data_points = 1; }
message NumberDataPoint {
  repeated KeyValue attributes = 7; fixed64 start_time_unix_nano = 2; fixed64 time_unix_nano = 3;
  oneof value { double as_double = 4; sfixed64 as_int = 6; }
}
message HistogramDataPoint {
  repeated KeyValue attributes = 9; fixed64 start_time_unix_nano = 2; fixed64 time_unix_nano = 3; fixed64 count = 4;
  optional double sum = 5; repeated fixed64 bucket_counts = 6; repeated double explicit_bounds = 7;
}
message ExponentialHistogramDataPoint {
  repeated KeyValue attributes = 1; fixed64 start_time_unix_nano = 2; fixed64 time_unix_nano = 3; fixed64 count = 4; optional double sum = 5;
}
message SummaryDataPoint {
  repeated KeyValue attributes = 7; fixed64 start_time_unix_nano = 2; fixed64 time_unix_nano = 3; fixed64 count = 4; double sum = 5;
  repeated ValueAtQuantile quantile_values = 6;
}
message ValueAtQuantile { double quantile = 1; double value = 2; }
message KeyValue { string key = 1; AnyValue value = 2; }
message AnyValue {
  oneof value { string string_value = 1; bool bool_value = 2; int64 int_value = 3; double double_value = 4; ArrayValue array_value = 5; KeyValueList kvlist_value = 6; bytes bytes_value = 7; }
}
message ArrayValue { repeated AnyValue values = 1; }
message KeyValueList { repeated KeyValue values = 1; }
`;

const root = protobuf.parse(PROTO).root;
const Request = root.lookupType('otlp.ExportMetricsServiceRequest');
const Response = root.lookupType('otlp.ExportMetricsServiceResponse');

/** The plain form both encodings are read through (protobufjs toObject: int64 as strings, oneofs named). */
const PLAIN: protobuf.IConversionOptions = { longs: String, bytes: String, defaults: false, arrays: true, oneofs: true };

type Str = string | undefined;
interface KeyValue { key: string; value?: { value?: string; stringValue?: string; boolValue?: boolean; intValue?: string; doubleValue?: number } }
interface Point {
  attributes: KeyValue[]; timeUnixNano?: Str; asDouble?: number; asInt?: Str; count?: Str; sum?: number;
  bucketCounts: string[]; explicitBounds: number[]; quantileValues: { quantile?: number; value?: number }[];
}
interface Metric {
  name: string; data?: string; gauge?: { dataPoints: Point[] }; sum?: { dataPoints: Point[] }; histogram?: { dataPoints: Point[] };
  exponentialHistogram?: { dataPoints: Point[] }; summary?: { dataPoints: Point[] };
}
interface Plain { resourceMetrics: { resource?: { attributes: KeyValue[] }; scopeMetrics: { metrics: Metric[] }[] }[] }

/** `[a-zA-Z0-9_:]` only, not starting with a digit: a Prometheus name from an OpenTelemetry one. */
export function promName(name: string): string {
  const s = name.replace(/[^a-zA-Z0-9_:]/g, '_');
  return /^[0-9]/.test(s) ? `_${s}` : s;
}

/** An attribute's value as a label value (arrays and maps as JSON). */
function attrValue(v: KeyValue['value']): string {
  if (!v) return '';
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.boolValue !== undefined) return String(v.boolValue);
  if (v.intValue !== undefined) return String(v.intValue);
  if (v.doubleValue !== undefined) return String(v.doubleValue);
  const { value: _which, ...rest } = v as Record<string, unknown>;
  return JSON.stringify(Object.values(rest)[0] ?? '');
}

function labelsOf(attrs: readonly KeyValue[], into: Record<string, string> = {}): Record<string, string> {
  for (const a of attrs) into[promName(a.key)] = attrValue(a.value);
  return into;
}

/** ms since the epoch from OTLP's nanoseconds (a decimal string). */
function ms(nanos: Str): number {
  return nanos === undefined ? Number.NaN : Number(BigInt(nanos) / 1_000_000n);
}

/**
 * Decodes an OTLP metrics request: `body` is the protobuf bytes, or the parsed OTLP/JSON object.
 * SHADOWPLANE_ERR_VALIDATION naming what failed when it is neither.
 */
export function decodeOtlpMetrics(body: Buffer | unknown): PushedPoints[] {
  let plain: Plain;
  try {
    const message = Buffer.isBuffer(body) ? Request.decode(body) : Request.fromObject(body as Record<string, unknown>);
    plain = Request.toObject(message, PLAIN) as Plain;
  } catch (err) {
    const what = Buffer.isBuffer(body) ? 'a protobuf' : 'an OTLP/JSON';
    throw new ShadowplaneError('SHADOWPLANE_ERR_VALIDATION', `the body is not ${what} ExportMetricsServiceRequest`, [{ path: '/body', message: `must be ${what} ExportMetricsServiceRequest: ${(err as Error).message}` }]);
  }
  const out: PushedPoints[] = [];
  const add = (metric: string, labels: Record<string, string>, at: number, value: number) => out.push({ metric, labels, samples: [{ at, value }] });
  for (const rm of plain.resourceMetrics) {
    const resource = labelsOf(rm.resource?.attributes ?? []);
    for (const sm of rm.scopeMetrics) {
      for (const m of sm.metrics) {
        const name = promName(m.name);
        const points = (m.gauge ?? m.sum ?? m.histogram ?? m.exponentialHistogram ?? m.summary)?.dataPoints ?? [];
        for (const p of points) {
          const labels = labelsOf(p.attributes, { ...resource });
          const at = ms(p.timeUnixNano);
          if (m.gauge || m.sum) {
            add(name, labels, at, p.asDouble ?? Number(p.asInt ?? Number.NaN));
            continue;
          }
          if (m.histogram) {
            let cumulative = 0;
            p.bucketCounts.forEach((c, i) => {
              cumulative += Number(c);
              add(`${name}_bucket`, { ...labels, le: i < p.explicitBounds.length ? String(p.explicitBounds[i]) : '+Inf' }, at, cumulative);
            });
          }
          if (m.summary) for (const q of p.quantileValues) add(name, { ...labels, quantile: String(q.quantile ?? 0) }, at, q.value ?? 0);
          if (p.sum !== undefined) add(`${name}_sum`, labels, at, p.sum);
          add(`${name}_count`, labels, at, Number(p.count ?? 0));
        }
      }
    }
  }
  return out;
}

/** The answer to an export: empty on full success, else a partial success counting the rejected points. */
export function otlpResponse(rejected: number, message: string, json: boolean): Buffer | Record<string, unknown> {
  const body = rejected > 0 ? { partialSuccess: { rejectedDataPoints: String(rejected), errorMessage: message } } : {};
  if (json) return body;
  return Buffer.from(Response.encode(Response.fromObject(body)).finish());
}
