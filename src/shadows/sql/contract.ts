/**
 * The PostgreSQL interceptor's admin API contract (docs/sql.md, "Admin API"): the request and
 * answer schemas of `GET /v1/status` and `PUT /v1/rates`. The interceptor's routes take their
 * request schema from here and return these types; the control plane's sql adapter checks every
 * answer against them. Answers may carry more fields than listed; the listed ones are the contract.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { Answer } from '../kit/contract.js';

const Rate = Type.Number({ minimum: 0, maximum: 1, errorMessage: 'must be a number between 0 and 1' });
const Counters = Type.Record(Type.String(), Type.Unknown());

/** The current rates: the sample rate, and the shadow's write and read rates when one is fed. */
export const RatesAnswer = Type.Object({ sampleRate: Rate, writeRate: Type.Optional(Rate), readRate: Type.Optional(Rate) });
export type RatesAnswer = Answer<typeof RatesAnswer>;

/** `PUT /v1/rates`: any of the rates, each in [0, 1]. */
export const RatesBody = Type.Object(
  { sampleRate: Type.Optional(Rate), writeRate: Type.Optional(Rate), readRate: Type.Optional(Rate) },
  { additionalProperties: false },
);
export type RatesBody = Static<typeof RatesBody>;

/** `GET /v1/status`: the rates, the byte source (`native`, `js` or `tap`) and the counters of each part. */
export const StatusAnswer = Type.Object({
  rates: RatesAnswer,
  engine: Type.String(),
  proxy: Counters,
  sink: Counters,
  mirror: Type.Union([Counters, Type.Null()]),
});
export type StatusAnswer = Answer<typeof StatusAnswer>;
