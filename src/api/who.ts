/**
 * Who asks for a change and why, the same way on every mutating route: the body's `actor`, else
 * the caller's identity (`token` when a bearer token was sent, else `local:<address>`), and the
 * body's `why`, which goes into the audit trail.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';

/** The `actor` field of a change. */
export const Actor = Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: 'Who asks (a person or system). Default: the caller\'s identity (`token` when a bearer token was sent, else `local:<address>`).' }));

/** The `why` field of a change. */
export const Why = Type.String({ minLength: 1, maxLength: 1024, description: 'Why: recorded in the audit trail.', errorMessage: 'must say why (1 to 1024 characters)' });

/** `actor` and a required `why`, to spread into a body schema. */
export const Who = { actor: Actor, why: Why };

/** What the audit trail says when an optional reason was not given. */
export const NO_REASON = 'no reason given';

/** Who asks: the body's actor, else the caller's identity; the body's why, else NO_REASON. */
export function requester(req: FastifyRequest, body: { actor?: string; why?: string }): { actor: string; why: string } {
  return { actor: body.actor ?? (req.headers.authorization ? 'token' : `local:${req.ip}`), why: body.why ?? NO_REASON };
}
