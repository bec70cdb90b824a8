/**
 * The PostgreSQL interceptor: a v3 wire-protocol proxy. Its byte path is a Relay (relay.ts) — the
 * C engine (native-relay.ts) by default, the node:net engine (js-relay.ts) where the addon is not
 * built — which forwards everything and hands over only the queries telemetry or the shadow mirror
 * keep. Here those are parsed, in a setImmediate batch off the forwarding path, and reported.
 */
import { every, realClock, type Clock } from '../../core/clock.js';
import type { RequestEvent } from '../../model/event.js';
import { logger } from '../../obs/log.js';
import { extractMetadata, initParser, type Catalog, type StatementMeta } from './metadata.js';
import { normalise } from './normalize.js';
import { JsRelay } from './js-relay.js';
import { NativeRelay, nativeBinding } from './native-relay.js';
import type { KeptQuery, Relay, RelayCounters, TlsFiles } from './relay.js';

const log = logger('pg-proxy');

/** Something fed with a sample of successful queries and their metadata, e.g. the shadow mirror. */
export interface MirrorTap {
  /** Largest share of queries it may want (the proxy pre-selects that share by request id). */
  maxRate(): number;
  /** Receives one pre-selected query; must return at once (queue or drop, never block). */
  offer(query: KeptQuery, metas: readonly StatementMeta[]): void;
}

/** Where the events go: an EventSink or anything with the same `add`. */
export interface EventTarget {
  add(event: RequestEvent): void;
}

/** Settings of a PgProxy. */
export interface PgProxyOptions {
  upstreamHost: string;
  upstreamPort: number;
  /** Target name put on every event. */
  target: string;
  /** Telemetry sampling rate in [0, 1]; change it later with setSampleRate. */
  sampleRate: number;
  events: EventTarget;
  mirror?: MirrorTap;
  /** Column lists per table, to attribute unqualified columns in joins. */
  catalog?: Catalog;
  /** Byte path: `native` (C), `js` (node:net), or `auto` (native when built and no TLS, else js). Default auto. */
  engine?: ProxyEngine;
  /** Terminate clients' TLS with this certificate and key (js engine); without, SSLRequest is refused. */
  tls?: TlsFiles;
  /** Close a client whose startup packet is not complete this many ms after connecting (0: never). Default DEFAULT_STARTUP_TIMEOUT_MS. */
  startupTimeoutMs?: number;
  /** Time source (query times and latencies on the js engine, timeouts, the mirror-rate poll); default the wall clock. */
  clock?: Clock;
}

/** How long a client may take to send its startup packet unless told otherwise, ms (PostgreSQL's own authentication_timeout is 60 s). */
export const DEFAULT_STARTUP_TIMEOUT_MS = 10_000;

/** Which byte path a PgProxy uses. */
export type ProxyEngine = 'native' | 'js' | 'auto';

/** Counters of the parsing side of a proxy or tap (all since start). */
export interface ReportCounters {
  sampled: number;
  events: number;
  /** Sampled statements the parser rejected (forwarded untouched). */
  unparseable: number;
  /** Sampled statements with no table data (BEGIN, SET, DDL...): no event. */
  utility: number;
  mirrorOffered: number;
}

/** Counters of a PgProxy (all since start): the byte path's and the parsing side's. */
export interface ProxyStats extends RelayCounters, ReportCounters {}

/** What the admin API reports on and adjusts: a PgProxy or a PgTap. */
export interface SamplingSource {
  /** The byte source: `native` or `js` (a proxy's engine) or `tap`. */
  readonly engine: string;
  readonly stats: object;
  getSampleRate(): number;
  setSampleRate(rate: number): void;
  /** Hands the current rates (the mirror's too) to the byte source at once. */
  syncRates(): void;
}

/** Entries in each metadata cache (by text, by fingerprint). */
const METADATA_CACHE_SIZE = 2000;

/** How often the mirror's rate is re-read and handed to the byte path. */
export const MIRROR_RATE_POLL_MS = 100;

/** Settings of a QueryReporter. */
export interface ReporterOptions {
  /** Target name put on every event. */
  target: string;
  events: EventTarget;
  mirror?: MirrorTap;
  /** Column lists per table, to attribute unqualified columns in joins. */
  catalog?: Catalog;
}

