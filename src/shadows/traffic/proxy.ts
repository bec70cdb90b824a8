/**
 * The data path: an HTTP/1.1 reverse proxy on plain node:http. Streams bodies, keeps upstream
 * connections alive, removes hop-by-hop headers, adds X-Forwarded-*, answers 502/504 with a clear
 * body, routes by host and path prefix between primary and shadow, mirrors fire and forget and
 * compares mirrored answers after the client has its response. Configuration changes swap the
 * route table in place: open connections and requests in flight are untouched.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { realClock, type Clock } from '../../core/clock.js';
import { ShadowplaneError } from '../../core/errors.js';
import type { RequestEvent } from '../../model/event.js';
import { logger } from '../../obs/log.js';
import type { CapturedResponse } from './compare.js';
import { splitHostPort, validate, ProxyConfigSchema, type ProxyConfig, type RouteConfig } from './config.js';
import { errorKind, forwardHeaders, isReadMethod, shadowHost, stripHopByHop, timeoutError } from './http-util.js';
import type { MirrorTicket } from './mirror.js';
import { RouteRuntime, Router } from './route.js';
import { ProxyMetrics } from './stats.js';
import { EventSink } from './telemetry.js';
import { migrationReport } from './timeline.js';
import { TimelineReporter } from '../timeline.js';
import { Upstream } from './upstream.js';

const log = logger('traffic.proxy');

/** One sampled exchange, as its request event is built: what was asked, how it was answered, when. */
export interface SampledExchange {
  readonly route: RouteRuntime;
  /** The client's request headers (the user is read from them). */
  readonly headers: http.IncomingHttpHeaders;
  readonly method: string;
  readonly url: string;
  readonly requestId: string;
  readonly status: number;
  /** Why it failed (`upstream_<kind>`, `http_<status>`), when it did. */
  readonly error?: string;
  /** Request plus response body bytes. */
  readonly bytes: number;
  readonly latencyMs: number;
  /** When the request arrived, clock ms. */
  readonly at: number;
  /** The probability it was kept with, when that is not the configured rate (a tap's capture windows). */
  readonly samplingRate?: number;
}

/** A routed request as the proxy handles it. */
interface Exchange {
  readonly req: http.IncomingMessage;
  readonly route: RouteRuntime;
  readonly method: string;
  readonly url: string;
  /** The headers forwarded upstream. */
  readonly headers: http.OutgoingHttpHeaders;
  readonly requestId: string | undefined;
  readonly sampled: boolean;
  readonly byShadow: boolean;
  readonly upstream: Upstream;
  /** The request body's declared length: 0 none, -1 chunked. */
  readonly declared: number;
}

/** The upstream's answer, filled in as it streams. */
interface Answer {
  /** 0 until the upstream answered (or failed). */
  status: number;
  failed: boolean;
  transportError?: string;
  resBytes: number;
  captured?: CapturedResponse;
}

/** The mirror of one request, while it runs. */
interface MirrorRun {
  readonly comparing: boolean;
  launchBodyless?: () => void;
  result?: Promise<{ shadow?: CapturedResponse; secondary?: CapturedResponse }>;
}

function plain(res: http.ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text), 'x-shadowplane-error': String(status) });
  res.end(text);
}

/**
 * The proxy process's data plane. Construct with a validated config (`validate(ProxyConfigSchema, …)`),
 * then `listen()`. `setRoutes` validates and applies a new route list atomically; it throws
 * SHADOWPLANE_ERR_CONFIG_INVALID and leaves the old routes in place when the list is bad.
 */
export class TrafficProxy {
  readonly metrics = new ProxyMetrics();
  readonly router = new Router();
  readonly server: http.Server;
  readonly sink: EventSink | undefined;
  /** The target's timeline, told of every migration event, when telemetry goes to a service. */
  readonly timeline: TimelineReporter | undefined;
  private readonly upstreams = new Map<string, Upstream>();
  private readonly routesByName = new Map<string, RouteRuntime>();
  private readonly ridHeader: string;
  private readonly userHeader: string | undefined;

