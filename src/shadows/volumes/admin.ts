/**
 * The volume service's admin HTTP API (the component kit's admin app), on its own port:
 * - GET  /v1/volumes                         names and sizes
 * - GET  /v1/volumes/:name                   placement, heat, cost and failover statistics
 * - GET  /v1/volumes/:name/data?offset&length  raw bytes (application/octet-stream)
 * - PUT  /v1/volumes/:name/data?offset       raw bytes in the body; 204 once durable
 * - POST /v1/volumes/:name/flush
 * - POST /v1/volumes/:name/failover          {reason?}: route I/O to the shadow now
 * - POST /v1/volumes/:name/failback          copy back and return to the live volume
 * - PUT  /v1/volumes/:name/faults            {addedLatencyMs, eio, device?}: fault injection (live or shadow)
 * Request schemas and answers follow the contract (contract.ts). Errors are problem+json with the
 * catalogue code; bad input names the field. With a token, every request but GET needs it.
 */
import type { FastifyInstance } from 'fastify';
import type { ListenerTimeouts } from '../../api/app.js';
import { ShadowplaneError, isCoded } from '../../core/errors.js';
import { buildAdmin as buildKitAdmin, startAdmin as startKitAdmin, type AdminRoutes, type AdminSpec } from '../kit/admin.js';
import { FailoverBody, FaultsBody, NameParams, ReadQuery, WriteQuery, type VolumeStats, type VolumesAnswer } from './contract.js';
import type { Volume } from './volume.js';

const spec = (token: string | undefined, timeouts: ListenerTimeouts | undefined): AdminSpec => ({
  name: 'volume-api', what: 'the volume API', bodyLimit: 33 * 1024 * 1024, token, tokenEnv: 'SHADOWPLANE_VOLUME_TOKEN', timeouts,
});

/** The `/v1` routes over a map of volumes. */
const routes = (volumes: ReadonlyMap<string, Volume>): AdminRoutes => async (app) => {
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  const get = (name: string): Volume => {
    const v = volumes.get(name);
    if (!v) throw new ShadowplaneError('SHADOWPLANE_ERR_NOT_FOUND', `no volume named ${name}`);
    return v;
  };

  app.get('/volumes', async (): Promise<VolumesAnswer> => [...volumes.values()].map((v) => ({ name: v.config.name, size: v.size, state: v.failover })));
  app.get('/volumes/:name', { schema: { params: NameParams } }, async (req): Promise<VolumeStats> => get(req.params.name).stats());
  app.get(
    '/volumes/:name/data',
    { schema: { params: NameParams, querystring: ReadQuery } },
    async (req, reply) => {
      const data = await get(req.params.name).read(req.query.offset, req.query.length);
      return reply.type('application/octet-stream').send(data);
    },
  );
  app.put(
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
  app.post('/volumes/:name/flush', { schema: { params: NameParams } }, async (req, reply) => {
    await get(req.params.name).flush();
    return reply.status(204).send();
  });
  app.post(
    '/volumes/:name/failover',
    { schema: { params: NameParams, body: FailoverBody } },
    async (req): Promise<VolumeStats> => {
      const v = get(req.params.name);
      v.failOver(req.body?.reason ?? 'operator request');
      return v.stats();
    },
  );
  app.post('/volumes/:name/failback', { schema: { params: NameParams } }, async (req): Promise<VolumeStats> => {
    const v = get(req.params.name);
    try {
      await v.failBack();
    } catch (err) {
      if (isCoded(err, 'SHADOWPLANE_ERR_VALIDATION')) throw err;
      throw new ShadowplaneError('SHADOWPLANE_ERR_INTERNAL', `fail-back failed, still on the shadow: ${(err as Error).message}`);
    }
    return v.stats();
  });
  app.put(
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
};

/**
 * Builds the API over a map of volumes (not yet listening). `token`, when set, is required as
 * `Authorization: Bearer <token>` on every request that changes state (writes included).
 */
export function buildAdmin(volumes: ReadonlyMap<string, Volume>, token?: string, timeouts?: ListenerTimeouts): FastifyInstance {
  return buildKitAdmin(spec(token, timeouts), routes(volumes));
}

/** Builds the API and listens on `at`; refuses a bind beyond loopback without a token. */
export function startAdmin(
  volumes: ReadonlyMap<string, Volume>,
  at: { host: string; port: number },
  token?: string,
  timeouts?: ListenerTimeouts,
): Promise<FastifyInstance> {
  return startKitAdmin(spec(token, timeouts), routes(volumes), at);
}
