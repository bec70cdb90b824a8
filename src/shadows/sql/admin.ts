/**
 * A small HTTP API beside the proxy, for the control plane: `GET /v1/status` (counters and rates)
 * and `PUT /v1/rates` with a JSON body `{sampleRate?, writeRate?, readRate?}` (each in [0, 1]) to
 * change sampling and shadow feeding at run time. Bad input gets a 400 naming the field and the rule.
 */
import http from 'node:http';
import type { PgProxy } from './proxy.js';
import type { ShadowMirror } from './mirror.js';
import type { EventSink } from './sink.js';

/** Parts the admin API reports on and adjusts. */
export interface AdminParts {
  proxy: PgProxy;
  sink: EventSink;
  mirror?: ShadowMirror;
}

/** Starts the API on host:port; resolves with the server once listening (port 0 picks one). */
export async function startAdmin(parts: AdminParts, port: number, host = '127.0.0.1'): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const reply = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    if (req.method === 'GET' && req.url === '/v1/status') {
      reply(200, {
        rates: { sampleRate: parts.proxy.getSampleRate(), ...(parts.mirror?.rates() ?? {}) },
        proxy: parts.proxy.stats, sink: parts.sink.stats,
        mirror: parts.mirror ? { ...parts.mirror.stats, waiting: parts.mirror.queued() } : null,
      });
      return;
    }
    if (req.method === 'PUT' && req.url === '/v1/rates') {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        let body: unknown;
        try { body = JSON.parse(Buffer.concat(chunks).toString('utf8')); } catch { reply(400, { code: 'SHADOWPLANE_ERR_VALIDATION', problems: [{ path: '', message: 'body must be JSON' }] }); return; }
        const problems = validateRates(body, parts.mirror !== undefined);
        if (problems.length > 0) { reply(400, { code: 'SHADOWPLANE_ERR_VALIDATION', problems }); return; }
        const b = body as { sampleRate?: number; writeRate?: number; readRate?: number };
        if (b.sampleRate !== undefined) parts.proxy.setSampleRate(b.sampleRate);
        parts.mirror?.setRates(b);
        reply(200, { sampleRate: parts.proxy.getSampleRate(), ...(parts.mirror?.rates() ?? {}) });
      });
      return;
    }
    reply(404, { code: 'SHADOWPLANE_ERR_NOT_FOUND', problems: [{ path: req.url ?? '', message: 'no such resource' }] });
  });
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(port, host, () => resolve()); });
  return server;
}

/** Field problems of a rates body: an object whose known keys are numbers in [0, 1]; nothing else. */
export function validateRates(body: unknown, mirror: boolean): { path: string; message: string }[] {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return [{ path: '', message: 'must be a JSON object' }];
  const allowed = mirror ? ['sampleRate', 'writeRate', 'readRate'] : ['sampleRate'];
  const problems: { path: string; message: string }[] = [];
  for (const [k, v] of Object.entries(body)) {
    if (!allowed.includes(k)) problems.push({ path: `/${k}`, message: mirror ? 'unknown field' : 'unknown field (no shadow configured)' });
    else if (typeof v !== 'number' || !(v >= 0 && v <= 1)) problems.push({ path: `/${k}`, message: 'must be a number between 0 and 1' });
  }
  return problems;
}
