/**
 * The HTTP tap: the traffic proxy's telemetry, passive health, mirroring and response comparison
 * without being on the data path. native/tap.c (HTTP mode, native/http_track.c) captures the
 * primary's port on an interface, reassembles each connection, follows HTTP/1.1 framing
 * (Content-Length, chunked, keep-alive, pipelining) and hands over only kept exchanges: those
 * telemetry samples (keepSample on the request id, as the proxy draws it) and those pre-selected
 * for the mirror, with their bodies. Routing, events, mirror admission and comparison are the
 * TrafficProxy's own (it is built from the same configuration and never listens).
 */
import type http from 'node:http';
import type { RouteConfig } from './config.js';
import { stripHopByHop, shadowHost } from './http-util.js';
import type { TrafficProxy } from './proxy.js';
import { DEFAULT_WINDOW_MS, tapBinding, zeroTapCounters, type TapBinding, type TapCounters } from '../sql/tap.js';

/** One finished exchange as the addon hands it over. */
interface NativeExchange {
  requestId: string;
  /** The request head as sent (request line and headers). */
  sql: string;
  /** The request body (mirrored exchanges, within the capture limit). */
  bind?: Buffer;
  bodyOversized?: boolean;
  at: number;
  latencyMs: number;
  /** Request plus response body bytes. */
  bytes: number;
  status: number;
  sampled: boolean;
  mirror: boolean;
  /** The probability telemetry kept it with, when below 1 (windowed capture: the window's share times the in-window rate). */
  samplingRate?: number;
  /** Mirrored exchanges: the response head, and its body within the capture limit. */
  responseHead?: string;
  responseBody?: Buffer;
}

/** Counters of an HttpTap: the capture side's and what happened to the exchanges handed over. */
export interface HttpTapStats extends TapCounters {
  /** Exchanges handed over (sampled or pre-selected for the mirror). */
  exchanges: number;
  events: number;
  mirrored: number;
  /** Exchanges no route matched. */
  unrouted: number;
}

/** Settings of an HttpTap. */
export interface HttpTapOptions {
  interface: string;
  /** The primary's TCP port. */
  port: number;
  ringBytes?: number;
  blockBytes?: number;
  /** Capture window length in ms (default DEFAULT_WINDOW_MS); 0 captures continuously at every rate. */
  windowMs?: number;
}

/** Parses a request head: method, target and headers (lower-case names, repeated ones joined). */
function parseRequestHead(head: string): { method: string; url: string; headers: http.IncomingHttpHeaders } {
  const lines = head.split('\r\n');
  const [method = 'GET', url = '/'] = (lines[0] ?? '').split(' ');
  return { method, url, headers: parseHeaders(lines.slice(1)) };
}

function parseHeaders(lines: string[]): http.IncomingHttpHeaders {
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const name = line.slice(0, i).trim().toLowerCase();
    const value = line.slice(i + 1).trim();
    headers[name] = headers[name] !== undefined ? `${headers[name]}, ${value}` : value;
  }
  return headers;
}

/** The mirror's largest share over all routes (reads, or writes when enabled): the tap pre-selects at it. */
function mirrorRate(routes: readonly RouteConfig[]): number {
  let rate = 0;
  for (const r of routes) if (r.shadow) rate = Math.max(rate, r.mirror.fraction, r.mirror.writes.enabled ? r.mirror.writes.fraction : 0);
  return rate;
}

/** A passive HTTP interceptor for the routes of `proxy` (which it never starts listening). */
export class HttpTap {
  private handle: unknown;
  private final: TapCounters | undefined;
  private readonly counts = { exchanges: 0, events: 0, mirrored: 0, unrouted: 0 };
  private preselectedAt = 0;

  constructor(readonly proxy: TrafficProxy, private readonly options: HttpTapOptions) {}

  /** Opens the capture; rejects as PgTap.start does (EPERM naming CAP_NET_RAW, ENODEV, not built). */
  async start(): Promise<void> {
    const native = tapBinding<NativeExchange>();
    if (native instanceof Error) throw native;
    const routes = this.proxy.config.routes;
    this.preselectedAt = mirrorRate(routes);
    const control = this.proxy.config.control;
    this.handle = native.start({
      interface: this.options.interface, port: this.options.port, protocol: 'http',
      sampleRate: this.proxy.sink ? control!.sampleRate : 0, mirrorRate: this.preselectedAt,
      ringBytes: this.options.ringBytes ?? 16 << 20, blockBytes: this.options.blockBytes ?? 1 << 20,
      windowMs: this.options.windowMs ?? DEFAULT_WINDOW_MS,
      idHeader: control?.requestIdHeader ?? 'x-request-id',
      captureBytes: Math.max(0, ...routes.map((r) => Math.max(r.mirror.maxBodyBytes, r.compare.maxBodyBytes))),
    }, (records) => { for (const x of records) this.exchange(x); }).handle;
  }

  /** Counters since start. */
  get stats(): HttpTapStats {
    const capture = this.final ?? (this.handle === undefined ? undefined : (tapBinding() as TapBinding).stats(this.handle));
    return { ...(capture ?? zeroTapCounters()), ...this.counts };
  }

  /** Stops capturing; exchanges already finished are still handled. */
  async close(): Promise<void> {
    if (this.handle === undefined) return;
    const { stats, queries } = (tapBinding<NativeExchange>() as TapBinding<NativeExchange>).stop(this.handle);
    this.handle = undefined;
    this.final = stats;
    for (const x of queries) this.exchange(x);
  }

  /** One finished exchange: passive health, the event when sampled, the mirror when picked. */
  private exchange(x: NativeExchange): void {
    this.counts.exchanges++;
    const { method, url, headers } = parseRequestHead(x.sql);
    const route = this.proxy.router.match(headers.host, url);
    if (!route) { this.counts.unrouted++; return; }
    const failed = x.status >= 500;
    route.record(false, x.status, x.latencyMs, failed);
    if (x.sampled && this.proxy.sink) {
      this.counts.events++;
      this.proxy.emit({
        route, headers, method, url, requestId: x.requestId, status: x.status, error: failed ? `http_${x.status}` : undefined,
        bytes: x.bytes, latencyMs: x.latencyMs, at: x.at, samplingRate: x.samplingRate,
      });
    }
    if (!x.mirror || !route.mirror || !route.shadow) return;
    const ticket = route.mirror.admit(method, x.bind?.length ?? 0, this.preselectedAt);
    if (!ticket) return;
    if (x.bodyOversized) { ticket.cancel('oversized'); return; }
    this.counts.mirrored++;
    const compare = route.cfg.compare;
    const comparing = compare.enabled;
    const forwarded = stripHopByHop(headers);
    const mirrorHeaders = route.cfg.mirror.shadowHostSuffix && headers.host ? { ...forwarded, host: shadowHost(headers.host) } : forwarded;
    const secondary = comparing && route.cfg.mirror.methods.includes(method) ? route.secondary : undefined;
    const mirrored = { method, path: url, headers: mirrorHeaders, body: x.bind?.length ? x.bind : undefined };
    const result = ticket.send(mirrored, comparing ? compare.maxBodyBytes : 0, secondary);
    if (comparing) {
      const lines = (x.responseHead ?? '').split('\r\n');
      this.proxy.judgeMirror(route, { status: x.status, headers: parseHeaders(lines.slice(1)), body: x.responseBody }, result);
    }
  }
}
