/**
 * The stream service's HTTP API (the component kit's admin app):
 * - `POST /v1/records`: a JSON array or NDJSON (`application/x-ndjson`) of `{key, value, id?}`.
 *   Valid items are appended even when others are bad; the answer lists `accepted`
 *   ({id, partition, offset}) and `rejected` ({path, message}, naming the item or line and the
 *   rule). A batch with no valid item gets 400 problem+json; storage failure 503.
 * - `GET /v1/partitions`, `GET /v1/routing`: state and the routing table.
 * - `POST /v1/partitions/:p/pin {pinned}`, `/forbid {worker, forbidden}`, `/move {worker}`: operator overrides.
 * Request schemas and answers follow the contract (contract.ts). Errors are problem+json naming
 * the field, and with a token every POST needs it as a bearer token.
 */
import type { FastifyInstance } from 'fastify';
import type { ListenerTimeouts } from '../../api/app.js';
import { ShadowplaneError, type FieldProblem } from '../../core/errors.js';
import { buildAdmin as buildKitAdmin, startAdmin as startKitAdmin, type AdminRoutes, type AdminSpec } from '../kit/admin.js';
import { ForbidBody, MoveBody, PartitionParams, PinBody, type PartitionView, type PartitionsAnswer, type RoutingAnswer } from './contract.js';
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

const spec = (token: string | undefined, timeouts: ListenerTimeouts | undefined): AdminSpec => ({
  name: 'stream-api', what: 'the stream API', bodyLimit: 16 * 1024 * 1024, token, tokenEnv: 'SHADOWPLANE_STREAM_TOKEN', timeouts,
});

/** The stream service's `/v1` routes. */
const routes = (svc: StreamService): AdminRoutes => async (app) => {
  app.addContentTypeParser(['application/x-ndjson', 'text/plain'], { parseAs: 'string' }, (_req, body, done) => done(null, { ndjson: body as string }));

  app.post('/records', async (req, reply) => {
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

  app.get('/partitions', async (): Promise<PartitionsAnswer> => svc.partitions());
  app.get('/routing', async (): Promise<RoutingAnswer> => svc.table);

  app.post('/partitions/:p/pin', { schema: { params: PartitionParams, body: PinBody } }, async (req): Promise<PartitionView> => {
    svc.pin(req.params.p, req.body.pinned);
    return svc.partitions()[req.params.p];
  });
  app.post('/partitions/:p/forbid', { schema: { params: PartitionParams, body: ForbidBody } }, async (req): Promise<PartitionView> => {
    svc.forbid(req.params.p, req.body.worker, req.body.forbidden);
    return svc.partitions()[req.params.p];
  });
  app.post('/partitions/:p/move', { schema: { params: PartitionParams, body: MoveBody } }, async (req): Promise<PartitionView> => {
    await svc.forceMove(req.params.p, req.body.worker);
    return svc.partitions()[req.params.p];
  });
};

/** Builds the app (not listening); tests use it through `inject`. `token` guards every POST. */
export function buildAdmin(svc: StreamService, token?: string, timeouts?: ListenerTimeouts): FastifyInstance {
  return buildKitAdmin(spec(token, timeouts), routes(svc));
}

/** Builds the app and listens; refuses a bind beyond loopback without a token, fails when the address is taken. */
export function startAdmin(svc: StreamService, at: { host: string; port: number }, token?: string, timeouts?: ListenerTimeouts): Promise<FastifyInstance> {
  return startKitAdmin(spec(token, timeouts), routes(svc), at);
}