  /** `serviceToken` is the control plane's bearer token, sent with telemetry when it has one. */
  constructor(readonly config: ProxyConfig, readonly clock: Clock = realClock, serviceToken?: string) {
    const control = config.control;
    this.sink = control ? new EventSink(control, this.metrics.events, clock, serviceToken) : undefined;
    this.timeline = control ? new TimelineReporter({ url: control.url, target: control.target, component: control.name, kind: 'traffic', token: serviceToken, log }) : undefined;
    this.ridHeader = (config.control?.requestIdHeader ?? 'x-request-id').toLowerCase();
    this.userHeader = config.control?.userHeader?.toLowerCase();
    this.server = http.createServer({ keepAliveTimeout: config.keepAliveTimeoutMs }, (req, res) => this.handle(req, res));
    this.server.on('clientError', (err, socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      else socket.destroy(err);
    });
    this.applyRoutes(config.routes);
  }

  /** Starts listening on `config.listen`; rejects with SHADOWPLANE_ERR_PROXY_LISTEN when it cannot. */
  listen(): Promise<AddressInfo> {
    const { host, port } = splitHostPort(this.config.listen);
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(new ShadowplaneError('SHADOWPLANE_ERR_PROXY_LISTEN', `cannot listen on ${this.config.listen}: ${err.message}`));
      this.server.once('error', onError);
      this.server.listen(port, host, () => {
        this.server.off('error', onError);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  /** Validates and applies a whole route list (names kept keep their state). */
  setRoutes(routes: unknown): RouteConfig[] {
    const valid = validate(ProxyConfigSchema, { ...this.config, routes }).routes;
    this.applyRoutes(valid);
    return valid;
  }

  /** Validates and applies one route, adding it or replacing the one of the same name. */
  upsertRoute(route: unknown): RouteConfig {
    const others = this.routes().map((r) => r.cfg).filter((c) => c.name !== (route as { name?: unknown })?.name);
    const valid = this.setRoutes([...others, route]);
    return valid[valid.length - 1]!;
  }

  /** Removes a route; false when there was none of that name. */
  removeRoute(name: string): boolean {
    if (!this.routesByName.has(name)) return false;
    this.applyRoutes(this.routes().map((r) => r.cfg).filter((c) => c.name !== name));
    return true;
  }

  /** The routes, most specific first. */
  routes(): readonly RouteRuntime[] {
    return this.router.list();
  }

  /** One route by name. */
  route(name: string): RouteRuntime | undefined {
    return this.routesByName.get(name);
  }

  /** Every upstream in use, for health views. */
  upstreamList(): Upstream[] {
    return [...this.upstreams.values()];
  }

  private applyRoutes(routes: RouteConfig[]): void {
    const next = new Map<string, RouteRuntime>();
    for (const cfg of routes) {
      const existing = this.routesByName.get(cfg.name);
      if (existing) existing.update(cfg);
      next.set(cfg.name, existing ?? new RouteRuntime(cfg, (o) => this.upstream(o), this.metrics, this.clock, (m, r) => {
        const report = migrationReport(m, r);
        if (report) this.timeline?.report(report);
      }));
    }
    for (const [name, r] of this.routesByName) if (!next.has(name)) r.close();
    this.routesByName.clear();
    for (const [k, v] of next) this.routesByName.set(k, v);
    this.router.set([...next.values()]);
    this.config.routes = routes;
  }

  private upstream(origin: string): Upstream {
    let u = this.upstreams.get(origin);
    if (!u) {
      u = new Upstream(origin, this.config.maxSocketsPerUpstream, this.clock);
      this.upstreams.set(origin, u);
    }
    return u;
  }

  /** One client request: route it, mirror it, forward it, and account for it once the client's response closes. */
  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const started = this.clock.monotonic();
    const url = req.url ?? '/';
    const route = this.router.match(req.headers.host, url);
    if (!route) {
      plain(res, 404, `no route for host "${req.headers.host ?? ''}" and path "${url.split('?')[0]}"\n`);
      return;
    }
    const ex = this.toExchange(req, route, url);
    const mirror = this.startMirror(ex);
    const answer: Answer = { status: 0, failed: false, resBytes: 0 };
    const preq = this.forward(ex, res, answer, mirror.comparing);
    // The mirror goes out after the primary request, so the primary's bytes are written first.
    mirror.launchBodyless?.();
    res.on('close', () => this.finish(ex, res, preq, answer, mirror, this.clock.monotonic() - started));
  }

  /** What a routed request is: its upstream, its forwarded headers, its request id and whether it is sampled. */
  private toExchange(req: http.IncomingMessage, route: RouteRuntime, url: string): Exchange {
    const method = req.method ?? 'GET';
    const headers = forwardHeaders(req);
    let requestId: string | undefined;
    let sampled = false;
    if (this.sink) {
      const given = req.headers[this.ridHeader];
      requestId = typeof given === 'string' && given ? given : randomUUID();
      if (!given) headers[this.ridHeader] = requestId;
      sampled = this.sink.sampled(requestId);
    }
    const byShadow = route.servedByShadow(req);
    const lengthHeader = req.headers['content-length'];
    const declared = lengthHeader !== undefined ? Number(lengthHeader) : req.headers['transfer-encoding'] ? -1 : 0;
    return { req, route, method, url, headers, requestId, sampled, byShadow, upstream: byShadow ? route.shadow! : route.primary, declared };
  }

  /**
   * Mirroring, for primary-served requests the mirror admits; never awaited here. A request with a
   * body is mirrored once its body is in (within the mirror's size limit); a bodyless one by
   * `launchBodyless`, which the caller runs after sending the primary request.
   */
  private startMirror(ex: Exchange): MirrorRun {
    const { req, route, method, url, headers } = ex;
    let ticket: MirrorTicket | undefined = !ex.byShadow && route.mirror ? route.mirror.admit(method, Math.max(0, ex.declared)) : undefined;
    const compareCfg = route.cfg.compare;
    const run: MirrorRun = { comparing: ticket !== undefined && compareCfg.enabled };
    if (!ticket) return run;
    const mirrorHeaders = route.cfg.mirror.shadowHostSuffix && req.headers.host ? { ...headers, host: shadowHost(req.headers.host) } : headers;
    const secondary = run.comparing && route.cfg.mirror.methods.includes(method) ? route.secondary : undefined;
    const launch = (body: Buffer | undefined) => {
      run.result = ticket!.send({ method, path: url, headers: mirrorHeaders, body }, run.comparing ? compareCfg.maxBodyBytes : 0, secondary);
      ticket = undefined;
    };
    if (ex.declared === 0) {
      run.launchBodyless = () => launch(undefined);
      return run;
    }
    const limit = route.cfg.mirror.maxBodyBytes;
    let chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      if (!ticket) return;
      size += c.length;
      if (size > limit) {
        ticket.cancel('oversized');
        ticket = undefined;
        chunks = [];
      } else chunks.push(c);
    });
    req.on('end', () => {
      if (ticket) launch(Buffer.concat(chunks));
    });
    req.on('close', () => {
      if (ticket && !req.complete) {
        ticket.cancel('aborted');
        ticket = undefined;
      }
    });
    return run;
  }

