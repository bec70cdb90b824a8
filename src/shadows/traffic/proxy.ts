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
import { Upstream } from './upstream.js';

const log = logger('traffic.proxy');

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
  private readonly upstreams = new Map<string, Upstream>();
  private readonly routesByName = new Map<string, RouteRuntime>();
  private readonly ridHeader: string;
  private readonly userHeader: string | undefined;

  constructor(readonly config: ProxyConfig, readonly clock: Clock = realClock) {
    this.sink = config.control ? new EventSink(config.control, this.metrics.events) : undefined;
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
      next.set(cfg.name, existing ?? new RouteRuntime(cfg, (o) => this.upstream(o), this.metrics, this.clock));
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

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const started = performance.now();
    const url = req.url ?? '/';
    const route = this.router.match(req.headers.host, url);
    if (!route) {
      plain(res, 404, `no route for host "${req.headers.host ?? ''}" and path "${url.split('?')[0]}"\n`);
      return;
    }
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
    const upstream = byShadow ? route.shadow! : route.primary;
    const lengthHeader = req.headers['content-length'];
    const declared = lengthHeader !== undefined ? Number(lengthHeader) : req.headers['transfer-encoding'] ? -1 : 0;

    // Mirroring: taken only for primary-served requests; never awaited here.
    let ticket: MirrorTicket | undefined = !byShadow && route.mirror ? route.mirror.admit(method, Math.max(0, declared)) : undefined;
    const compareCfg = route.cfg.compare;
    const comparing = ticket !== undefined && compareCfg.enabled;
    let mirrorResult: Promise<{ shadow?: CapturedResponse; secondary?: CapturedResponse }> | undefined;
    let launchBodyless: (() => void) | undefined;
    if (ticket) {
      const mirrorHeaders = route.cfg.mirror.shadowHostSuffix && req.headers.host ? { ...headers, host: shadowHost(req.headers.host) } : headers;
      const secondary = comparing && route.cfg.mirror.methods.includes(method) ? route.secondary : undefined;
      const launch = (body: Buffer | undefined) => {
        mirrorResult = ticket!.send({ method, path: url, headers: mirrorHeaders, body }, comparing ? compareCfg.maxBodyBytes : 0, secondary);
        ticket = undefined;
      };
      if (declared === 0) launchBodyless = () => launch(undefined);
      else {
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
      }
    }

    let status = 0;
    let failed = false;
    let transportError: string | undefined;
    let resBytes = 0;
    let captured: CapturedResponse | undefined;
    const preq = http.request({ host: upstream.hostname, port: upstream.port, method, path: url, headers, agent: upstream.agent, timeout: this.config.upstreamTimeoutMs });
    preq.on('timeout', () => preq.destroy(timeoutError('upstream', this.config.upstreamTimeoutMs)));
    preq.on('response', (pres) => {
      status = pres.statusCode ?? 502;
      failed = status >= 500;
      res.writeHead(status, pres.statusMessage, stripHopByHop(pres.headers));
      const countBytes = sampled && pres.headers['content-length'] === undefined;
      if (!countBytes) resBytes = Number(pres.headers['content-length'] ?? 0);
      if (comparing || countBytes) {
        const keep = comparing ? compareCfg.maxBodyBytes : 0;
        const chunks: Buffer[] = [];
        let size = 0;
        pres.on('data', (c: Buffer) => {
          size += c.length;
          if (size <= keep) chunks.push(c);
        });
        pres.on('end', () => {
          if (countBytes) resBytes = size;
          if (comparing) captured = { status, headers: pres.headers, body: size <= keep ? Buffer.concat(chunks) : undefined };
        });
      }
      pres.on('error', () => res.destroy());
      pres.pipe(res);
    });
    preq.on('error', (err) => {
      const kind = errorKind(err);
      failed = true;
      transportError = kind;
      const which = byShadow ? 'shadow' : 'primary';
      this.metrics.upstreamErrors.inc({ route: route.name, upstream: which, kind });
      if (res.headersSent) {
        res.destroy();
        return;
      }
      status = kind === 'timeout' ? 504 : 502;
      if (!res.destroyed) {
        plain(res, status, kind === 'timeout'
          ? `upstream timeout: the ${which} of route "${route.name}" (${upstream.origin}) did not answer within ${this.config.upstreamTimeoutMs} ms\n`
          : `bad gateway: the ${which} of route "${route.name}" (${upstream.origin}) failed: ${kind} (${(err as { code?: string }).code ?? err.message})\n`);
      }
    });
    // Bodyless requests (most reads) skip stream piping: end the upstream request at once.
    if (declared === 0) {
      preq.end();
      req.resume();
    } else req.pipe(preq);
    // The mirror goes out after the primary request, so the primary's bytes are written first.
    launchBodyless?.();

    res.on('close', () => {
      const latencyMs = performance.now() - started;
      if (!res.writableFinished) {
        // The client went away: stop the upstream request too, and do not judge the upstream by it.
        this.metrics.clientAborts.inc({ route: route.name });
        preq.destroy();
        if (status === 0) return;
      }
      route.record(byShadow, status || 502, latencyMs, failed);
      if (sampled) this.emit(route, req.headers, method, url, requestId!, status, transportError ? `upstream_${transportError}` : failed ? `http_${status}` : undefined, Math.max(0, declared) + resBytes, latencyMs, Date.now() - latencyMs);
      if (comparing && mirrorResult && captured) this.judgeMirror(route, captured, mirrorResult);
    });
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

  /**
   * Sends one (already sampled) request event to the control plane; `headers` give the user.
   * `samplingRate` is the probability it was kept with when that is not the configured rate (a tap's windows).
   */
  emit(route: RouteRuntime, headers: http.IncomingHttpHeaders, method: string, url: string, requestId: string, status: number, error: string | undefined, bytes: number, latencyMs: number, at: number, samplingRate?: number): void {
    const ev: RequestEvent = {
      target: this.config.control!.target,
      op: isReadMethod(method) ? 'read' : 'write',
      route: `${method} ${route.template(url)}`,
      bytes,
      latencyMs: Math.round(latencyMs * 1000) / 1000,
      status,
      requestId,
      samplingRate: samplingRate ?? this.config.control!.sampleRate,
      at: Math.round(at),
    };
    if (error) ev.error = error;
    const user = this.userHeader ? headers[this.userHeader] : undefined;
    if (typeof user === 'string' && user) ev.user = user;
    this.sink!.offer(ev);
  }

  /** Stops accepting, waits for open requests up to `graceMs`, flushes telemetry and closes pools. */
  async close(graceMs = 2000): Promise<void> {
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        this.server.closeAllConnections();
        resolve();
      }, graceMs);
      this.server.close(() => {
        clearTimeout(t);
        resolve();
      });
      this.server.closeIdleConnections();
    });
    for (const r of this.routesByName.values()) r.close();
    await this.sink?.drain();
    this.sink?.close();
    for (const u of this.upstreams.values()) u.close();
    log.info('proxy closed');
  }
}