/**
 * The parsing side shared by the proxy and the tap: kept queries are queued as their byte source
 * hands them over and parsed in a setImmediate batch, off the forwarding (or capture) path; each
 * becomes events and, when pre-selected, a mirror offer.
 */
export class QueryReporter {
  private readonly counts: ReportCounters = { sampled: 0, events: 0, unparseable: 0, utility: 0, mirrorOffered: 0 };
  private readonly work: KeptQuery[] = [];
  private scheduled = false;
  private readonly byText = new Map<string, StatementMeta[] | null>();
  private readonly byFingerprint = new Map<string, StatementMeta[] | null>();

  /**
   * `rate` reads the telemetry rate in force; each event carries it as `samplingRate`, so the
   * service weighs the event by the rate it was kept at, not by the target's.
   */
  constructor(private readonly options: ReporterOptions, private readonly rate: () => number) {}

  /** Counters since start. */
  get stats(): ReportCounters {
    return { ...this.counts };
  }

  /** Queues one finished kept query; it is parsed after the current I/O callbacks. */
  enqueue(query: KeptQuery): void {
    this.work.push(query);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.process());
    }
  }

  /** Parses and reports the queued queries now. */
  process(): void {
    this.scheduled = false;
    for (const query of this.work.splice(0)) {
      const metas = this.metadata(query.sql);
      if (metas === null) { if (query.sampled) this.counts.unparseable++; continue; }
      if (query.sampled) { this.counts.sampled++; this.report(query, metas); }
      if (query.mirror && query.error === undefined && this.options.mirror) {
        this.counts.mirrorOffered++;
        this.options.mirror.offer(query, metas);
      }
    }
  }
  /**
   * One event per table a statement touches (all with the query's request id, route and latency);
   * the first (main) table's event carries the query's bytes and rows so sums are not inflated.
   */
  private report(query: KeptQuery, metas: readonly StatementMeta[]): void {
    let first = true;
    // A rate set to 0 after this query was kept: the event goes without one (weight 1) rather than not at all.
    const liveRate = this.rate();
    const samplingRate = query.samplingRate ?? (liveRate > 0 ? liveRate : undefined);
    for (const meta of metas) {
      if (meta.op === undefined) { this.counts.utility++; continue; }
      const tables = meta.tables.length > 0 ? meta.tables : [undefined];
      for (const t of tables) {
        // Assigned field by field, not spread from conditional parts: this runs for every kept query.
        const event: RequestEvent = {
          target: this.options.target, op: t?.op ?? meta.op, route: meta.fingerprint, bytes: first ? query.bytes : 0,
          latencyMs: query.latencyMs, user: query.user, requestId: query.requestId, at: query.at,
        };
        if (t) { event.table = t.table; event.columns = t.columns.slice(); }
        if (first && query.rows !== undefined) event.rows = query.rows;
        if (query.error !== undefined) event.error = query.error;
        if (samplingRate !== undefined) event.samplingRate = samplingRate;
        first = false;
        this.counts.events++;
        this.options.events.add(event);
      }
    }
  }

  /**
   * Statement metadata, parsed once per fingerprint: statements that differ only in their literals
   * (most kept queries of a workload) share one parse, and no text with a literal value is kept.
   * Texts without literals are also remembered as they are, which spares them the normalising. A
   * text whose string or comment runs to its end is remembered by its own text only: it may not
   * parse where its fingerprint does.
   */
  private metadata(sql: string): StatementMeta[] | null {
    const known = this.byText.get(sql);
    if (known !== undefined) return known;
    const norm = normalise(sql);
    let metas = norm.complete ? this.byFingerprint.get(norm.fingerprint) : undefined;
    if (metas === undefined) {
      try {
        metas = extractMetadata(sql, this.options.catalog);
      } catch {
        metas = null;
      }
      if (norm.complete) remember(this.byFingerprint, norm.fingerprint, metas);
    }
    if (!norm.complete || norm.literals.length === 0) remember(this.byText, sql, metas);
    return metas;
  }
}

