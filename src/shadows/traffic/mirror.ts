/**
 * Mirroring to the shadow, fire and forget: admission (sampling, write rate limit, in-flight
 * bound, breaker, health), the mirror request itself with a short timeout, and an outcome counter
 * for every mirror that is dropped, times out or is refused. Nothing here can delay or fail the
 * primary request: callers never await a mirror on the request path.
 */
import http from 'node:http';
import type { OutgoingHttpHeaders } from 'node:http';
import type { Clock } from '../../core/clock.js';
import type { CapturedResponse } from './compare.js';
import type { MirrorConfig } from './config.js';
import { errorKind, timeoutError } from './http-util.js';
import type { Counter } from 'prom-client';
import { bind, type BoundCounter } from './stats.js';
import { Breaker, type Upstream } from './upstream.js';

/** Every counted mirror outcome. */
export const MIRROR_OUTCOMES = [
  'sent', 'ok', 'shadow_5xx', 'timeout', 'refused', 'reset', 'error', 'dropped_inflight', 'dropped_rate',
  'oversized', 'breaker_open', 'unhealthy', 'aborted',
] as const;
export type MirrorOutcome = (typeof MIRROR_OUTCOMES)[number];

/** What to send: method, path, headers (already forwarded), and the body when there is one. */
export interface MirrorRequest {
  method: string;
  path: string;
  headers: OutgoingHttpHeaders;
  body: Buffer | undefined;
}

/**
 * Sends one request to `upstream` and resolves with its answer (body kept up to `captureBytes`,
 * undefined beyond it or when 0), or rejects with the transport error (code SHADOWPLANE_TIMEOUT
 * when no byte arrived for `timeoutMs`).
 */
export function sendOnce(upstream: Upstream, r: MirrorRequest, timeoutMs: number, captureBytes: number): Promise<CapturedResponse> {
  return new Promise((resolve, reject) => {
    const headers = { ...r.headers };
    if (r.body) headers['content-length'] = String(r.body.length);
    else if (r.method !== 'GET' && r.method !== 'HEAD') headers['content-length'] = '0';
    const options = { host: upstream.hostname, port: upstream.port, method: r.method, path: r.path, headers, agent: upstream.agent, timeout: timeoutMs };
    const req = http.request(options, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let kept = captureBytes > 0;
      res.on('data', (c: Buffer) => {
        if (!kept) return;
        size += c.length;
        if (size > captureBytes) {
          kept = false;
          chunks.length = 0;
        } else chunks.push(c);
      });
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: kept ? Buffer.concat(chunks) : undefined }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(timeoutError('mirror', timeoutMs)));
    req.on('error', reject);
    req.end(r.body);
  });
}

/** A taken mirror slot. Exactly one of `send` or `cancel` must be called. */
export interface MirrorTicket {
  /** Sends to the shadow (and to the secondary primary when given); never rejects. */
  send(r: MirrorRequest, captureBytes: number, secondary?: Upstream): Promise<{ shadow?: CapturedResponse; secondary?: CapturedResponse }>;
  /** Gives the slot back without sending, counting `reason`. */
  cancel(reason: 'oversized' | 'aborted'): void;
}

/** The mirror of one route. Settings can change at runtime (`configure`) without losing state. */
export class Mirror {
  inFlight = 0;
  readonly breaker: Breaker;
  private tokens: number;
  private lastRefill: number;
  private readonly outcomes: Record<MirrorOutcome, BoundCounter>;

  constructor(
    private cfg: MirrorConfig,
    private shadow: Upstream,
    counter: Counter,
    route: string,
    private readonly clock: Clock,
    private readonly onInFlight?: (n: number) => void,
  ) {
    this.breaker = new Breaker(cfg.breaker.failureThreshold, cfg.breaker.cooldownMs, clock);
    this.tokens = cfg.writes.perSecond;
    this.lastRefill = clock.now();
    this.outcomes = Object.fromEntries(MIRROR_OUTCOMES.map((o) => [o, bind(counter, { route, outcome: o })])) as Record<MirrorOutcome, BoundCounter>;
  }

  /** Applies new settings (and possibly a new shadow upstream). */
  configure(cfg: MirrorConfig, shadow: Upstream): void {
    this.cfg = cfg;
    this.shadow = shadow;
    this.breaker.configure(cfg.breaker.failureThreshold, cfg.breaker.cooldownMs);
  }

  /** The count of one outcome so far. */
  count(o: MirrorOutcome): number {
    return this.outcomes[o].get();
  }

  /**
   * Decides whether this request is mirrored; when it is, takes an in-flight slot. A declared
   * body length above the limit is refused here (counted as oversized). Returns undefined when
   * not mirrored; every refusal other than "not sampled" is counted. `preselectedAt`: the share at
   * which the caller already picked this request (the HTTP tap does, before it copies a body), so
   * only fraction / preselectedAt of those are kept here.
   */
  admit(method: string, declaredLength: number, preselectedAt = 1): MirrorTicket | undefined {
    const cfg = this.cfg;
    const isRead = cfg.methods.includes(method);
    if (isRead) {
      const share = cfg.fraction / preselectedAt;
      if (cfg.fraction <= 0 || (share < 1 && Math.random() >= share)) return undefined;
    } else {
      const share = cfg.writes.fraction / preselectedAt;
      if (!cfg.writes.enabled || (share < 1 && Math.random() >= share)) return undefined;
      if (!this.takeToken()) return this.drop('dropped_rate');
    }
    if (declaredLength > cfg.maxBodyBytes) return this.drop('oversized');
    if (!this.shadow.available) return this.drop('unhealthy');
    if (this.inFlight >= cfg.maxInFlight) return this.drop('dropped_inflight');
    if (!this.breaker.allow()) return this.drop('breaker_open');
    this.inFlight++;
    this.onInFlight?.(this.inFlight);
    return this.ticket();
  }

  private drop(o: MirrorOutcome): undefined {
    this.outcomes[o].inc();
    return undefined;
  }

  private takeToken(): boolean {
    const now = this.clock.now();
    const rate = this.cfg.writes.perSecond;
    this.tokens = Math.min(Math.max(1, rate), this.tokens + ((now - this.lastRefill) / 1000) * rate);
    this.lastRefill = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  private release(): void {
    this.inFlight--;
    this.onInFlight?.(this.inFlight);
  }

  private ticket(): MirrorTicket {
    let done = false;
    return {
      cancel: (reason) => {
        if (done) return;
        done = true;
        this.breaker.abandon();
        this.release();
        this.outcomes[reason].inc();
      },
      send: async (r, captureBytes, secondary) => {
        done = true;
        this.outcomes.sent.inc();
        const timeout = this.cfg.timeoutMs;
        const shadowP = sendOnce(this.shadow, r, timeout, captureBytes).then(
          (res) => {
            const bad = res.status >= 500;
            this.breaker.record(!bad);
            this.outcomes[bad ? 'shadow_5xx' : 'ok'].inc();
            return res;
          },
          (err: unknown) => {
            this.breaker.record(false);
            const kind = errorKind(err);
            this.outcomes[kind === 'dns' ? 'error' : kind].inc();
            return undefined;
          },
        );
        const secondaryP = secondary ? sendOnce(secondary, r, timeout, captureBytes).catch(() => undefined) : Promise.resolve(undefined);
        const [shadow, second] = await Promise.all([shadowP, secondaryP]);
        this.release();
        return { shadow, secondary: second };
      },
    };
  }
}
