/**
 * The PostgreSQL tap: the interceptor's sampling, metadata, events and mirror without being on the
 * data path. native/tap.c captures the server port's packets from an interface (AF_PACKET ring,
 * BPF filter), reassembles both directions of every TCP session and follows them with the relay's
 * own session code; only kept queries reach JavaScript, where the proxy's QueryReporter parses and
 * reports them. Latency comes from the packets' timestamps.
 */
import { realClock, type Clock } from '../../core/clock.js';
import { initParser } from './metadata.js';
import { loadAddon, toKept, type NativeQuery } from './native-relay.js';
import { QueryReporter, RatedSource, type ReportCounters, type ReporterOptions } from './proxy.js';

/** Counters of the capture side (all since start). */
export interface TapCounters {
  /** Queries seen (telemetry sampling draws from these). */
  queries: number;
  skippedAfterError: number;
  /** Sessions whose framing broke (followed again from the next provable boundary). */
  framingLost: number;
  /** Kept queries dropped because JavaScript fell 65,536 behind. */
  backlogDropped: number;
  /** Packets the tap read from its ring. */
  packets: number;
  /** Packets the kernel passed the filter, and those it dropped because the ring was full. */
  kernelPackets: number;
  kernelDrops: number;
  /** Packets captured shorter than they were (their bytes count as a gap). */
  truncated: number;
  sessions: number;
  active: number;
  /** Sessions already open when first seen (no SYN captured). */
  midstream: number;
  /** Sessions now waiting for a boundary the tap can prove (after a gap, or open before it started). */
  unsynced: number;
  /** Boundaries proven (sessions followed again). */
  resynced: number;
  /** Stream holes: bytes that were never captured. Nothing is reported across one. */
  gaps: number;
  /** Sessions that switched to TLS (or GSSAPI encryption): counted, not followed. */
  tlsSkipped: number;
  cancels: number;
  /** Replies that matched no open query after a boundary was taken (the session waits again). */
  mismatches: number;
  /** Executes of statements prepared before the tap followed the session: not reported (closed sessions only). */
  unknownStatement: number;
  /** Sessions not followed because 100,000 were already. */
  sessionsOverflow: number;
  /** Sessions on the port that did not start like PostgreSQL. */
  notPostgres: number;
  /** Capture windows opened (windowed capture; see docs/sql.md, "What a sampled tap sees"). */
  windows: number;
  /** Kept queries still open when their window's capture was switched off: not reported. */
  windowCut: number;
  /** Share of time since start the capture's gates covered (1 when continuous). */
  captureShare: number;
}

/** Counters of a PgTap: the capture side's and the parsing side's. */
export interface TapStats extends TapCounters, ReportCounters {}

/** Capture settings of native/tap.c. */
export interface CaptureOptions {
  interface: string;
  port: number;
  /** `pg` (default) or `http`. */
  protocol?: 'pg' | 'http';
  sampleRate: number;
  mirrorRate: number;
  ringBytes: number;
  blockBytes: number;
  /** Length of a capture window in ms; 0 captures continuously (see DEFAULT_WINDOW_MS). */
  windowMs: number;
  /** HTTP: the request-id header (its value is the sampling id when present). */
  idHeader?: string;
  /** HTTP: request and response bodies of mirrored exchanges are kept up to this size. */
  captureBytes?: number;
}

/** The addon native/tap.c; `R` is what one record looks like in the protocol started. */
export interface TapBinding<R = NativeQuery> {
  start(options: CaptureOptions, onRecords: (records: R[]) => void): { handle: unknown };
  setRates(handle: unknown, sampleRate: number, mirrorRate: number): void;
  stats(handle: unknown): TapCounters;
  stop(handle: unknown): { stats: TapCounters; queries: R[] };
}

