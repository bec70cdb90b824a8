/**
 * The stream service's HTTP API (fastify):
 * - `POST /v1/records`: a JSON array or NDJSON (`application/x-ndjson`) of `{key, value, id?}`.
 *   Valid items are appended even when others are bad; the answer lists `accepted`
 *   ({id, partition, offset}) and `rejected` ({path, message}, naming the item or line and the
 *   rule). A batch with no valid item gets 400 problem+json; storage failure 503.
 * - `GET /v1/partitions`, `GET /v1/routing`: state and the routing table.
 * - `POST /v1/partitions/:p/pin {pinned}`, `/forbid {worker, forbidden}`, `/move {worker}`: operator overrides.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { ERROR_CATALOGUE, ShadowplaneError, type FieldProblem } from '../../core/errors.js';
import type { AppendInput, StreamService } from './service.js';

/** Largest accepted value, bytes of UTF-16 text. */
export const MAX_VALUE = 65_536;

/** Checks one item; returns the problems (empty when valid). */
export function checkRecord(item: unknown, where: string): FieldProblem[] {
  if (typeof item !== 'object' || item === null || Array.isArray(item)) return [{ path: where, message: 'must be an object {key, value, id?}' }];
  const o = item as Record<string, unknown>;
  const problems: FieldProblem[] = [];
  for (const k of Object.keys(o)) if (!['key', 'value', 'id'].includes(k)) problems.push({ path: `${where}/${k}`, message: 'unknown field' });
  if (typeof o.key !== 'string' || o.key.length < 1 || o.key.length > 256) problems.push({ path: `${where}/key`, message: 'must be a string of 1-256 characters' });
  if (typeof o.value !== 'string' || o.value.length > MAX_VALUE) problems.push({ path: `${where}/value`, message: `must be a string of at most ${MAX_VALUE} characters` });
  if (o.id !== undefined && (typeof o.id !== 'string' || o.id.length < 1 || o.id.length > 128)) problems.push({ path: `${where}/id`, message: 'must be a string of 1-128 characters' });
  return problems;
}

function problem(err: ShadowplaneError): { type: string; title: string; status: number; detail: string; code: string; problems: readonly FieldProblem[] } {
  return { type: 'about:blank', title: ERROR_CATALOGUE[err.code].title, status: err.status, detail: err.message, code: err.code, problems: err.problems };
}

/** Builds the app (not listening); used by `startStreamHttp` and by tests through `inject`. */
export function buildStreamHttp(svc: StreamService): FastifyInstance {
  const app = Fastify({ bodyLimit: 16 * 1024 * 1024 });
  app.addContentTypeParser(['application/x-ndjson', 'text/plain'], { parseAs: 'string' }, (_req, body, done) => done(null, { ndjson: body as string }));
  app.setErrorHandler((err: Error & { statusCode?: number }, _req, reply) => {
    const e = err instanceof ShadowplaneError ? err
      : (err as { statusCode?: number }).statusCode === 400 ? new ShadowplaneError('SHADOWPLANE_ERR_VALIDATION', `bad request body: ${err.message}`, [{ path: 'body', message: 'must be valid JSON' }])
        : new ShadowplaneError('SHADOWPLANE_ERR_INTERNAL', err.message);
    void reply.code(e.status).type('application/problem+json').send(problem(e));
  });

  app.post('/v1/records', async (req, reply) => {
    const body = req.body as unknown;
    const items: { item: unknown; where: string }[] = [];
    const rejected: FieldProblem[] = [];
    if (body && typeof body === 'object' && 'ndjson' in body) {
      (body as { ndjson: string }).ndjson.split('\n').forEach((line, i) => {
        if (line.trim() === '') return;
        try {
          items.push({ item: JSON.parse(line), where: `line ${i + 1}` });
        } catch {
          rejected.push({ path: `line ${i + 1}`, message: 'must be one JSON object' });
        }
      });
    } else if (Array.isArray(body)) {
      body.forEach((item, i) => items.push({ item, where: `/${i}` }));
    } else {
      throw new ShadowplaneError('SHADOWPLANE_ERR_VALIDATION', 'the body must be a JSON array or NDJSON of records', [{ path: 'body', message: 'must be a JSON array or application/x-ndjson' }]);
    }
    const valid: AppendInput[] = [];
    for (const { item, where } of items) {
      const problems = checkRecord(item, where);
      if (problems.length) rejected.push(...problems);
      else valid.push(item as AppendInput);
    }
    if (valid.length === 0) throw new ShadowplaneError('SHADOWPLANE_ERR_VALIDATION', 'no valid record in the batch', rejected.length ? rejected : [{ path: 'body', message: 'must hold at least one record' }]);
    const accepted = await svc.append(valid);
    return reply.code(200).send({ accepted, rejected });
  });

  app.get('/v1/partitions', async () => svc.partitions());
  app.get('/v1/routing', async () => svc.table);

  const partitionParam = (raw: string): number => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 0) throw new ShadowplaneError('SHADOWPLANE_ERR_VALIDATION', 'bad partition', [{ path: 'partition', message: 'must be a non-negative integer' }]);
    return n;
  };
  const field = <T>(body: unknown, name: string, ok: (v: unknown) => boolean, rule: string): T => {
    const v = (body as Record<string, unknown> | null)?.[name];
    if (!ok(v)) throw new ShadowplaneError('SHADOWPLANE_ERR_VALIDATION', `bad ${name}`, [{ path: `/${name}`, message: rule }]);
    return v as T;
  };
  const isBool = (v: unknown) => typeof v === 'boolean';
  const isWorker = (v: unknown) => Number.isInteger(v) && (v as number) >= 0;
  app.post<{ Params: { p: string } }>('/v1/partitions/:p/pin', async (req) => {
    svc.pin(partitionParam(req.params.p), field<boolean>(req.body, 'pinned', isBool, 'must be a boolean'));
    return svc.partitions()[Number(req.params.p)];
  });
  app.post<{ Params: { p: string } }>('/v1/partitions/:p/forbid', async (req) => {
    svc.forbid(partitionParam(req.params.p), field<number>(req.body, 'worker', isWorker, 'must be a worker number'), field<boolean>(req.body, 'forbidden', isBool, 'must be a boolean'));
    return svc.partitions()[Number(req.params.p)];
  });
  app.post<{ Params: { p: string } }>('/v1/partitions/:p/move', async (req) => {
    await svc.forceMove(partitionParam(req.params.p), field<number>(req.body, 'worker', isWorker, 'must be a worker number'));
    return svc.partitions()[Number(req.params.p)];
  });
  return app;
}

/** Builds the app and listens; fails when the address is taken. */
export async function startStreamHttp(svc: StreamService, at: { host: string; port: number }): Promise<FastifyInstance> {
  const app = buildStreamHttp(svc);
  await app.listen(at);
  return app;
}
