/**
 * The service's own Prometheus metrics, served at /metrics. One registry per service instance (so
 * tests can run several), base units, closed label sets.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { IngestCounters, RejectReason } from '../ingest/ingestor.js';

/** Sources of the gauges read at scrape time. */
export interface GaugeSources {
  seriesCount(): Promise<number>;
  storeSizeBytes(): Promise<number>;
  openWindows(): number;
  quarantinedWindows(): Promise<number>;
  /**
   * Told when a gauge read from the store fails (the store is busy or unreachable): that scrape
   * leaves the gauge out instead of failing as a whole.
   */
  onReadError?(gauge: string, err: Error): void;
}

/** The metrics of one service. */
export class ServiceMetrics implements IngestCounters {
  readonly registry = new Registry();
  private readonly accepted = new Counter({ name: 'shadowplane_ingest_accepted_total', help: 'Events and samples added to the rollups.', labelNames: ['kind'], registers: [this.registry] });
  private readonly rejected = new Counter({ name: 'shadowplane_ingest_rejected_total', help: 'Events and samples rejected, by reason.', labelNames: ['kind', 'reason'], registers: [this.registry] });
  private readonly sampledOut = new Counter({ name: 'shadowplane_ingest_sampled_out_total', help: 'Valid events left out by the target sampling rate.', registers: [this.registry] });
  /** Flush duration, by backend. */
  readonly flushDuration = new Histogram({ name: 'shadowplane_flush_duration_seconds', help: 'Time to write one flush to the Shadow Store.', labelNames: ['backend'], buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5], registers: [this.registry] });
  /** Window rows written. */
  readonly flushRows = new Counter({ name: 'shadowplane_flush_rows_total', help: 'Window rows written to the Shadow Store.', registers: [this.registry] });
  /** Flushes that failed (their closed windows are retried). */
  readonly flushFailures = new Counter({ name: 'shadowplane_flush_failures_total', help: 'Flushes that failed and will be retried.', registers: [this.registry] });
  /** Window writes the store refused, each quarantined (a window refused at several flushes counts each time). */
  readonly quarantined = new Counter({ name: 'shadowplane_store_quarantined_writes_total', help: 'Window writes the Shadow Store refused as invalid; each refused window is kept in the quarantine.', registers: [this.registry] });
  /** Windows deleted by compaction. */
  readonly compacted = new Counter({ name: 'shadowplane_compaction_deleted_windows_total', help: 'Windows deleted past their retention.', registers: [this.registry] });

  constructor(sources: GaugeSources) {
    collectDefaultMetrics({ register: this.registry, prefix: 'shadowplane_' });
    const fromStore = (name: string, help: string, read: () => Promise<number>) => new Gauge({
      name, help, registers: [this.registry],
      async collect() {
        try {
          this.set(await read());
        } catch (err) {
          this.remove();
          sources.onReadError?.(name, err as Error);
        }
      },
    });
    fromStore('shadowplane_series', 'Distinct series (target, dimension, key) in the Shadow Store.', () => sources.seriesCount());
    fromStore('shadowplane_store_size_bytes', 'Bytes the Shadow Store occupies.', () => sources.storeSizeBytes());
    fromStore('shadowplane_store_quarantine_windows', 'Windows kept in the quarantine (GET /v1/store/quarantine).', () => sources.quarantinedWindows());
    new Gauge({ name: 'shadowplane_open_windows', help: 'Windows open in memory.', registers: [this.registry], collect() { this.set(sources.openWindows()); } });
    for (const kind of ['event', 'sample']) this.accepted.inc({ kind }, 0);
  }

  onAccepted(kind: 'event' | 'sample', n: number): void {
    if (n > 0) this.accepted.inc({ kind }, n);
  }

  onRejected(kind: 'event' | 'sample', reason: RejectReason): void {
    this.rejected.inc({ kind, reason });
  }

  onSampledOut(n: number): void {
    this.sampledOut.inc(n);
  }
}