  /**
   * Sends the request to its upstream and streams the answer back to the client, filling in
   * `answer` (and capturing its body when `comparing`); an upstream failure is answered 502/504.
   */
  private forward(ex: Exchange, res: http.ServerResponse, answer: Answer, comparing: boolean): http.ClientRequest {
    const { req, route, upstream } = ex;
    const timeoutMs = this.config.upstreamTimeoutMs;
    const preq = http.request({
      host: upstream.hostname, port: upstream.port, method: ex.method, path: ex.url, headers: ex.headers, agent: upstream.agent, timeout: timeoutMs,
    });
    preq.on('timeout', () => preq.destroy(timeoutError('upstream', timeoutMs)));
    preq.on('response', (pres) => {
      answer.status = pres.statusCode ?? 502;
      answer.failed = answer.status >= 500;
      res.writeHead(answer.status, pres.statusMessage, stripHopByHop(pres.headers));
      const countBytes = ex.sampled && pres.headers['content-length'] === undefined;
      if (!countBytes) answer.resBytes = Number(pres.headers['content-length'] ?? 0);
      if (comparing || countBytes) {
        const keep = comparing ? route.cfg.compare.maxBodyBytes : 0;
        const chunks: Buffer[] = [];
        let size = 0;
        pres.on('data', (c: Buffer) => {
          size += c.length;
          if (size <= keep) chunks.push(c);
        });
        pres.on('end', () => {
          if (countBytes) answer.resBytes = size;
          if (comparing) answer.captured = { status: answer.status, headers: pres.headers, body: size <= keep ? Buffer.concat(chunks) : undefined };
        });
      }
      pres.on('error', () => res.destroy());
      pres.pipe(res);
    });
    preq.on('error', (err) => {
      const kind = errorKind(err);
      answer.failed = true;
      answer.transportError = kind;
      const which = ex.byShadow ? 'shadow' : 'primary';
      this.metrics.upstreamErrors.inc({ route: route.name, upstream: which, kind });
      if (res.headersSent) {
        res.destroy();
        return;
      }
      answer.status = kind === 'timeout' ? 504 : 502;
      if (!res.destroyed) {
        plain(res, answer.status, kind === 'timeout'
          ? `upstream timeout: the ${which} of route "${route.name}" (${upstream.origin}) did not answer within ${timeoutMs} ms\n`
          : `bad gateway: the ${which} of route "${route.name}" (${upstream.origin}) failed: ${kind} (${(err as { code?: string }).code ?? err.message})\n`);
      }
    });
    // Bodyless requests (most reads) skip stream piping: end the upstream request at once.
    if (ex.declared === 0) {
      preq.end();
      req.resume();
    } else req.pipe(preq);
    return preq;
  }

