/**
 * The demo's second story, with no infrastructure: a real traffic proxy (src/shadows/traffic) in
 * front of two local upstreams, in this process, with a steady client load through it. The primary
 * degrades on a schedule — its error rate rises from half a minute after start — while its shadow
 * stays healthy. The proxy's sampled request telemetry feeds the target `demo-api`; its failure
 * risk on the error-rate limit rises, and its response rule migrates the route to the shadow step
 * by step, each step verified by the proxy. The proxy is declared to the service as the shadow
 * component `demo-proxy`, so the Shadows page shows the migration. Everything here is labelled DEMO.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { logger } from '../obs/log.js';
import { buildAdmin } from '../shadows/traffic/admin.js';
import { ProxyConfigSchema, validate } from '../shadows/traffic/config.js';
import { TrafficProxy } from '../shadows/traffic/proxy.js';
import { sketchIndex } from '../store/sketch.js';
import { Window } from '../store/window.js';
import type { ShadowplaneService } from '../service.js';

/** The demo's traffic target and shadow component. */
export const DEMO_API_TARGET = 'demo-api';
export const DEMO_PROXY = 'demo-proxy';
const ROUTE = 'api';
const MINUTE = 60_000;
/** Client requests per second through the proxy. */
const REQUESTS_PER_SECOND = 20;
/** The primary is healthy this long after start, then its error rate rises by RISE per minute. */
const HEALTHY_MS = 30_000;
const BASE_ERROR_RATE = 0.003;
const RISE_PER_MINUTE = 0.025;
const MAX_ERROR_RATE = 0.4;
const PATHS = ['/orders/1042', '/orders/1043', '/carts/77', '/users/7/profile', '/catalog/items?page=2', '/orders'];

const log = logger('demo');

/** The demo target's declaration (added to the config by withDemo). */
export function demoApiTarget() {
  return {
    name: DEMO_API_TARGET,
    kind: 'service' as const,
    labels: { demo: 'true', note: 'DEMO: a local proxy in front of two local upstreams; the primary degrades half a minute after start' },
    sampling: { rate: 1 },
    control: { interval: '1m', minWindows: 10, season: '0s', history: '1h', risk: { horizon: '30m', limits: [{ requests: 'errorRate' as const, max: 0.05 }] } },
    respond: [{ name: 'migrate-off-degrading-primary', when: { risk: 0.8, for: '1m' }, do: { migrate: { shadow: DEMO_PROXY, route: ROUTE, steps: [0.25, 0.5, 1] } } }],
  };
}

/** The error rate of the degrading primary `elapsed` ms after start. */
export function primaryErrorRate(elapsed: number): number {
  if (elapsed < HEALTHY_MS) return BASE_ERROR_RATE;
  return Math.min(MAX_ERROR_RATE, BASE_ERROR_RATE + ((elapsed - HEALTHY_MS) / MINUTE) * RISE_PER_MINUTE);
}

/** The running demo traffic: upstreams, proxy, its admin API and the client load. */
export class DemoTraffic {
  private readonly servers: http.Server[] = [];
  private proxy: TrafficProxy | undefined;
  private admin: FastifyInstance | undefined;
  private load: NodeJS.Timeout | undefined;
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 8 });

  private constructor(private readonly service: ShadowplaneService) {}

  /** Writes an hour of healthy request history for `demo-api`, so its risk is ready at the first tick. */
  static async open(service: ShadowplaneService): Promise<DemoTraffic> {
    const now = service.clock.now();
    const minute = now - (now % MINUTE);
    const granularity = service.granularities[0];
    if (granularity * 1000 === MINUTE) {
      const perMinute = REQUESTS_PER_SECOND * 60;
      const rows = [];
      for (let i = 60; i > 0; i--) {
        const w = new Window(minute - i * MINUTE, granularity);
        for (let r = 0; r < perMinute; r++) {
          const latency = 15 + ((r * 7919) % 23);
          w.addRequest(w.start + Math.floor((r * MINUTE) / perMinute), latency, sketchIndex(latency), 600, 0, r % 300 === 0, 1, 1);
        }
        rows.push(w.toRow(DEMO_API_TARGET, 'total', '', true));
      }
      await service.store.writeWindows(rows);
    }
    return new DemoTraffic(service);
  }

  /** Starts the upstreams, the proxy (telemetry to `apiUrl`), its admin API, the client load, and declares the proxy to the service. */
  async start(apiUrl: string): Promise<void> {
    const started = Date.now();
    const primary = await this.upstream(() => Math.random() < primaryErrorRate(Date.now() - started), 25);
    const shadow = await this.upstream(() => Math.random() < BASE_ERROR_RATE, 22);
    this.proxy = new TrafficProxy(validate(ProxyConfigSchema, {
      listen: '127.0.0.1:0',
      control: { url: apiUrl, target: DEMO_API_TARGET, sampleRate: 1, userHeader: 'x-demo-user' },
      routes: [{
        name: ROUTE, pathPrefix: '/', primary, shadow, mirror: { fraction: 0.2 },
        migration: { steps: [0.25, 0.5, 1], minRequests: 100, minDurationMs: 30_000, errorRateTolerance: 0.01, maxMismatchRate: 0.05 },
      }],
    }));
    const { port } = await this.proxy.listen();
    const token = randomBytes(18).toString('base64url');
    this.admin = buildAdmin(this.proxy, token);
    await this.admin.listen({ host: '127.0.0.1', port: 0 });
    const adminUrl = `http://127.0.0.1:${(this.admin.server.address() as AddressInfo).port}`;
    this.service.shadows.declare({ name: DEMO_PROXY, kind: 'traffic', url: adminUrl, token, target: DEMO_API_TARGET, interval: '5s' });
    let n = 0;
    this.load = setInterval(() => {
      for (let i = 0; i < REQUESTS_PER_SECOND / 10; i++) {
        const user = `demo-user-${(n * 7) % 23}`;
        const req = http.get({ host: '127.0.0.1', port, path: PATHS[n++ % PATHS.length], agent: this.agent, headers: { 'x-demo-user': user } }, (res) => res.resume());
        req.on('error', () => undefined);
      }
    }, 100);
    log.info({ proxy: `http://127.0.0.1:${port}`, admin: adminUrl }, 'demo traffic: a proxy in front of two local upstreams; the primary degrades from half a minute on (DEMO)');
  }

  /** Stops the load, the proxy, its admin API and the upstreams. */
  async stop(): Promise<void> {
    clearInterval(this.load);
    this.agent.destroy();
    await this.admin?.close();
    await this.proxy?.close(0);
    await Promise.all(this.servers.map((s) => new Promise<void>((r) => {
      s.closeAllConnections();
      s.close(() => r());
    })));
  }

  /** A JSON upstream that fails a request when `fails()` says so, answering in about `latencyMs`. */
  private async upstream(fails: () => boolean, latencyMs: number): Promise<string> {
    const server = http.createServer((req, res) => {
      req.resume();
      const failed = fails();
      setTimeout(() => {
        res.writeHead(failed ? 503 : 200, { 'content-type': 'application/json' });
        res.end(failed ? '{"error":"unavailable"}' : `{"path":${JSON.stringify(req.url)},"ok":true}`);
      }, latencyMs * (failed ? 4 : 1));
    });
    this.servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }
}
