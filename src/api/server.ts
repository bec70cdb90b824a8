/**
 * The HTTP API (fastify): schema-first routes whose TypeBox schemas validate requests and make the
 * OpenAPI document at /openapi.json; one error shape (problem+json); a bearer token on every
 * mutating request when one is configured.
 */
import swagger from '@fastify/swagger';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import { timingSafeEqual } from 'node:crypto';
import { VERSION } from '../core/version.js';
import { logger } from '../obs/log.js';
import type { ShadowplaneService } from '../service.js';
import { errorHandler, problem, sendProblem } from './problem.js';
import { ingestRoutes } from './routes/ingest.js';
import { opsRoutes } from './routes/ops.js';
import { queryRoutes } from './routes/query.js';
import { targetRoutes } from './routes/targets.js';
import { controlRoutes } from './routes/control.js';
import { anomalyRoutes } from './routes/anomalies.js';
import { shadowRoutes } from './routes/shadows.js';
import { streamRoutes } from './routes/stream.js';
import { uiRoutes } from '../ui/routes.js';

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Builds the API of a service (not listening yet). */
export function buildApi(service: ShadowplaneService): FastifyInstance {
  const log = logger('api');
  const app = Fastify({
    // Request lines are logged at info by fastify; the API's own log keeps warnings and errors only.
    loggerInstance: log.child({}, { level: 'warn' }) as FastifyBaseLogger,
    bodyLimit: service.config.server.bodyLimit,
    ajv: {
      customOptions: { strict: false, removeAdditional: false, allErrors: true, verbose: true, coerceTypes: 'array', useDefaults: true },
      // `errorMessage` carries our phrasing of a rule; ajv only needs to know the keyword exists.
      plugins: [(ajv: { addKeyword(def: { keyword: string; schemaType: string }): unknown }) => ajv.addKeyword({ keyword: 'errorMessage', schemaType: 'string' })] as never[],
    },
  });
  app.setErrorHandler(errorHandler(log));
  app.setNotFoundHandler((req, reply) => sendProblem(reply, problem('SHADOWPLANE_ERR_NOT_FOUND', `no route ${req.method} ${req.url}`)));

  const token = service.config.server.token;
  if (token) {
    const expected = Buffer.from(`Bearer ${token}`);
    app.addHook('onRequest', async (req, reply) => {
      if (!MUTATING.has(req.method)) return;
      const given = Buffer.from(req.headers.authorization ?? '');
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        return sendProblem(reply.header('www-authenticate', 'Bearer'), problem('SHADOWPLANE_ERR_UNAUTHORIZED', 'this request changes state: send Authorization: Bearer <server.token>'));
      }
    });
  }

  // NDJSON bodies arrive as one Buffer; the ingest route decodes, splits and parses them line by
  // line (decoding a large body into one string is several times slower, see forEachNdjsonLine).
  app.addContentTypeParser(['application/x-ndjson', 'application/ndjson'], { parseAs: 'buffer' }, (_req: FastifyRequest, body: Buffer, done: (err: Error | null, body?: unknown) => void) => done(null, body));

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
    queryRoutes(scoped, service);
    controlRoutes(scoped, service);
    anomalyRoutes(scoped, service);
    shadowRoutes(scoped, service);
    streamRoutes(scoped, service);
    uiRoutes(scoped);
    scoped.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  });
  return app;
}
