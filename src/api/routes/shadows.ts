/**
 * The shadow components (src/control/shadows): list them with their last status, register and
 * remove them, relay operator actions — starting a migration and its commands to a traffic proxy,
 * pin / forbid / move to a stream service, fail-over / fail-back to a volume service, the rates of
 * a PostgreSQL interceptor — and read each one's audit trail. Every action needs `why`; it is recorded with who asked, whatever the outcome.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { TargetName } from '../../core/schema.js';
import { ShadowConfig } from '../../config.js';
import { MIGRATION_COMMANDS } from '../../control/shadows/components.js';
import type { ShadowRegistry } from '../../control/shadows/registry.js';
import { ShadowplaneError } from '../../core/errors.js';
import { Actor, requester, Who, Why } from '../who.js';

const NameParams = Type.Object({ name: TargetName });
const RouteParams = Type.Object({
  name: TargetName,
  route: Type.String({ minLength: 1, maxLength: 128, description: 'The proxy route.' }),
  command: Type.Union(MIGRATION_COMMANDS.map((c) => Type.Literal(c)), { description: 'promote (accept the step, go to the next), pause, resume, abort (all traffic back to the primary), rollback (to the last good weight).' }),
});
const StartParams = Type.Object({ name: TargetName, route: RouteParams.properties.route });
const PartitionParams = Type.Object({ name: TargetName, partition: Type.Integer({ minimum: 0, maximum: 100000, errorMessage: 'must be a partition number (an integer >= 0)' }) });
const VolumeParams = Type.Object({
  name: TargetName,
  volume: Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$', errorMessage: 'must be a volume name: 1-64 letters, digits, "-" or "_"' }),
  command: Type.Union([Type.Literal('failover'), Type.Literal('failback')]),
});
const Worker = Type.Integer({ minimum: 0, maximum: 100000, errorMessage: 'must be a worker number (an integer >= 0)' });
const RegisterBody = Type.Composite([ShadowConfig, Type.Object({ actor: Actor, why: Type.Optional(Why) })], { additionalProperties: false });
const RemoveBody = Type.Union([Type.Object({ actor: Actor, why: Type.Optional(Why) }, { additionalProperties: false }), Type.Null()]);
const CommandBody = Type.Object({ ...Who }, { additionalProperties: false });
const PinBody = Type.Object({ pinned: Type.Boolean({ description: 'true: policies must not move the partition; false: unpin.' }), ...Who }, { additionalProperties: false });
const ForbidBody = Type.Object({ worker: Worker, forbidden: Type.Boolean({ description: 'true: the worker may not host the partition; false: allowed again.' }), ...Who }, { additionalProperties: false });
const MoveBody = Type.Object({ worker: Worker, ...Who }, { additionalProperties: false });
const StartBody = Type.Object({
  steps: Type.Optional(Type.Array(Type.Number({ exclusiveMinimum: 0, maximum: 1, errorMessage: 'must be a share of live traffic above 0 and at most 1' }), {
    minItems: 1, maxItems: 20, errorMessage: 'must list 1 to 20 shares of live traffic', description: 'The shares of live traffic the shadow takes, step by step; default: the route\'s migration policy.',
  })),
  ...Who,
}, { additionalProperties: false });
const rate = (description: string) => Type.Optional(Type.Number({ minimum: 0, maximum: 1, errorMessage: 'must be a number between 0 and 1', description }));
const RATES = ['sampleRate', 'writeRate', 'readRate'] as const;
const RatesBody = Type.Object({
  sampleRate: rate('Share of queries sampled into telemetry.'),
  writeRate: rate('Share of writes replayed on the shadow (only when one is fed).'),
  readRate: rate('Share of reads replayed on the shadow (only when one is fed).'),
  ...Who,
}, { additionalProperties: false });
const LimitQuery = Type.Object({ limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }) });

/** What the shadow routes use. */
export interface ShadowRouteDeps {
  readonly shadows: Pick<ShadowRegistry, 'list' | 'register' | 'get' | 'remove' | 'auditTrail' | 'act'>;
}

