/**
 * What every Shadowplane HTTP API shares — the service's and each shadow component's admin API —
 * so they all validate, fail and authenticate the same way: TypeBox/ajv validation whose rule
 * messages name the field, problem+json errors with catalogue codes, and a bearer token required
 * on every request that changes state when a token is set.
 */
import AjvCompiler from '@fastify/ajv-compiler';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { ShadowplaneError } from '../core/errors.js';
import { isStorableText, TEXT_FORMAT } from '../core/schema.js';
import { textProblems } from '../core/validation.js';
import { logger } from '../obs/log.js';
import { clientErrorHandler, errorHandler, problem, sendProblem } from './problem.js';

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|\[::1\]|localhost)$/;

/** The fewest characters (spaces not counted) of a token that guards an API beyond loopback. */
export const MIN_TOKEN_LENGTH = 16;

/**
 * Refuses (SHADOWPLANE_ERR_INSECURE_BIND) to serve an API on an address other than loopback
 * without a token of at least MIN_TOKEN_LENGTH characters; `howToSet` says where the token comes from.
 */
export function assertSafeBind(what: string, host: string, token: string | undefined, howToSet: string): void {
  if (LOOPBACK.test(host)) return;
  if (!token) {
    throw new ShadowplaneError('SHADOWPLANE_ERR_INSECURE_BIND', `refusing to serve ${what} on ${host} without a token: set ${howToSet}, or listen on 127.0.0.1`);
  }
  if (token.trim().length < MIN_TOKEN_LENGTH) {
    throw new ShadowplaneError('SHADOWPLANE_ERR_INSECURE_BIND', `refusing to serve ${what} on ${host} with a token of ${token.trim().length} characters: ${howToSet} must be at least ${MIN_TOKEN_LENGTH} characters (not counting spaces), or listen on 127.0.0.1`);
  }
}

/** The address a listening server is bound to, as a URL: `http://0.0.0.0:7070`, `http://[::1]:43127`. */
export function boundUrl(server: { address(): AddressInfo | string | null }): string {
  const at = server.address();
  if (at === null || typeof at === 'string') return String(at);
  return `http://${at.family === 'IPv6' ? `[${at.address}]` : at.address}:${at.port}`;
}

/** How long a listener waits on a client before closing the connection, ms. */
export interface ListenerTimeouts {
  /** How long a client may take to send a request's headers; also closes sockets that never send a byte. */
  readonly headersMs: number;
  /** From the start of a request to the end of its body. Not less than `headersMs`. */
  readonly requestMs: number;
  /** A connection with no traffic either way (an idle keep-alive connection, a client that stopped reading). */
  readonly idleMs: number;
}

/** The timeouts of every API unless its caller sets others (the service's come from `server.*Timeout`). */
export const DEFAULT_TIMEOUTS: ListenerTimeouts = { headersMs: 10_000, requestMs: 60_000, idleMs: 75_000 };

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
  /** Connection timeouts; DEFAULT_TIMEOUTS when not given. */
  readonly timeouts?: ListenerTimeouts;
}

/**
 * Route option `config` of a route whose body items are validated one by one by the route itself
 * (the ingest routes: a bad item must not sink its batch), so the app-wide text check skips it.
 */
export const ITEMS_CHECKED_ALONE = { itemsCheckedAlone: true } as const;

/**
 * Validators per request part: the query string and path parameters arrive as text and are
 * coerced to the schema's types (`?limit=5`), a JSON body is taken as sent, so `{"name": 12345}`
 * is refused where a string is expected instead of becoming the name "12345".
 */
function buildValidator(externalSchemas: unknown, options: { customOptions: Record<string, unknown> }) {
  const coercing = AjvCompiler()(externalSchemas as never, options as never);
  const exact = AjvCompiler()(externalSchemas as never, { ...options, customOptions: { ...options.customOptions, coerceTypes: false } } as never);
  return (route: { httpPart?: string }) => (route.httpPart === 'body' ? exact : coercing)(route as never);
}

/** A fastify app with the shared validation, error answers, 404 and token check (not listening). */
export function buildApp(options: AppOptions): FastifyInstance {
  const log = logger(options.name);
  const timeouts = options.timeouts ?? DEFAULT_TIMEOUTS;
  const handleError = errorHandler(log);
  const app = Fastify({
    // Node checks header and request deadlines on a timer; checking every second (or sooner for
    // shorter timeouts) closes an expired connection close to its deadline, not up to 30 s later.
    http: { headersTimeout: timeouts.headersMs, connectionsCheckingInterval: Math.min(1000, timeouts.headersMs) },
    requestTimeout: timeouts.requestMs,
    keepAliveTimeout: timeouts.idleMs,
    connectionTimeout: timeouts.idleMs,
    clientErrorHandler,
    // A URL that does not decode, answered like every other error.
    frameworkErrors: (err, req, reply) => handleError(err, req, reply),
    // Request lines are logged at info by fastify; an API's own log keeps warnings and errors only.
    loggerInstance: log.child({}, { level: 'warn' }) as FastifyBaseLogger,
    bodyLimit: options.bodyLimit,
    schemaController: { compilersFactory: { buildValidator: buildValidator as never } },
    ajv: {
      customOptions: { strict: false, removeAdditional: false, allErrors: true, verbose: true, coerceTypes: 'array', useDefaults: true },
      plugins: [
        (ajv: { addKeyword(def: { keyword: string; schemaType: string }): unknown; addFormat(name: string, check: (s: string) => boolean): unknown }) => {
          // `errorMessage` carries our phrasing of a rule; ajv only needs to know the keyword exists.
          ajv.addKeyword({ keyword: 'errorMessage', schemaType: 'string' });
          ajv.addFormat(TEXT_FORMAT, isStorableText);
          return ajv;
        },
      ] as never[],
    },
  });
  app.setErrorHandler(handleError);
  // Every string a request carries must be one the store can hold, whatever its route's schema says.
  app.addHook('preValidation', async (req) => {
    const config = req.routeOptions.config as { itemsCheckedAlone?: boolean };
    const problems = [...textProblems(req.params, '/params'), ...textProblems(req.query, '/querystring'), ...(config.itemsCheckedAlone ? [] : textProblems(req.body, '/body'))];
    if (problems.length > 0) throw new ShadowplaneError('SHADOWPLANE_ERR_VALIDATION', 'the request carries text the store cannot hold', problems);
  });
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
