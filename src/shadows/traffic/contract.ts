/**
 * The traffic proxy's admin API contract (docs/traffic.md, "Admin API"): the request and answer
 * schemas of the routes the control plane reads and drives. The proxy's admin routes take their
 * request schemas from here and return these types; the service's traffic adapter checks every
 * answer against them. Answers may carry more fields than listed (a newer proxy adds some); the
 * listed ones are the contract. Pure data: no runtime code of the proxy is imported.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { Answer } from '../kit/contract.js';

/** Commands of a running migration (`POST /v1/routes/:name/migration/:command`). */
export const MIGRATION_COMMANDS = ['promote', 'pause', 'resume', 'abort', 'rollback'] as const;
export type MigrationCommand = (typeof MIGRATION_COMMANDS)[number];

const Count = Type.Integer({ minimum: 0 });
const Share = Type.Number({ minimum: 0, maximum: 1 });

/** One upstream's health as the proxy sees it. */
export const UpstreamStatus = Type.Object({
  origin: Type.String(),
  healthy: Type.Boolean(),
  ejected: Type.Boolean(),
  available: Type.Boolean(),
  lastProbeMs: Type.Number(),
});
export type UpstreamStatus = Answer<typeof UpstreamStatus>;

/** A route as the proxy runs it: its configuration (defaults filled in) and live state. */
export const RouteView = Type.Object({
  config: Type.Object({
    name: Type.String(),
    host: Type.Optional(Type.String()),
    pathPrefix: Type.Optional(Type.String()),
    mirror: Type.Optional(Type.Object({ fraction: Type.Optional(Share) })),
  }),
  weight: Share,
  mirror: Type.Union([Type.Object({ inFlight: Count, breakerOpen: Type.Boolean() }), Type.Null()]),
  upstreams: Type.Object({ primary: UpstreamStatus, shadow: Type.Union([UpstreamStatus, Type.Null()]), secondary: Type.Union([UpstreamStatus, Type.Null()]) }),
  migration: Type.Union([Type.Object({ id: Type.String(), status: Type.String(), weight: Share }), Type.Null()]),
});
export type RouteView = Answer<typeof RouteView>;

/** `GET /v1/routes`. */
export const RoutesAnswer = Type.Object({ routes: Type.Array(RouteView) });
export type RoutesAnswer = Answer<typeof RoutesAnswer>;

/** Path parameters of a route's resources. */
export const RouteParams = Type.Object({ name: Type.String({ minLength: 1 }) });

/** `GET /v1/routes/:name/comparison`: the count of each mirror outcome and the comparison summary. */
export const ComparisonAnswer = Type.Object({
  route: Type.String(),
  mirror: Type.Record(Type.String(), Count),
  comparison: Type.Object({
    compared: Count, matches: Count, mismatches: Count, noise: Count, mismatchRate: Share,
    kinds: Type.Record(Type.String(), Count),
    examples: Type.Array(Type.Object({ path: Type.String(), kind: Type.String(), count: Count })),
  }),
});
export type ComparisonAnswer = Answer<typeof ComparisonAnswer>;

/** A migration: `GET /v1/routes/:name/migration`, and the answer to starting one or to a command. */
export const MigrationView = Type.Object({
  id: Type.String(),
  route: Type.String(),
  status: Type.Union(['running', 'paused', 'completed', 'rolled_back', 'aborted'].map((s) => Type.Literal(s))),
  reason: Type.String(),
  steps: Type.Array(Share),
  stepIndex: Count,
  weight: Share,
  lastGoodWeight: Share,
  stepStartedAt: Type.Number(),
  history: Type.Array(Type.Object({ at: Type.Number(), event: Type.String(), weight: Share })),
});
export type MigrationView = Answer<typeof MigrationView>;

/**
 * `POST /v1/routes/:name/migrations`: why, and policy fields over the route's migration policy
 * (checked by the proxy against the policy's own schema, errors under `/policy`).
 */
export const MigrationStartBody = Type.Object(
  { reason: Type.Optional(Type.String({ maxLength: 1000 })), policy: Type.Optional(Type.Object({})) },
  { additionalProperties: false },
);
export type MigrationStartBody = Static<typeof MigrationStartBody>;

/** Path parameters of a migration command. */
export const MigrationCommandParams = Type.Object({
  name: Type.String({ minLength: 1 }),
  command: Type.Union(MIGRATION_COMMANDS.map((c) => Type.Literal(c)), { errorMessage: `must be one of ${MIGRATION_COMMANDS.join(', ')}` }),
});
