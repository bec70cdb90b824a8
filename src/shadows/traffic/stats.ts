/**
 * Counting: the proxy's Prometheus metrics (its own prom-client registry, served at /metrics by the
 * admin API) and windowed request statistics (count, errors, p99) used to verify migration steps.
 */
import { Counter, Gauge, Registry } from 'prom-client';
import { quantile } from '../../core/quantile.js';

/** Label set of one series. */
export type Labels = Record<string, string>;

/**
 * One series of a counter with its labels fixed, for the request path: it counts in a plain number
 * (prom-client hashes the labels on every increment of a labelled child, some twenty times the
 * cost), read at once with `get`, and hands the counter what it added when the registry is read.
 */
export class BoundCounter {
  private value = 0;
  private reported = 0;
  constructor(private readonly labels: Labels) {}

  /** Adds `by` (default 1). */
  inc(by = 1): void {
    this.value += by;
  }

  /** The count so far. */
  get(): number {
    return this.value;
  }

  /** Adds what was counted since the last report to `counter`. */
  report(counter: Counter): void {
    if (this.value > this.reported) counter.inc(this.labels, this.value - this.reported);
    this.reported = this.value;
  }
}

const bound = new WeakMap<Counter, Map<string, BoundCounter>>();

/**
 * The series of `counter` with these labels, shown at 0 from now on (before its first count); one
 * per label set, so a route rebuilt with the same name counts on. The labels go in name order, so
 * every series renders its labels in the same order. `counter` must report its bound series when
 * read (`reportBound`, its `collect`).
 */
export function bind(counter: Counter, labels: Labels): BoundCounter {
  const sorted = Object.fromEntries(Object.keys(labels).sort().map((k) => [k, labels[k]!]));
  const key = JSON.stringify(sorted);
  const series = bound.get(counter) ?? bound.set(counter, new Map()).get(counter)!;
  let b = series.get(key);
  if (!b) {
    counter.inc(sorted, 0);
    b = new BoundCounter(sorted);
    series.set(key, b);
  }
  return b;
}

/** Hands `counter` what its bound series counted since it was last read. */
function reportBound(this: Counter): void {
  for (const b of bound.get(this)?.values() ?? []) b.report(this);
}

/** The current value of one series of a metric (0 when it has none). */
export async function seriesValue(metric: Counter | Gauge, labels: Labels): Promise<number> {
  const { values } = await metric.get();
  const keys = Object.keys(labels);
  const series = values.find((v) => Object.keys(v.labels).length === keys.length && keys.every((k) => v.labels[k] === labels[k]));
  return series?.value ?? 0;
}

/** Every metric of the proxy, in its own registry, rendered at /metrics on the admin port. */
export class ProxyMetrics {
  readonly registry = new Registry();
  private readonly counter = (name: string, help: string, labelNames: string[]) =>
    new Counter({ name, help, labelNames, registers: [this.registry], collect: reportBound });
  private readonly gauge = (name: string, help: string, labelNames: string[]) =>
    new Gauge({ name, help, labelNames, registers: [this.registry] });

  readonly requests = this.counter(
    'shadowplane_proxy_requests_total',
    'Requests answered, by route, serving upstream and status class',
    ['route', 'upstream', 'code'],
  );
  readonly upstreamErrors = this.counter(
    'shadowplane_proxy_upstream_errors_total',
    'Requests that failed at the upstream (502/504), by route, upstream and kind',
    ['route', 'upstream', 'kind'],
  );
  readonly clientAborts = this.counter('shadowplane_proxy_client_aborts_total', 'Requests whose client went away before the answer was complete', ['route']);
  readonly mirrors = this.counter(
    'shadowplane_proxy_mirror_total',
    'Mirror outcomes by route and outcome (sent, ok, timeout, refused, reset, error, dropped_inflight, dropped_rate, oversized, breaker_open, unhealthy, aborted)',
    ['route', 'outcome'],
  );
  readonly comparisons = this.counter(
    'shadowplane_proxy_comparisons_total',
    'Compared mirrored responses by route and result (match, mismatch, noise, skipped_primary_error, skipped_no_shadow_answer)',
    ['route', 'result'],
  );
  readonly mismatchKinds = this.counter(
    'shadowplane_proxy_mismatch_kinds_total',
    'Differences by route and kind (status, header, body, missing, extra, type, value)',
    ['route', 'kind'],
  );
  readonly events = this.counter('shadowplane_proxy_events_total', 'Telemetry events by outcome (queued, sent, dropped_buffer, dropped_send)', ['outcome']);
  readonly breakerState = this.gauge('shadowplane_proxy_breaker_open', '1 while the mirror circuit breaker of a route is open', ['route']);
  readonly weight = this.gauge('shadowplane_proxy_shadow_weight', 'Share of live traffic served by the shadow', ['route']);
  readonly upstreamUp = this.gauge('shadowplane_proxy_upstream_available', '1 while the upstream is healthy and not ejected', ['upstream']);
  readonly mirrorsInFlight = this.gauge('shadowplane_proxy_mirror_in_flight', 'Mirrors outstanding', ['route']);

  /** The Prometheus text exposition of all families. */
  render(): Promise<string> {
    return this.registry.metrics();
  }
}

/** Summary of one window of requests to one upstream. */
export interface WindowSummary {
  requests: number;
  errors: number;
  errorRate: number;
  /** 99th percentile latency in ms (0 with no requests). */
  p99Ms: number;
}

/**
 * Requests served by one upstream since the last reset: count, errors and latencies (capped at
 * `cap` samples; beyond it a uniform reservoir keeps the p99 estimate unbiased).
 */
export class RequestWindow {
  private latencies: number[] = [];
  private n = 0;
  private errors = 0;
  constructor(private readonly cap = 50_000) {}

  /** Records one finished request. `error` is a 5xx or a transport failure. */
  record(latencyMs: number, error: boolean): void {
    this.n++;
    if (error) this.errors++;
    if (this.latencies.length < this.cap) this.latencies.push(latencyMs);
    else {
      const j = Math.floor(Math.random() * this.n);
      if (j < this.cap) this.latencies[j] = latencyMs;
    }
  }

  /** Starts a new window. */
  reset(): void {
    this.latencies = [];
    this.n = 0;
    this.errors = 0;
  }

  /** Count, error rate and p99 of the window. */
  summary(): WindowSummary {
    return { requests: this.n, errors: this.errors, errorRate: this.n ? this.errors / this.n : 0, p99Ms: quantile(this.latencies, 0.99, 0) };
  }
}
