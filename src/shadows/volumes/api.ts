/**
 * The volume service's HTTP API (fastify + TypeBox), on its own port:
 * - GET  /volumes                         names and sizes
 * - GET  /volumes/:name                   placement, heat, cost and failover statistics
 * - GET  /volumes/:name/data?offset&length  raw bytes (application/octet-stream)
 * - PUT  /volumes/:name/data?offset       raw bytes in the body; 204 once durable
 * - POST /volumes/:name/flush
 * - POST /volumes/:name/failover          {reason?}: route I/O to the shadow now
 * - POST /volumes/:name/failback          copy back and return to the live volume
 * - PUT  /volumes/:name/faults            {addedLatencyMs, eio, device?}: fault injection (live or shadow)
 * Errors are problem+json with the catalogue code; bad input names the field. With a token, every
 * request but GET needs it.
 */
import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { ShadowplaneError, isCoded } from '../../core/errors.js';
import { buildApp, type ListenerTimeouts } from '../../api/app.js';
import type { Volume } from './volume.js';

const NameParams = Type.Object({ name: Type.String() });
const ReadQuery = Type.Object({ offset: Type.Integer({ minimum: 0 }), length: Type.Integer({ minimum: 0, maximum: 32 * 1024 * 1024 }) });
const WriteQuery = Type.Object({ offset: Type.Integer({ minimum: 0 }) });
const FaultsBody = Type.Object(
  {
    addedLatencyMs: Type.Number({ minimum: 0, maximum: 60000 }),
    eio: Type.Boolean(),
    device: Type.Optional(Type.Union([Type.Literal('live'), Type.Literal('shadow')], { description: 'which copy gets the faults (default live)' })),
  },
  { additionalProperties: false },
);
const FailoverBody = Type.Object({ reason: Type.Optional(Type.String({ maxLength: 200 })) }, { additionalProperties: false });

/**
 * Builds the API over a map of volumes (not yet listening). `token`, when set, is required as
 * `Authorization: Bearer <token>` on every request that changes state (writes included).
 */
export function buildVolumeApi(volumes: ReadonlyMap<string, Volume>, token?: string, timeouts?: ListenerTimeouts): FastifyInstance {
  const app = buildApp({ name: 'volume-api', bodyLimit: 33 * 1024 * 1024, token, tokenSource: 'SHADOWPLANE_VOLUME_TOKEN', timeouts });
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  const get = (name: string): Volume => {
    const v = volumes.get(name);
    if (!v) throw new ShadowplaneError('SHADOWPLANE_ERR_NOT_FOUND', `no volume named ${name}`);
    return v;
  };

  app.get('/volumes', async () => [...volumes.values()].map((v) => ({ name: v.config.name, size: v.size, state: v.failover })));
  app.get<{ Params: Static<typeof NameParams> }>('/volumes/:name', { schema: { params: NameParams } }, async (req) => get(req.params.name).stats());
  app.get<{ Params: Static<typeof NameParams>; Querystring: Static<typeof ReadQuery> }>(
    '/volumes/:name/data',
    { schema: { params: NameParams, querystring: ReadQuery } },
    async (req, reply) => {
      const data = await get(req.params.name).read(req.query.offset, req.query.length);
      return reply.type('application/octet-stream').send(data);
    },
  );
  app.put<{ Params: Static<typeof NameParams>; Querystring: Static<typeof WriteQuery>; Body: Buffer }>(
    '/volumes/:name/data',
    { schema: { params: NameParams, querystring: WriteQuery } },
    async (req, reply) => {
      if (!Buffer.isBuffer(req.body)) {
        throw new ShadowplaneError('SHADOWPLANE_ERR_VALIDATION', 'the body must be application/octet-stream', [{ path: 'body', message: 'must be raw bytes' }]);
      }
      await get(req.params.name).write(req.query.offset, req.body);
      return reply.status(204).send();
    },
  );
  app.post<{ Params: Static<typeof NameParams> }>('/volumes/:name/flush', { schema: { params: NameParams } }, async (req, reply) => {
    await get(req.params.name).flush();
    return reply.status(204).send();
  });
  app.post<{ Params: Static<typeof NameParams>; Body: Static<typeof FailoverBody> }>(
    '/volumes/:name/failover',
    { schema: { params: NameParams, body: FailoverBody } },
    async (req) => {
      const v = get(req.params.name);
      v.failOver(req.body?.reason ?? 'operator request');
      return v.stats();
    },
  );
  app.post<{ Params: Static<typeof NameParams> }>('/volumes/:name/failback', { schema: { params: NameParams } }, async (req) => {
    const v = get(req.params.name);
    try {
      await v.failBack();
    } catch (err) {
      if (isCoded(err, 'SHADOWPLANE_ERR_VALIDATION')) throw err;
      throw new ShadowplaneError('SHADOWPLANE_ERR_INTERNAL', `fail-back failed, still on the shadow: ${(err as Error).message}`);
    }
    return v.stats();
  });
  app.put<{ Params: Static<typeof NameParams>; Body: Static<typeof FaultsBody> }>(
    '/volumes/:name/faults',
    { schema: { params: NameParams, body: FaultsBody } },
    async (req) => {
      const v = get(req.params.name);
      const { device = 'live', ...faults } = req.body;
      if (device === 'shadow') v.injectShadowFaults(faults);
      else v.injectLiveFaults(faults);
      return { device, faults };
    },
  );
  return app;
}