/**
 * The run-time telemetry rate of a proxy or tap; subclasses hand it to their byte source in
 * syncRates. With a mirror, its rate is re-read every MIRROR_RATE_POLL_MS of the clock's time.
 */
export abstract class RatedSource {
  protected sampleRate: number;
  private stopPoll?: () => void;

  constructor(sampleRate: number, protected readonly clock: Clock) {
    this.sampleRate = sampleRate;
  }

  /** Starts re-reading the mirror's rate (call once the byte source runs). */
  protected pollMirrorRate(): void {
    this.stopPoll = every(this.clock, MIRROR_RATE_POLL_MS, () => this.syncRates(), { background: true });
  }

  /** Stops re-reading the mirror's rate. */
  protected stopMirrorRatePoll(): void {
    this.stopPoll?.();
  }

  /** Changes the telemetry sampling rate (clamped to [0, 1]) for queries from now on. */
  setSampleRate(rate: number): void {
    this.sampleRate = Math.min(1, Math.max(0, rate));
    this.syncRates();
  }

  /** The current telemetry sampling rate. */
  getSampleRate(): number {
    return this.sampleRate;
  }

  /** Hands the current rates (the mirror's too) to the byte source at once. */
  abstract syncRates(): void;
}

/** The interceptor. `listen` starts it; `close` stops accepting and ends open sessions. */
export class PgProxy extends RatedSource implements SamplingSource {
  /** The byte path in use. */
  readonly engine: 'native' | 'js';
  private readonly reporter: QueryReporter;
  private readonly relay: Relay;

  constructor(private readonly options: PgProxyOptions) {
    super(options.sampleRate, options.clock ?? realClock);
    this.engine = chooseEngine(options.engine ?? 'auto', options.tls !== undefined);
    this.reporter = new QueryReporter(options, () => this.sampleRate);
    const relayOptions = {
      upstreamHost: options.upstreamHost, upstreamPort: options.upstreamPort,
      sampleRate: this.sampleRate, mirrorRate: options.mirror?.maxRate() ?? 0, tls: options.tls, onQuery: (q: KeptQuery) => this.reporter.enqueue(q),
      startupTimeoutMs: options.startupTimeoutMs ?? DEFAULT_STARTUP_TIMEOUT_MS, clock: this.clock,
    };
    this.relay = this.engine === 'native' ? new NativeRelay(relayOptions) : new JsRelay(relayOptions);
  }

  /** Counters since start. */
  get stats(): ProxyStats {
    return { ...this.relay.counters(), ...this.reporter.stats };
  }

  /** Starts listening; resolves with the bound port. Rejects if the address is taken. */
  async listen(port: number, host = '127.0.0.1'): Promise<number> {
    await initParser();
    const bound = await this.relay.listen(port, host);
    if (this.options.mirror) this.pollMirrorRate();
    return bound;
  }

  /** Hands the current rates to the byte path at once (the mirror's is also re-read every 100 ms). */
  syncRates(): void {
    this.relay.setRates(this.sampleRate, this.options.mirror?.maxRate() ?? 0);
  }

  /** Stops accepting, ends open sessions, and processes queries already completed. */
  async close(): Promise<void> {
    this.stopMirrorRatePoll();
    await this.relay.close();
    this.reporter.process();
  }
}

/** Bounded cache: cleared when full (workloads have far fewer distinct statements). */
function remember(cache: Map<string, StatementMeta[] | null>, key: string, metas: StatementMeta[] | null): void {
  if (cache.size >= METADATA_CACHE_SIZE) cache.clear();
  cache.set(key, metas);
}

/**
 * Resolves `auto`; a required native engine that is not built, or asked to terminate TLS, is an
 * error naming the fix.
 */
function chooseEngine(engine: ProxyEngine, tls: boolean): 'native' | 'js' {
  if (engine === 'js') return 'js';
  if (tls) {
    if (engine === 'native') throw new Error('the native engine does not terminate TLS: use --engine js (or auto) with a certificate');
    log.info('TLS termination: pg-proxy uses the node:net relay');
    return 'js';
  }
  const native = nativeBinding();
  if (!(native instanceof Error)) return 'native';
  if (engine === 'native') throw native;
  log.warn({ reason: native.message }, 'pg-proxy uses the node:net relay');
  return 'js';
}
