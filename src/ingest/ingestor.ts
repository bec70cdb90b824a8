/**
 * The ingest path, shared by the HTTP API and by in-process callers (interceptors, proxies, the
 * demo): validate each item, apply the target's sampling rate, pseudonymise the user, and add it
 * to the rollups. A bad item is rejected with its index, field and rule; the rest of the batch
 * goes on.
 */
import type { Clock } from '../core/clock.js';
import type { FieldProblem } from '../core/errors.js';
import { matches, problemsOf } from '../core/validation.js';
import type { RollupEngine, RollupEvent } from '../store/rollup.js';
import type { Pseudonymizer } from './pseudonym.js';
import { keepSample } from './sampler.js';
import { EventSchema, SampleSchema, seriesKey, type WireEvent, type WireSample } from './schemas.js';

/**
 * Where accepted items go: the rollup engine, or a batch published to the ingest stream
 * (stream.ts), whose replicas add them to theirs.
 */
export type RollupSink = Pick<RollupEngine, 'addEvent' | 'addSample'>;

/** Why an item was turned away (a closed set: it labels a metric). */
export type RejectReason = 'invalid' | 'unknown_target' | 'late' | 'future';

/** One rejected item of a batch. */
export interface Rejection {
  index: number;
  reason: RejectReason;
  problems: FieldProblem[];
}

/** What became of a batch. */
export interface IngestResult {
  /** Items added to the rollups. */
  accepted: number;
  /** Valid events left out by the target's sampling rate. */
  sampledOut: number;
  rejected: Rejection[];
}

/** Counters the service exposes as metrics. */
export interface IngestCounters {
  onAccepted(kind: 'event' | 'sample', n: number): void;
  onRejected(kind: 'event' | 'sample', reason: RejectReason): void;
  onSampledOut(n: number): void;
}

/**
 * What the ingest path needs of the managed targets (the target registry provides it): a known
 * target's sampling rate, looked up per item, and the creation of an unknown one when
 * `unknownTargets` is `create`.
 */
export interface IngestTargets {
  /** The target called `name`, or undefined. Synchronous: it is called for every item. */
  find(name: string): { readonly samplingRate: number } | undefined;
  /** Creates a target; the ingest path does not wait for it, and ignores a failure (another request may have created it). */
  create(name: string, spec: { kind: 'service' }): Promise<unknown>;
}

/** How the ingest path treats time and unknown targets. */
export interface IngestorOptions {
  maxFutureSkewMs: number;
  unknownTargets: 'reject' | 'create';
}

/** Validates, samples, pseudonymises and rolls up request events and metric samples. */
export class Ingestor {
  private readonly scratch: RollupEvent = { op: '', table: undefined, columns: undefined, route: undefined, user: undefined, bytes: 0, rows: undefined, latencyMs: 0, error: undefined, status: undefined, at: 0 };

  constructor(
    private readonly engine: RollupEngine,
    private readonly targets: IngestTargets,
    private readonly pseudonyms: Pseudonymizer,
    private readonly clock: Clock,
    private readonly options: IngestorOptions,
    private readonly counters?: IngestCounters,
  ) {}

  /** Ingests a batch of request events as received (unknown shape) into `sink` (default: the engine). Never throws for bad items. */
  ingestEvents(items: readonly unknown[], sink: RollupSink = this.engine): IngestResult {
    return this.ingestBatch('event', items, sink);
  }

  /** Ingests a batch of metric samples as received into `sink` (default: the engine). Never throws for bad items. */
  ingestSamples(items: readonly unknown[], sink: RollupSink = this.engine): IngestResult {
    return this.ingestBatch('sample', items, sink);
  }

  private ingestBatch(kind: 'event' | 'sample', items: readonly unknown[], sink: RollupSink): IngestResult {
    const result: IngestResult = { accepted: 0, sampledOut: 0, rejected: [] };
    for (let i = 0; i < items.length; i++) this.ingestLine(kind, items[i], i, result, sink);
    this.finish(kind, result);
    return result;
  }

