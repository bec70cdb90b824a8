/**
 * What the stream service reports: per-partition figures of each window (arrivals, throughput,
 * utilisation, backlog, lag p99) and the events of its decisions with their evidence, both on the
 * injected clock.
 */
import type { Clock } from '../../core/clock.js';
import { quantile } from '../../core/quantile.js';
import { logger } from '../../obs/log.js';
import type { Partition, Routing } from './state.js';

const log = logger('stream');

/** Per-partition figures of one window. */
export interface PartitionWindow {
  readonly partition: number;
  readonly worker: number;
  /** Window end, clock ms. */
  readonly at: number;
  /** Records appended per second. */
  readonly arrivalRate: number;
  /** Records committed per second. */
  readonly throughput: number;
  /** arrivalRate / worker capacity. */
  readonly utilisation: number;
  /** Records appended and not yet committed. */
  readonly backlog: number;
  /** 99th percentile of append→commit latency of the records committed in the window (0 when none). */
  readonly lagP99Ms: number;
}

/** Something the service did, with its evidence, for the decision log and the benchmark. */
export interface StreamEvent {
  readonly at: number;
  readonly kind: 'shadow-created' | 'caught-up' | 'switched' | 'released' | 'failed-over' | 'worker-restarted' | 'fenced';
  readonly partition?: number;
  readonly worker?: number;
  readonly reason?: string;
  readonly evidence?: Record<string, unknown>;
}

/** What the timeline of the served target shows of a stream event: its kind, its partition and worker in words, its evidence. */
export function timelineReport(e: StreamEvent): { action: string; message: string; evidence: Record<string, unknown>; at: number } {
  const where = [e.partition !== undefined && `partition ${e.partition}`, e.worker !== undefined && `worker ${e.worker}`].filter(Boolean).join(' on ');
  return {
    action: e.kind, at: e.at,
    message: `${e.kind.replace(/-/g, ' ')}${where ? `: ${where}` : ''}${e.reason ? ` (${e.reason})` : ''}`,
    evidence: { ...e.evidence, ...(e.partition !== undefined ? { partition: e.partition } : {}), ...(e.worker !== undefined ? { worker: e.worker } : {}) },
  };
}

/** Stamps, logs and publishes the service's events. */
export class StreamEvents {
  private readonly listeners: ((e: StreamEvent) => void)[] = [];

  constructor(private readonly clock: Clock) {}

  /** Subscribes to every event. */
  on(fn: (e: StreamEvent) => void): void {
    this.listeners.push(fn);
  }

  /** Publishes `e` stamped with the clock's time. */
  emit(e: Omit<StreamEvent, 'at'>): void {
    const event = { at: this.clock.now(), ...e };
    log.info(event, `stream ${e.kind}`);
    for (const fn of this.listeners) fn(event);
  }
}

/**
 * Closes a window every `windowMs` of clock time: turns each partition's counters into its
 * figures, resets them and publishes the figures.
 */
export class WindowMeter {
  private readonly listeners: ((w: PartitionWindow[]) => void)[] = [];
  private cancel?: () => void;
  private start: number;
  private stopped = false;

  /** `capacity` is one worker's records per second; `afterClose` runs per partition once its window closed. */
  constructor(
    private readonly clock: Clock,
    private readonly windowMs: number,
    private readonly capacity: number,
    private readonly parts: readonly Partition[],
    private readonly routing: Routing,
    private readonly afterClose: (p: Partition) => void,
  ) {
    this.start = clock.now();
  }

  /** Subscribes to per-window figures. */
  on(fn: (w: PartitionWindow[]) => void): void {
    this.listeners.push(fn);
  }

  /** Starts closing windows. */
  run(): void {
    this.cancel = this.clock.setTimer(this.windowMs, () => {
      this.close();
      if (!this.stopped) this.run();
    });
  }

  /** Stops closing windows. */
  stop(): void {
    this.stopped = true;
    this.cancel?.();
  }

  private close(): void {
    const now = this.clock.now();
    const secs = Math.max(1e-3, (now - this.start) / 1000);
    this.start = now;
    const figures = this.parts.map((p) => {
      const w: PartitionWindow = {
        partition: p.id, worker: this.routing.ownerOf(p.id), at: now, arrivalRate: p.arrivals / secs, throughput: p.commits / secs,
        utilisation: p.arrivals / secs / this.capacity, backlog: p.end - p.committed, lagP99Ms: quantile(p.lags, 0.99, 0),
      };
      p.utilisation = w.utilisation;
      p.arrivals = 0;
      p.commits = 0;
      p.lags = [];
      this.afterClose(p);
      return w;
    });
    for (const fn of this.listeners) fn(figures);
  }
}
