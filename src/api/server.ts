/**
 * The HTTP API (fastify): schema-first routes whose TypeBox schemas validate requests, type the
 * handlers (the TypeBox type provider) and make the OpenAPI document at /openapi.json; one error
 * shape (problem+json); a bearer token on every mutating request when one is configured. Each
 * route module is a fastify plugin given only the parts of the service it uses.
 */
import swagger from '@fastify/swagger';
import type { FastifyInstance } from 'fastify';
import { durationMs } from '../core/schema.js';
import type { RawBatch } from '../ingest/batch.js';
import { VERSION } from '../core/version.js';
import type { ShadowplaneService } from '../service.js';
import { buildApp } from './app.js';
import { ingestRoutes } from './routes/ingest.js';
import { pushRoutes } from './routes/push.js';
import { historyRoutes } from './routes/history.js';
import { opsRoutes, refuseWritesOnStandby } from './routes/ops.js';
import { queryRoutes } from './routes/query.js';
import { targetRoutes } from './routes/targets.js';
import { controlRoutes } from './routes/control.js';
import { capacityRoutes } from './routes/capacity.js';
import { anomalyRoutes } from './routes/anomalies.js';
import { learnedRoutes } from './routes/learned.js';
import { shadowRoutes } from './routes/shadows.js';
import { streamRoutes } from './routes/stream.js';
import { uiRoutes } from '../ui/routes.js';

/** Builds the API of a service (not listening yet). */
export function buildApi(service: ShadowplaneService): FastifyInstance {
  const { server } = service.config;
  const app = buildApp({
    name: 'api', bodyLimit: server.bodyLimit, token: server.token, tokenSource: 'server.token',
    timeouts: { headersMs: durationMs(server.headersTimeout), requestMs: durationMs(server.requestTimeout), idleMs: durationMs(server.idleTimeout) },
  });

  // Ingest bodies arrive as bytes that the ingest routes parse in bounded pieces (src/ingest/batch.ts);
  // every other JSON body is parsed whole, as fastify would.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (req, body: Buffer, done) => {
    if (req.routeOptions.config.rawBatch) return done(null, { format: 'json', bytes: body } satisfies RawBatch);
    parseJson(req, body.toString('utf8'), done);
  });
  app.addContentTypeParser(['application/x-ndjson', 'application/ndjson'], { parseAs: 'buffer' }, (req, body: Buffer, done) => {
    done(null, req.routeOptions.config.rawBatch ? ({ format: 'ndjson', bytes: body } satisfies RawBatch) : body);
  });

  void app.register(swagger, {
    openapi: {
      info: { title: 'Shadowplane API', version: VERSION, description: 'Targets, sampling, request-metadata and metric ingestion, and the Shadow Store.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
    refResolver: { buildLocalReference: (json, _base, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
  });
  void app.register(async (scoped) => {
    // First, so that it guards every route below: a standby refuses what would write.
    scoped.addHook('onRequest', refuseWritesOnStandby(service));
    const { store, clock, controller, targets, ingestor, admission, granularities } = service;
    await scoped.register(opsRoutes, { state: service, store, registry: service.metrics.registry });
    await scoped.register(targetRoutes, { targets, scraper: service.scraper, controller, store, clock });
    const stream = service.ingestStream;
    await scoped.register(ingestRoutes, {
      ingestor, stream, admission, bounds: { maxItems: server.maxItemsPerBatch, parseTimeoutMs: durationMs(server.parseTimeout) },
    });
    await scoped.register(pushRoutes, { settings: service.config.ingest, bodyLimit: server.bodyLimit, ingestor, stream, admission, log: service.log });
    await scoped.register(historyRoutes, {
      settings: service.config.store, granularities, clock, targets, store, controller, flush: () => service.flush(),
    });
    // With the ingest stream, a target's open windows are in its partition's engine, when held here.
    const engine = stream ? { openRows: (target: string) => service.partitioned?.openRows(target) ?? [] } : service.engine;
    await scoped.register(queryRoutes, { settings: service.config.store, granularities, clock, targets, store, engine });
    await scoped.register(controlRoutes, { controller, clock });
    await scoped.register(capacityRoutes, { capacity: service.capacity, controller, store });
    await scoped.register(anomalyRoutes, { controller, store });
    await scoped.register(learnedRoutes, { controller });
    await scoped.register(shadowRoutes, { shadows: service.shadows });
    await scoped.register(streamRoutes, { events: service.events });
    uiRoutes(scoped);
    scoped.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  });
  return app;
}
