/**
 * Counting: Prometheus-style counters and gauges (text exposition), and windowed request
 * statistics (count, errors, p99) used to verify migration steps.
 */
import { quantile } from '../../core/quantile.js';

/** Label set of one series. */
export type Labels = Record<string, string>;

function labelKey(labels: Labels): string {
  const parts = Object.keys(labels).sort().map((k) => `${k}="${labels[k]!.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

/** One series of a counter with its labels fixed. */
export interface BoundCounter {
  inc(by?: number): void;
  get(): number;
}

/** A monotonically increasing counter family. `inc` never fails; negative amounts are ignored. */
export class Counter {
  private readonly series = new Map<string, number>();
  constructor(readonly name: string, readonly help: string) {}

  /** Adds `by` (default 1) to the series with these labels. */
  inc(labels: Labels, by = 1): void {
    if (by < 0) return;
    const key = labelKey(labels);
    this.series.set(key, (this.series.get(key) ?? 0) + by);
  }

  /** A pre-labelled series for hot paths: its `inc` skips building the label key. */
  bind(labels: Labels): BoundCounter {
    const key = labelKey(labels);
    const series = this.series;
    if (!series.has(key)) series.set(key, 0);
    return { inc: (by = 1) => void series.set(key, series.get(key)! + by), get: () => series.get(key)! };
  }

  /** The current value of one series (0 when never incremented). */
  get(labels: Labels): number {
    return this.series.get(labelKey(labels)) ?? 0;
  }

  /** Exposition lines. */
  render(type = 'counter'): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${type}`];
    for (const [k, v] of this.series) lines.push(`${this.name}${k} ${v}`);
    return lines.join('\n');
  }
}

/** A gauge family: values set, not added. */
export class Gauge extends Counter {
  private readonly values = new Map<string, number>();
  /** Sets the series to `value`. */
  set(labels: Labels, value: number): void {
    this.values.set(labelKey(labels), value);
  }
  override get(labels: Labels): number {
    return this.values.get(labelKey(labels)) ?? 0;
  }
  override render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`];
    for (const [k, v] of this.values) lines.push(`${this.name}${k} ${v}`);
    return lines.join('\n');
  }
}

/** Every metric of the proxy, rendered at /metrics on the admin port. */
export class ProxyMetrics {
  readonly requests = new Counter('shadowplane_proxy_requests_total', 'Requests answered, by route, serving upstream and status class');
  readonly upstreamErrors = new Counter('shadowplane_proxy_upstream_errors_total', 'Requests that failed at the upstream (502/504), by route, upstream and kind');
  readonly clientAborts = new Counter('shadowplane_proxy_client_aborts_total', 'Requests whose client went away before the answer was complete');
  readonly mirrors = new Counter('shadowplane_proxy_mirror_total', 'Mirror outcomes by route and outcome (sent, ok, timeout, refused, reset, error, dropped_inflight, dropped_rate, oversized, breaker_open, unhealthy, aborted)');
  readonly comparisons = new Counter('shadowplane_proxy_comparisons_total', 'Compared mirrored responses by route and result (match, mismatch, noise, skipped_primary_error, skipped_no_shadow_answer)');
  readonly mismatchKinds = new Counter('shadowplane_proxy_mismatch_kinds_total', 'Differences by route and kind (status, header, body, missing, extra, type, value)');
  readonly events = new Counter('shadowplane_proxy_events_total', 'Telemetry events by outcome (queued, sent, dropped_buffer, dropped_send)');
  readonly breakerState = new Gauge('shadowplane_proxy_breaker_open', '1 while the mirror circuit breaker of a route is open');
  readonly weight = new Gauge('shadowplane_proxy_shadow_weight', 'Share of live traffic served by the shadow');
  readonly upstreamUp = new Gauge('shadowplane_proxy_upstream_available', '1 while the upstream is healthy and not ejected');
  readonly mirrorsInFlight = new Gauge('shadowplane_proxy_mirror_in_flight', 'Mirrors outstanding');

  /** The Prometheus text exposition of all families. */
  render(): string {
    return [this.requests, this.upstreamErrors, this.clientAborts, this.mirrors, this.comparisons, this.mismatchKinds, this.events]
      .map((c) => c.render())
      .concat([this.breakerState, this.weight, this.upstreamUp, this.mirrorsInFlight].map((g) => g.render()))
      .join('\n') + '\n';
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
