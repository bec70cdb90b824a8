/**
 * Errors as HTTP answers: every error becomes an RFC 9457 problem+json body carrying the
 * catalogue code and, for input errors, one entry per field with the rule it broke.
 */
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ERROR_CATALOGUE, ShadowplaneError, type ErrorCode, type FieldProblem } from '../core/errors.js';
import type { Logger } from '../obs/log.js';

/** The body of an error answer. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  code: ErrorCode;
  detail: string;
  problems?: FieldProblem[];
}

/** Builds the problem body for a code. */
export function problem(code: ErrorCode, detail: string, problems?: FieldProblem[]): Problem {
  const spec = ERROR_CATALOGUE[code];
  const body: Problem = { type: `https://shadowplane.dev/errors#${code}`, title: spec.title, status: spec.status, code, detail };
  if (problems && problems.length > 0) body.problems = problems;
  return body;
}

/**
 * The reason an API error answer gives, for a client's log: `HTTP 400 SHADOWPLANE_ERR_VALIDATION:
 * all 3 items were rejected (unknown_target /target: must name a declared target; ...)`. Reads the
 * problem body and, for ingest answers, the first rejected item; falls back to the status alone.
 */
export function describeProblem(status: number, text: string): string {
  let body: { code?: string; detail?: string; title?: string; problems?: FieldProblem[]; rejected?: { reason?: string; problems?: FieldProblem[] }[] };
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    return `HTTP ${status}${text.trim() ? `: ${text.trim().slice(0, 200)}` : ''}`;
  }
  const first = body.rejected?.[0];
  const field = (first?.problems ?? body.problems ?? [])[0];
  const why = [first?.reason, field ? `${field.path}: ${field.message}` : undefined].filter(Boolean).join(' ');
  return `HTTP ${status}${body.code ? ` ${body.code}` : ''}: ${body.detail ?? body.title ?? ''}${why ? ` (${why})` : ''}`;
}

/** Sends a problem answer. */
export function sendProblem(reply: FastifyReply, body: Problem): FastifyReply {
  return reply.code(body.status).type('application/problem+json').send(body);
}

interface AjvError {
  instancePath: string;
  keyword: string;
  params: Record<string, unknown>;
  message?: string;
  parentSchema?: Record<string, unknown>;
}

/** Turns fastify/ajv validation errors into field problems: path plus rule. */
function validationProblems(context: string | undefined, errors: AjvError[]): FieldProblem[] {
  const seen = new Set<string>();
  const out: FieldProblem[] = [];
  for (const e of errors) {
    let path = `/${context ?? 'body'}${e.instancePath}`;
    let message = typeof e.parentSchema?.errorMessage === 'string' ? e.parentSchema.errorMessage : (e.message ?? 'is not valid');
    if (e.keyword === 'additionalProperties') {
      path += `/${String(e.params.additionalProperty)}`;
      message = 'is not a known key';
    } else if (e.keyword === 'required') {
      path += `/${String(e.params.missingProperty)}`;
      message = 'is required';
    } else if (e.keyword === 'const' || e.keyword === 'enum') {
      continue; // the anyOf error on the same path says "must be one of" in full
    } else if (e.keyword === 'anyOf' && Array.isArray(e.parentSchema?.anyOf)) {
      const options = (e.parentSchema.anyOf as Record<string, unknown>[]).map((o) => o.const).filter((c) => c !== undefined);
      if (options.length > 0) message = `must be one of: ${options.join(', ')}`;
    }
    if (seen.has(path)) continue;
    seen.add(path);
    out.push({ path, message });
  }
  return out;
}

/**
 * The catalogue code of each 4xx status fastify's own errors carry: a body that is not JSON or a
 * URL that does not decode (400), no route (404), too large a body (413), a path parameter over
 * 100 characters (414), a content type no parser takes (415).
 */
const CODE_BY_STATUS: Partial<Record<number, ErrorCode>> = {
  400: 'SHADOWPLANE_ERR_VALIDATION',
  404: 'SHADOWPLANE_ERR_NOT_FOUND',
  413: 'SHADOWPLANE_ERR_PAYLOAD_TOO_LARGE',
  414: 'SHADOWPLANE_ERR_URL_TOO_LONG',
  415: 'SHADOWPLANE_ERR_UNSUPPORTED_MEDIA_TYPE',
};

/**
 * Answers a request the HTTP parser could not read, or one that did not arrive within its header
 * or request timeout, with problem+json on the raw socket (there is no request to reply to), then
 * closes the connection.
 */
export function clientErrorHandler(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const body =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? problem('SHADOWPLANE_ERR_REQUEST_TIMEOUT', 'the request did not arrive within the header or request timeout')
    : err.code === 'HPE_HEADER_OVERFLOW' ? problem('SHADOWPLANE_ERR_HEADERS_TOO_LARGE', 'the request line and headers (the URL included) exceed 16 KiB')
    : problem('SHADOWPLANE_ERR_BAD_REQUEST', `the request is not valid HTTP/1.1 (${err.code ?? 'parse error'}: ${err.message})`);
  const text = JSON.stringify(body);
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${body.status} ${STATUS_CODES[body.status]}\r\nContent-Type: application/problem+json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`);
  }
  socket.destroy();
}

/** The API's error handler: coded errors keep their code, everything else is mapped or internal. */
export function errorHandler(log: Logger) {
  return (err: FastifyError & { validation?: AjvError[]; validationContext?: string }, _req: FastifyRequest, reply: FastifyReply) => {
    if (err instanceof ShadowplaneError) return sendProblem(reply, problem(err.code, err.message, [...err.problems]));
    if (err.validation) {
      return sendProblem(reply, problem('SHADOWPLANE_ERR_VALIDATION', 'the request does not match its schema', validationProblems(err.validationContext, err.validation)));
    }
    const code = err.statusCode === undefined ? undefined : CODE_BY_STATUS[err.statusCode];
    if (code) return sendProblem(reply, problem(code, err.message));
    // Another 4xx from a plugin or library keeps its status; none is known to occur.
    if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) return sendProblem(reply, { ...problem('SHADOWPLANE_ERR_BAD_REQUEST', err.message), status: err.statusCode });
    log.error({ err }, 'unexpected error');
    return sendProblem(reply, problem('SHADOWPLANE_ERR_INTERNAL', 'an unexpected error occurred; see the service log'));
  };
}
