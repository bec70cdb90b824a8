/**
 * The volume service's admin API contract (docs/volumes.md, "HTTP API"): the request and answer
 * schemas of its routes. The service's routes take their request schemas from here and return these
 * types; the control plane's volumes adapter checks every answer against them. Answers may carry
 * more fields than listed; the listed ones are the contract.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { Answer } from '../kit/contract.js';

const Count = Type.Integer({ minimum: 0 });

/** Where a volume's I/O goes: the live device, or the shadow after failover. */
export const FailoverState = Type.Union([Type.Literal('live'), Type.Literal('failed-over')]);

/** `GET /v1/volumes`: each volume's name, size (bytes) and failover state. */
export const VolumesAnswer = Type.Array(Type.Object({ name: Type.String(), size: Count, state: FailoverState }));
export type VolumesAnswer = Answer<typeof VolumesAnswer>;

/** A volume's placement, heat, cost and failover statistics: `GET /v1/volumes/:name`, and the answer to failover and failback. */
export const VolumeStats = Type.Object({
  name: Type.String(),
  blockSize: Count,
  blocks: Count,
  state: FailoverState,
  failoverReason: Type.Union([Type.String(), Type.Null()]),
  liveLatencyEwmaMs: Type.Number(),
  liveLatencyBaselineMs: Type.Union([Type.Number(), Type.Null()]),
  liveSlowThresholdMs: Type.Union([Type.Number(), Type.Null()]),
  liveErrors: Count,
  reads: Count,
  writes: Count,
  readsServedBy: Type.Record(Type.String(), Count),
  promotions: Count,
  copiesDone: Count,
  copiesDiscarded: Count,
  copiesDropped: Count,
  shadowStaleBlocks: Count,
  shadowRepairs: Count,
  tiers: Type.Array(Type.Object({ name: Type.String(), validBlocks: Count, capacityBlocks: Type.Union([Count, Type.Null()]), costPerMonth: Type.Number() })),
  hottest: Type.Array(Type.Object({ block: Count, reads: Count })),
});
export type VolumeStats = Answer<typeof VolumeStats>;

/** Path parameters of a volume's resources. */
export const NameParams = Type.Object({ name: Type.String() });
/** `GET /v1/volumes/:name/data`: the byte range read. */
export const ReadQuery = Type.Object({ offset: Type.Integer({ minimum: 0 }), length: Type.Integer({ minimum: 0, maximum: 32 * 1024 * 1024 }) });
/** `PUT /v1/volumes/:name/data`: where the body's bytes go. */
export const WriteQuery = Type.Object({ offset: Type.Integer({ minimum: 0 }) });
/** The longest failover reason the service takes. */
export const MAX_REASON = 200;
/** `POST /v1/volumes/:name/failover`: why. */
export const FailoverBody = Type.Object({ reason: Type.Optional(Type.String({ maxLength: MAX_REASON })) }, { additionalProperties: false });
export type FailoverBody = Static<typeof FailoverBody>;

/** `PUT /v1/volumes/:name/faults`: fault injection into the live device or the shadow. */
export const FaultsBody = Type.Object(
  {
    addedLatencyMs: Type.Number({ minimum: 0, maximum: 60000 }),
    eio: Type.Boolean(),
    device: Type.Optional(Type.Union([Type.Literal('live'), Type.Literal('shadow')], { description: 'which copy gets the faults (default live)' })),
  },
  { additionalProperties: false },
);
export type FaultsBody = Static<typeof FaultsBody>;
