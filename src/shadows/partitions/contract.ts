/**
 * The stream service's admin API contract (docs/partitions.md, "HTTP API"): the request and answer
 * schemas of the routes the control plane reads and drives. The service's routes take their request
 * schemas from here and return these types; the control plane's partitions adapter checks every
 * answer against them. Answers may carry more fields than listed; the listed ones are the contract.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { Answer } from '../kit/contract.js';

const Index = (what: string) => Type.Integer({ minimum: 0, errorMessage: `must be a ${what} number (an integer >= 0)` });
const Count = Type.Integer({ minimum: 0 });

/** A partition's second replica: a shadow being built, or the former primary kept after a switch. */
export const StandbyView = Type.Object({
  replica: Type.String(),
  worker: Count,
  role: Type.Union([Type.Literal('shadow'), Type.Literal('former')]),
  since: Type.Number(),
  caughtUpAt: Type.Optional(Type.Number()),
  behind: Count,
});
export type StandbyView = Answer<typeof StandbyView>;

/** One partition's state. */
export const PartitionView = Type.Object({
  partition: Count, worker: Count, epoch: Count, primary: Type.String(), end: Count, committed: Count,
  standby: Type.Optional(StandbyView), pinned: Type.Boolean(), forbidden: Type.Array(Count),
});
export type PartitionView = Answer<typeof PartitionView>;

/** `GET /v1/partitions`. */
export const PartitionsAnswer = Type.Array(PartitionView);
export type PartitionsAnswer = Answer<typeof PartitionsAnswer>;

/** `GET /v1/routing`: `owners[p]` is the worker consuming partition p. */
export const RoutingAnswer = Type.Object({ version: Count, owners: Type.Array(Count) });
export type RoutingAnswer = Answer<typeof RoutingAnswer>;

/** Path parameters of a partition's operator overrides. */
export const PartitionParams = Type.Object({ p: Index('partition') });
/** `POST /v1/partitions/:p/pin`. */
export const PinBody = Type.Object({ pinned: Type.Boolean() }, { additionalProperties: false });
export type PinBody = Static<typeof PinBody>;
/** `POST /v1/partitions/:p/forbid`. */
export const ForbidBody = Type.Object({ worker: Index('worker'), forbidden: Type.Boolean() }, { additionalProperties: false });
export type ForbidBody = Static<typeof ForbidBody>;
/** `POST /v1/partitions/:p/move`. */
export const MoveBody = Type.Object({ worker: Index('worker') }, { additionalProperties: false });
export type MoveBody = Static<typeof MoveBody>;
