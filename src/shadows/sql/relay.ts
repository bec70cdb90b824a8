/**
 * The byte path of the PostgreSQL interceptor, behind one contract with two engines: `native`
 * (native/pg_relay.c, an epoll thread in C) and `js` (node:net). A relay forwards every byte,
 * follows the message framing beside the copy, draws the sampling verdicts, and hands over only
 * the queries telemetry or the shadow mirror keep; parsing and events happen in PgProxy.
 */
import type { Clock } from '../../core/clock.js';

/** One finished query a relay kept. Holds SQL text and parameters: never sent as telemetry. */
export interface KeptQuery {
  /** `<connection prefix>-<sequence>`; the sampling verdict is keepSample(rate, requestId). */
  readonly requestId: string;
  /** The session's user from its startup message. */
  readonly user: string;
  readonly sql: string;
  /** Bind parameters as text (extended protocol), when the query was picked for mirroring. */
  readonly params?: readonly (string | null)[];
  /** Wall-clock ms when the query's message arrived. */
  readonly at: number;
  readonly latencyMs: number;
  readonly rows?: number;
  readonly bytes: number;
  /** SQLSTATE when it failed. */
  readonly error?: string;
  /** Whether telemetry sampling kept it. */
  readonly sampled: boolean;
  /** Whether it was pre-selected for the shadow mirror (at the mirror's largest rate). */
  readonly mirror: boolean;
  /**
   * The tap's: the probability telemetry kept this query with, when below 1 (carried on its events
   * so estimates weigh it right), and the share of time its capture window covers, when below 1
   * (its verdicts were drawn at rate / captureShare within the window).
   */
  readonly samplingRate?: number;
  readonly captureShare?: number;
}

/** Counters kept by the byte path (all since start). */
export interface RelayCounters {
  connections: number;
  active: number;
  queries: number;
  /** Extended-protocol executes the server skipped after an error in the same sync batch. */
  skippedAfterError: number;
  sslRefused: number;
  /** Sessions whose TLS the proxy terminated (js engine with a certificate). */
  tlsTerminated: number;
  cancelsForwarded: number;
  /** Connections whose framing could not be followed (still forwarded, no longer timed). */
  framingLost: number;
  /** Kept queries dropped because JavaScript fell 65,536 behind (native engine only). */
  backlogDropped: number;
  /** Clients closed at once because the process was out of file descriptors (native engine only). */
  refusedNoDescriptor: number;
  /** Clients closed because their startup packet was not complete within the startup timeout. */
  startupTimeouts: number;
}

/** Counters of a relay that has not started. */
export function zeroCounters(): RelayCounters {
  return {
    connections: 0, active: 0, queries: 0, skippedAfterError: 0, sslRefused: 0, tlsTerminated: 0,
    cancelsForwarded: 0, framingLost: 0, backlogDropped: 0, refusedNoDescriptor: 0, startupTimeouts: 0,
  };
}

/** Settings shared by both engines. */
export interface RelayOptions {
  upstreamHost: string;
  upstreamPort: number;
  /** Telemetry sampling rate in [0, 1]. */
  sampleRate: number;
  /** The mirror's largest rate in [0, 1] (0: no mirror); Bind parameters are kept only above 0. */
  mirrorRate: number;
  /**
   * A client that has not sent a complete startup packet (SSL negotiation and the startup
   * message) this many ms after connecting is closed; 0 never closes one.
   */
  startupTimeoutMs: number;
  /** Certificate and key (PEM) to terminate clients' TLS with; without them SSLRequest is refused. */
  tls?: TlsFiles;
  /** Receives each kept query once it has finished; must return quickly. */
  onQuery(query: KeptQuery): void;
  /** Time source of query times, latencies and the startup timeout (the native relay times in C). */
  clock: Clock;
}

/** A server certificate (chain) and its private key, PEM. */
export interface TlsFiles {
  cert: Buffer;
  key: Buffer;
}

/** A running byte path. */
export interface Relay {
  /** Starts accepting; resolves with the bound port. Rejects if the address is taken. */
  listen(port: number, host: string): Promise<number>;
  /** Rates for queries that start from now on. */
  setRates(sampleRate: number, mirrorRate: number): void;
  counters(): RelayCounters;
  /** Stops accepting, ends open sessions, and hands over the kept queries already finished. */
  close(): Promise<void>;
}
