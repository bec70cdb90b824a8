/**
 * Real shadow components for the shadow-registry and dashboard tests, started in process the way
 * their own tests start them, each with its admin API on a real port: a traffic proxy (primary and
 * shadow upstreams whose JSON answers differ in one field, every read mirrored, a migration
 * policy whose steps are only judged after a million requests, so only an operator moves it), a
 * stream service (segment files, 2 partitions, 2 worker processes), a volume service, and the
 * PostgreSQL interceptor with its admin API (its upstream is the local server, which is also the
 * shadow it feeds), and a second admin API over the same interceptor that knows of no shadow.
 */
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildAdmin } from '../../src/shadows/traffic/admin.js';
import type { TrafficProxy } from '../../src/shadows/traffic/proxy.js';
import { startAdmin as startStreamAdmin } from '../../src/shadows/partitions/admin.js';
import { SegmentLog } from '../../src/shadows/partitions/segment-log.js';
import { StreamService } from '../../src/shadows/partitions/service.js';
import { buildAdmin as buildVolumeAdmin } from '../../src/shadows/volumes/admin.js';
import type { Volume } from '../../src/shadows/volumes/volume.js';
import { startAdmin as startSqlAdmin } from '../../src/shadows/sql/admin.js';
import { ShadowMirror } from '../../src/shadows/sql/mirror.js';
import { PgProxy } from '../../src/shadows/sql/proxy.js';
import { EventSink } from '../../src/shadows/sql/sink.js';
import { request, startProxy, upstream, type TestUpstream } from '../shadows/traffic/helpers.js';
import { testVolume } from '../shadows/volumes/helpers.js';

/** The token of the proxy's admin API. */
export const PROXY_TOKEN = 'proxy-admin-token-0123';

/** The running components and their admin URLs; `close()` stops them all. */
export interface Components {
  proxy: TrafficProxy;
  proxyUrl: string;
  trafficAdmin: string;
  stream: StreamService;
  streamAdmin: string;
  volume: Volume;
  volumeAdmin: string;
  pgProxy: PgProxy;
  pgProxyPort: number;
  sqlAdmin: string;
  /** The shadow feed of the interceptor. */
  sqlMirror: ShadowMirror;
  /** An admin API over the same interceptor without its shadow feed. */
  sqlAdminNoShadow: string;
  /** Sends `n` reads through the proxy (each mirrored and compared). */
  traffic(n: number): Promise<void>;
  /** Starts a migration of route `orders` on the proxy; returns its id. */
  startMigration(): Promise<string>;
  close(): Promise<void>;
}

const origin = (app: FastifyInstance) => `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
const LOOPBACK = { host: '127.0.0.1', port: 0 };

/** Starts every component. */
export async function startComponents(): Promise<Components> {
  const primary: TestUpstream = await upstream((_s, res) => res.setHeader('content-type', 'application/json').end('{"id":7,"total":12.5,"status":"paid"}'));
  const shadow: TestUpstream = await upstream((_s, res) => res.setHeader('content-type', 'application/json').end('{"id":7,"total":12.5,"status":"open"}'));
  const { proxy, url: proxyUrl } = await startProxy({
    routes: [{ name: 'orders', pathPrefix: '/orders', primary: primary.origin, shadow: shadow.origin, mirror: { fraction: 1 }, migration: { steps: [0.1, 0.5, 1], minRequests: 1_000_000 } }],
  });
  const traffic = buildAdmin(proxy, PROXY_TOKEN);
  await traffic.listen({ host: '127.0.0.1', port: 0 });

  const dir = await mkdtemp(join(tmpdir(), 'sp-shadow-stream-'));
  const log = new SegmentLog({ dir });
  const stream = await StreamService.start({ log, partitions: 2, workers: 2, capacity: 1000 });
  const streamApp = await startStreamAdmin(stream, LOOPBACK);

  const volume = await testVolume({ name: 'vol1' });
  const volumeApp = buildVolumeAdmin(new Map([['vol1', volume]]));
  await volumeApp.listen({ host: '127.0.0.1', port: 0 });

  const sink = new EventSink({});
  const sqlMirror = new ShadowMirror({ shadowUrl: 'postgres://postgres@127.0.0.1:5432/postgres', writeRate: 0.01, readRate: 0.01 });
  const pgProxy = new PgProxy({ upstreamHost: '127.0.0.1', upstreamPort: 5432, target: 'orders-db', sampleRate: 1, events: sink, mirror: sqlMirror });
  const pgProxyPort = await pgProxy.listen(0);
  sqlMirror.start();
  const sqlApp = await startSqlAdmin({ proxy: pgProxy, sink, mirror: sqlMirror }, LOOPBACK);
  const sqlAppNoShadow = await startSqlAdmin({ proxy: pgProxy, sink }, LOOPBACK);

  return {
    proxy, proxyUrl, trafficAdmin: origin(traffic), stream, streamAdmin: origin(streamApp), volume, volumeAdmin: origin(volumeApp),
    pgProxy, pgProxyPort, sqlAdmin: origin(sqlApp), sqlMirror, sqlAdminNoShadow: origin(sqlAppNoShadow),
    async traffic(n) {
      const want = proxy.route('orders')!.comparison.summary().compared + n;
      for (let i = 0; i < n; i++) await request(`${proxyUrl}/orders/7`);
      // Comparisons run after the client has its answer: wait until each is counted.
      const deadline = Date.now() + 10_000;
      while (proxy.route('orders')!.comparison.summary().compared < want && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    },
    async startMigration() {
      const res = await fetch(`${origin(traffic)}/v1/routes/orders/migrations`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${PROXY_TOKEN}` }, body: JSON.stringify({ reason: 'failure risk of the primary' }) });
      if (res.status !== 201) throw new Error(`migration not started: ${res.status} ${await res.text()}`);
      return ((await res.json()) as { id: string }).id;
    },
    async close() {
      await traffic.close();
      await proxy.close(0);
      await primary.close();
      await shadow.close();
      await streamApp.close();
      await stream.stop();
      await log.close();
      await rm(dir, { recursive: true, force: true });
      await volumeApp.close();
      await volume.close();
      await sqlApp.close();
      await sqlAppNoShadow.close();
      await pgProxy.close();
      await sqlMirror.stop();
      await sink.close();
    },
  };
}