  /** Once the client's response closed: passive health, the request event when sampled, the comparison when mirrored. */
  private finish(ex: Exchange, res: http.ServerResponse, preq: http.ClientRequest, answer: Answer, mirror: MirrorRun, latencyMs: number): void {
    const { route } = ex;
    const { status } = answer;
    if (!res.writableFinished) {
      // The client went away: stop the upstream request too, and do not judge the upstream by it.
      this.metrics.clientAborts.inc({ route: route.name });
      preq.destroy();
      if (status === 0) return;
    }
    route.record(ex.byShadow, status || 502, latencyMs, answer.failed);
    if (ex.sampled) {
      this.emit({
        route, headers: ex.req.headers, method: ex.method, url: ex.url, requestId: ex.requestId!, status,
        error: answer.transportError ? `upstream_${answer.transportError}` : answer.failed ? `http_${status}` : undefined,
        bytes: Math.max(0, ex.declared) + answer.resBytes, latencyMs, at: this.clock.now() - latencyMs,
      });
    }
    if (mirror.comparing && mirror.result && answer.captured) this.judgeMirror(route, answer.captured, mirror.result);
  }

  /**
   * Compares a mirrored request's answers once the shadow's is in (off the request path). A failed
   * primary answer is no reference: the shadow is not judged against it.
   */
  judgeMirror(route: RouteRuntime, primary: CapturedResponse, mirrorResult: Promise<{ shadow?: CapturedResponse; secondary?: CapturedResponse }>): void {
    if (primary.status >= 500) {
      this.metrics.comparisons.inc({ route: route.name, result: 'skipped_primary_error' });
      return;
    }
    void mirrorResult.then((m) => {
      if (m.shadow) setImmediate(() => route.compare(primary, m.shadow!, m.secondary));
      else this.metrics.comparisons.inc({ route: route.name, result: 'skipped_no_shadow_answer' });
    });
  }

  /** Sends one (already sampled) exchange to the control plane as a request event. */
  emit(x: SampledExchange): void {
    const { route, method, url } = x;
    const ev: RequestEvent = {
      target: this.config.control!.target,
      op: isReadMethod(method) ? 'read' : 'write',
      route: `${method} ${route.template(url)}`,
      bytes: x.bytes,
      latencyMs: Math.round(x.latencyMs * 1000) / 1000,
      status: x.status,
      requestId: x.requestId,
      samplingRate: x.samplingRate ?? this.config.control!.sampleRate,
      at: Math.round(x.at),
    };
    if (x.error) ev.error = x.error;
    const user = this.userHeader ? x.headers[this.userHeader] : undefined;
    if (typeof user === 'string' && user) ev.user = user;
    this.sink!.offer(ev);
  }

  /** Stops accepting, waits for open requests up to `graceMs`, flushes telemetry and closes pools. */
  async close(graceMs = 2000): Promise<void> {
    await new Promise<void>((resolve) => {
      const cancel = this.clock.setTimer(graceMs, () => {
        this.server.closeAllConnections();
        resolve();
      });
      this.server.close(() => {
        cancel();
        resolve();
      });
      this.server.closeIdleConnections();
    });
    for (const r of this.routesByName.values()) r.close();
    await Promise.all([this.sink?.drain(), this.timeline?.flush()]);
    this.sink?.close();
    for (const u of this.upstreams.values()) u.close();
    log.info('proxy closed');
  }
}