/** /v1/shadows and its actions. */
export const shadowRoutes: FastifyPluginAsyncTypebox<ShadowRouteDeps> = async (app, { shadows: reg }) => {
  const tags = ['shadows'];
  const security = [{ bearer: [] }];

  app.get('/v1/shadows', { schema: { tags, summary: 'Every shadow component with the status last read from its admin API (`reachable` false with `error` when the last read failed; `status` is then the last one seen).' } }, async () => ({ shadows: reg.list() }));

  app.post(
    '/v1/shadows',
    { schema: { tags, summary: 'Register a shadow component (kind, admin URL, optional token and target); its status is read once before the answer.', body: RegisterBody, security } },
    async (req, reply) => {
      const { actor: _a, why: _w, ...spec } = req.body;
      const created = await reg.register(spec, requester(req, req.body));
      return reply.code(201).header('location', `/v1/shadows/${created.name}`).send(created);
    },
  );

  app.get('/v1/shadows/:name', { schema: { tags, summary: 'One shadow component and its last status.', params: NameParams } }, async (req) => reg.get(req.params.name));

  app.delete(
    '/v1/shadows/:name',
    { schema: { tags, summary: 'Remove a component registered through the API (one declared in the config file stays: SHADOWPLANE_ERR_SHADOW_DECLARED).', params: NameParams, body: RemoveBody, security } },
    async (req, reply) => {
      await reg.remove(req.params.name, requester(req, req.body ?? {}));
      return reply.code(204).send();
    },
  );

  app.get(
    '/v1/shadows/:name/audit',
    { schema: { tags, summary: 'Who asked what of this component, when, why, and the outcome; newest first.', params: NameParams, querystring: LimitQuery } },
    async (req) => ({ audit: await reg.auditTrail(req.params.name, req.query.limit) }),
  );

  app.post(
    '/v1/shadows/:name/routes/:route/migration/:command',
    { schema: { tags, summary: 'A command to the migration of a traffic proxy route.', params: RouteParams, body: CommandBody, security } },
    async (req) => reg.act(req.params.name, { op: 'migration', route: req.params.route, command: req.params.command }, requester(req, req.body)),
  );

  app.post(
    '/v1/shadows/:name/routes/:route/migrations',
    { schema: { tags, summary: 'Start a migration of a traffic proxy route to its shadow (the reason goes along); optional steps replace the route policy\'s.', params: StartParams, body: StartBody, security } },
    async (req, reply) => reply.code(201).send(await reg.act(req.params.name, { op: 'migration-start', route: req.params.route, ...(req.body.steps ? { steps: req.body.steps } : {}) }, requester(req, req.body))),
  );

  app.post(
    '/v1/shadows/:name/partitions/:partition/pin',
    { schema: { tags, summary: 'Pin a stream partition to its worker (or unpin it).', params: PartitionParams, body: PinBody, security } },
    async (req) => reg.act(req.params.name, { op: 'pin', partition: req.params.partition, pinned: req.body.pinned }, requester(req, req.body)),
  );

  app.post(
    '/v1/shadows/:name/partitions/:partition/forbid',
    { schema: { tags, summary: 'Forbid (or allow again) a worker as a home for a stream partition.', params: PartitionParams, body: ForbidBody, security } },
    async (req) => reg.act(req.params.name, { op: 'forbid', partition: req.params.partition, worker: req.body.worker, forbidden: req.body.forbidden }, requester(req, req.body)),
  );

  app.post(
    '/v1/shadows/:name/partitions/:partition/move',
    { schema: { tags, summary: 'Move a stream partition to a worker now (a shadow there, then a switch-over).', params: PartitionParams, body: MoveBody, security } },
    async (req) => reg.act(req.params.name, { op: 'move', partition: req.params.partition, worker: req.body.worker }, requester(req, req.body)),
  );

  app.post(
    '/v1/shadows/:name/volumes/:volume/:command',
    { schema: { tags, summary: 'Fail a volume over to its shadow now (the reason goes along), or fail it back to the live device.', params: VolumeParams, body: CommandBody, security } },
    async (req) => reg.act(req.params.name, { op: req.params.command, volume: req.params.volume }, requester(req, req.body)),
  );

  app.put(
    '/v1/shadows/:name/rates',
    { schema: { tags, summary: 'Change the rates of a PostgreSQL interceptor: sampling, and the shares of writes and reads replayed on its shadow.', params: NameParams, body: RatesBody, security } },
    async (req) => {
      const rates = Object.fromEntries(RATES.filter((k) => req.body[k] !== undefined).map((k) => [k, req.body[k]]));
      if (Object.keys(rates).length === 0) throw new ShadowplaneError('SHADOWPLANE_ERR_VALIDATION', 'no rate to change', [{ path: '/body', message: `must set at least one of ${RATES.join(', ')}` }]);
      return reg.act(req.params.name, { op: 'rates', ...rates }, requester(req, req.body));
    },
  );
};
