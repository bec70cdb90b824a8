/**
 * What every Shadowplane HTTP API shares — the service's and each shadow component's admin API —
 * so they all validate, fail and authenticate the same way: TypeBox/ajv validation whose rule
 * messages name the field, problem+json errors with catalogue codes, and a bearer token required
 * on every request that changes state when a token is set.
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { timingSafeEqual } from 'node:crypto';
import { ShadowplaneError } from '../core/errors.js';
import { logger } from '../obs/log.js';
import { errorHandler, problem, sendProblem } from './problem.js';

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|\[::1\]|localhost)$/;

/**
 * Refuses (SHADOWPLANE_ERR_INSECURE_BIND) to serve an API on an address other than loopback
 * without a token; `howToSet` says where the token comes from.
 */
export function assertSafeBind(what: string, host: string, token: string | undefined, howToSet: string): void {
  if (!LOOPBACK.test(host) && !token) {
    throw new ShadowplaneError('SHADOWPLANE_ERR_INSECURE_BIND', `refusing to serve ${what} on ${host} without a token: set ${howToSet}, or listen on 127.0.0.1`);
  }
}

/** Settings of an app. */
export interface AppOptions {
  /** Logger name of the API (e.g. `api`, `volume-api`). */
  readonly name: string;
  /** Largest request body, bytes. */
  readonly bodyLimit: number;
  /** When set, mutating requests need `Authorization: Bearer <token>`. */
  readonly token?: string;
  /** Where the token comes from, for the 401's detail (e.g. `server.token`). */
  readonly tokenSource?: string;
}

/** A fastify app with the shared validation, error answers, 404 and token check (not listening). */
export function buildApp(options: AppOptions): FastifyInstance {
  const log = logger(options.name);
  const app = Fastify({
    // Request lines are logged at info by fastify; an API's own log keeps warnings and errors only.
    loggerInstance: log.child({}, { level: 'warn' }) as FastifyBaseLogger,
    bodyLimit: options.bodyLimit,
    ajv: {
      customOptions: { strict: false, removeAdditional: false, allErrors: true, verbose: true, coerceTypes: 'array', useDefaults: true },
      // `errorMessage` carries our phrasing of a rule; ajv only needs to know the keyword exists.
      plugins: [(ajv: { addKeyword(def: { keyword: string; schemaType: string }): unknown }) => ajv.addKeyword({ keyword: 'errorMessage', schemaType: 'string' })] as never[],
    },
  });
  app.setErrorHandler(errorHandler(log));
  app.setNotFoundHandler((req, reply) => sendProblem(reply, problem('SHADOWPLANE_ERR_NOT_FOUND', `no route ${req.method} ${req.url}`)));
  const token = options.token;
  if (token) {
    const expected = Buffer.from(`Bearer ${token}`);
    const hint = `this request changes state: send Authorization: Bearer <${options.tokenSource ?? 'token'}>`;
    app.addHook('onRequest', async (req, reply) => {
      if (!MUTATING.has(req.method)) return;
      const given = Buffer.from(req.headers.authorization ?? '');
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        return sendProblem(reply.header('www-authenticate', 'Bearer'), problem('SHADOWPLANE_ERR_UNAUTHORIZED', hint));
      }
    });
  }
  return app;
}