/** Settings of a PgTap. */
export interface PgTapOptions extends ReporterOptions {
  /** Network interface to capture on (`lo` when clients and server share the host). */
  interface: string;
  /** The server's TCP port. */
  port: number;
  /** Telemetry sampling rate in [0, 1]. */
  sampleRate: number;
  /** Size of the kernel's packet ring in bytes (default 16 MiB) and of its blocks (default 1 MiB). */
  ringBytes?: number;
  blockBytes?: number;
  /** Time source of the mirror-rate poll; default the wall clock (the capture thread times queries in C). */
  clock?: Clock;
  /** Capture window length in ms (default DEFAULT_WINDOW_MS); 0 captures continuously at every rate. */
  windowMs?: number;
}

/**
 * Default length of a capture window. Below a rate of 25 % (the larger of the telemetry and mirror
 * rates) the tap captures only in windows of this length covering that share of time; see
 * docs/sql.md, "What a sampled tap sees".
 */
export const DEFAULT_WINDOW_MS = 50;

/** The compiled tap, or the reason it cannot be loaded. */
export function tapBinding<R = NativeQuery>(): TapBinding<R> | Error {
  return loadAddon<TapBinding<R>>('tap');
}

/** A passive PostgreSQL interceptor. `start` opens the capture (needs CAP_NET_RAW); `close` ends it. */
export class PgTap extends RatedSource {
  readonly engine = 'tap';
  private readonly reporter: QueryReporter;
  private handle: unknown;
  private final: TapCounters | undefined;

  constructor(private readonly options: PgTapOptions) {
    super(options.sampleRate, options.clock ?? realClock);
    this.reporter = new QueryReporter(options, () => this.sampleRate);
  }

  /**
   * Opens the capture. Rejects with the addon's error: code EPERM naming CAP_NET_RAW without the
   * capability, ENODEV for an unknown interface, or the reason the addon is not built.
   */
  async start(): Promise<void> {
    const native = tapBinding();
    if (native instanceof Error) throw native;
    await initParser();
    this.handle = native.start({
      interface: this.options.interface, port: this.options.port, protocol: 'pg', sampleRate: this.sampleRate,
      mirrorRate: this.options.mirror?.maxRate() ?? 0,
      ringBytes: this.options.ringBytes ?? 16 << 20, blockBytes: this.options.blockBytes ?? 1 << 20,
      windowMs: this.options.windowMs ?? DEFAULT_WINDOW_MS,
    }, (queries) => this.deliver(queries)).handle;
    if (this.options.mirror) this.pollMirrorRate();
  }

  /** Counters since start. */
  get stats(): TapStats {
    const capture = this.final ?? (this.handle === undefined ? undefined : (tapBinding() as TapBinding).stats(this.handle));
    return { ...(capture ?? zeroTapCounters()), ...this.reporter.stats };
  }

  /** Hands the current rates to the capture thread at once (the mirror's is also re-read every 100 ms). */
  syncRates(): void {
    if (this.handle !== undefined) (tapBinding() as TapBinding).setRates(this.handle, this.sampleRate, this.options.mirror?.maxRate() ?? 0);
  }

  /** Stops capturing and reports the queries already finished. */
  async close(): Promise<void> {
    this.stopMirrorRatePoll();
    if (this.handle === undefined) return;
    const { stats, queries } = (tapBinding() as TapBinding).stop(this.handle);
    this.handle = undefined;
    this.final = stats;
    this.deliver(queries);
    this.reporter.process();
  }

  private deliver(queries: NativeQuery[]): void {
    for (const q of queries) this.reporter.enqueue(toKept(q));
  }
}

/** Counters of a tap that has not started. */
export function zeroTapCounters(): TapCounters {
  return {
    queries: 0, skippedAfterError: 0, framingLost: 0, backlogDropped: 0, packets: 0, kernelPackets: 0, kernelDrops: 0,
    truncated: 0, sessions: 0, active: 0, midstream: 0, unsynced: 0, resynced: 0, gaps: 0, tlsSkipped: 0, cancels: 0,
    mismatches: 0, unknownStatement: 0, sessionsOverflow: 0, notPostgres: 0, windows: 0, windowCut: 0, captureShare: 0,
  };
}
