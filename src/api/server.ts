/**
 * The HTTP API (fastify): schema-first routes whose TypeBox schemas validate requests and make the
 * OpenAPI document at /openapi.json; one error shape (problem+json); a bearer token on every
 * mutating request when one is configured.
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
import { opsRoutes } from './routes/ops.js';
import { queryRoutes } from './routes/query.js';
import { targetRoutes } from './routes/targets.js';
import { controlRoutes } from './routes/control.js';
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
    opsRoutes(scoped, service);
    targetRoutes(scoped, service);
    ingestRoutes(scoped, service);
    pushRoutes(scoped, service);
    historyRoutes(scoped, service);
    queryRoutes(scoped, service);
    controlRoutes(scoped, service);
    anomalyRoutes(scoped, service);
    learnedRoutes(scoped, service);
    shadowRoutes(scoped, service);
    streamRoutes(scoped, service);
    uiRoutes(scoped);
    scoped.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  });
  return app;
}