  /**
   * Ingests one item parsed from an NDJSON line (or a JSON parse failure, given as an Error) into
   * a running result, adding it to `sink` (default: the engine); the HTTP NDJSON path calls this
   * line by line without building arrays.
   */
  ingestLine(kind: 'event' | 'sample', item: unknown, index: number, result: IngestResult, sink: RollupSink = this.engine): void {
    if (item instanceof Error) {
      this.reject(result, kind, index, 'invalid', [{ path: '/', message: `is not valid JSON: ${item.message}` }]);
    } else if (kind === 'event') {
      if (matches(EventSchema, item)) this.ingestOne(item, index, result, sink);
      else this.reject(result, kind, index, 'invalid', problemsOf(EventSchema, item));
    } else if (matches(SampleSchema, item)) {
      this.ingestSample(item, index, result, sink);
    } else {
      this.reject(result, kind, index, 'invalid', problemsOf(SampleSchema, item));
    }
  }

  /** Reports a finished line-by-line result to the counters. */
  finish(kind: 'event' | 'sample', result: IngestResult): void {
    this.count(kind, result);
  }

  private ingestOne(event: WireEvent, index: number, result: IngestResult, sink: RollupSink): void {
    const target = this.resolveTarget(event.target, index, result, 'event');
    if (target === undefined) return;
    const at = this.checkTime(event.at, index, result, 'event');
    if (at === undefined) return;
    if (!keepSample(target, event.requestId)) {
      result.sampledOut++;
      return;
    }
    // One scratch event, refilled per item: the engine reads its fields and keeps none of them,
    // and the HTTP path would otherwise allocate an object per event on top of JSON.parse's.
    const e = this.scratch;
    e.op = event.op;
    e.table = event.table;
    e.columns = event.columns;
    e.route = event.route;
    e.user = event.user === undefined ? undefined : this.pseudonyms.pseudonym(event.user);
    e.bytes = event.bytes;
    e.rows = event.rows;
    e.latencyMs = event.latencyMs;
    e.error = event.error;
    e.status = event.status;
    e.at = at;
    // Kept by the sender at its rate and again here at the target's: with the same hash verdict
    // an event survives both exactly when it survives the lower one, which is its weight.
    sink.addEvent(event.target, e, Math.min(target, event.samplingRate ?? 1));
    result.accepted++;
  }

  private ingestSample(sample: WireSample, index: number, result: IngestResult, sink: RollupSink): void {
    if (this.resolveTarget(sample.target, index, result, 'sample') === undefined) return;
    const at = this.checkTime(sample.at, index, result, 'sample');
    if (at === undefined) return;
    sink.addSample(sample.target, seriesKey(sample.metric, sample.labels), at, sample.value);
    result.accepted++;
  }

  /** The sampling rate of the target, creating it when so configured; undefined when rejected. */
  private resolveTarget(name: string, index: number, result: IngestResult, kind: 'event' | 'sample'): number | undefined {
    const target = this.targets.find(name);
    if (target) return target.samplingRate;
    if (this.options.unknownTargets === 'create') {
      this.targets.create(name, { kind: 'service' }).catch(() => undefined);
      return 1;
    }
    this.reject(result, kind, index, 'unknown_target', [{ path: '/target', message: `must name a declared target; "${name}" is not one` }]);
    return undefined;
  }

  /** The event time in ms, or undefined after rejecting an unparsable, late or future time. */
  private checkTime(raw: number | string, index: number, result: IngestResult, kind: 'event' | 'sample'): number | undefined {
    const at = typeof raw === 'number' ? Math.floor(raw) : Date.parse(raw);
    if (Number.isNaN(at)) {
      this.reject(result, kind, index, 'invalid', [{ path: '/at', message: 'must be ms since the epoch or an ISO-8601 date-time string' }]);
      return undefined;
    }
    if (at > this.clock.now() + this.options.maxFutureSkewMs) {
      this.reject(result, kind, index, 'future', [{ path: '/at', message: 'must not lie further in the future than ingest.maxFutureSkew' }]);
      return undefined;
    }
    if (!this.engine.accepts(at)) {
      this.reject(result, kind, index, 'late', [{ path: '/at', message: 'falls in a window that has closed already (older than store.lateness past its end)' }]);
      return undefined;
    }
    return at;
  }

  private reject(result: IngestResult, kind: 'event' | 'sample', index: number, reason: RejectReason, problems: FieldProblem[]): void {
    result.rejected.push({ index, reason, problems });
    this.counters?.onRejected(kind, reason);
  }

  private count(kind: 'event' | 'sample', result: IngestResult): void {
    this.counters?.onAccepted(kind, result.accepted);
    if (result.sampledOut > 0) this.counters?.onSampledOut(result.sampledOut);
  }
}
