/** Header handling shared by the forwarding and mirroring paths: hop-by-hop removal, X-Forwarded-*. */
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders } from 'node:http';

/** RFC 9110 §7.6.1 connection-specific headers, never forwarded. */
const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization',
  'te', 'trailer', 'transfer-encoding', 'upgrade',
]);

/**
 * A copy of `headers` without hop-by-hop headers, including those the Connection header names.
 * Never fails; unknown headers pass through unchanged.
 */
export function stripHopByHop(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  const conn = headers.connection;
  const named = conn && conn !== 'keep-alive' && conn !== 'close' ? new Set(conn.toLowerCase().split(',').map((s) => s.trim())) : undefined;
  for (const key in headers) {
    if (HOP_BY_HOP.has(key) || named?.has(key)) continue;
    out[key] = headers[key];
  }
  return out;
}

/** Headers for the upstream request: hop-by-hop removed, X-Forwarded-For/-Proto/-Host added. */
export function forwardHeaders(req: IncomingMessage): OutgoingHttpHeaders {
  const out = stripHopByHop(req.headers);
  const remote = req.socket.remoteAddress ?? '';
  const prior = req.headers['x-forwarded-for'];
  out['x-forwarded-for'] = prior ? `${prior}, ${remote}` : remote;
  if (!req.headers['x-forwarded-proto']) out['x-forwarded-proto'] = 'http';
  if (!req.headers['x-forwarded-host'] && req.headers.host) out['x-forwarded-host'] = req.headers.host;
  return out;
}

/** `api.example.com:8080` -> `api.example.com-shadow:8080`, the usual shadow Host convention. */
export function shadowHost(host: string): string {
  const m = /^(\[[^\]]+\]|[^:]+)(:\d+)?$/.exec(host);
  return m ? `${m[1]}-shadow${m[2] ?? ''}` : `${host}-shadow`;
}

/** Classifies a transport error for counters and 502 bodies: refused, reset, timeout, dns, other. */
export function errorKind(err: unknown): 'refused' | 'reset' | 'timeout' | 'dns' | 'error' {
  const code = (err as { code?: string } | undefined)?.code;
  if (code === 'ECONNREFUSED') return 'refused';
  if (code === 'ECONNRESET' || code === 'EPIPE' || code === 'ERR_STREAM_PREMATURE_CLOSE') return 'reset';
  if (code === 'ETIMEDOUT' || code === 'SHADOWPLANE_TIMEOUT') return 'timeout';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'dns';
  return 'error';
}

/** An Error carrying code SHADOWPLANE_TIMEOUT, used to destroy requests that outlived a deadline. */
export function timeoutError(what: string, ms: number): Error {
  return Object.assign(new Error(`${what} did not answer within ${ms} ms`), { code: 'SHADOWPLANE_TIMEOUT' });
}

/** Whether the method is a read (safe) method for telemetry purposes. */
export function isReadMethod(method: string | undefined): boolean {
  return method === 'GET' || method === 'HEAD' || method === 'OPTIONS';
}
