import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { matches } from '../../src/core/validation.js';
import { EventSchema, isPlainEvent } from '../../src/ingest/schemas.js';

/** Values near and past each field's bounds, of right and wrong types. */
const anyValue = fc.oneof(
  fc.constantFrom('read', 'write', 'orders-db', 'Orders', '', 'a\u0000b', '\ud800', 'x'.repeat(64), 'x'.repeat(65), '2026-12-03T10:00:00Z', 'short'),
  fc.string({ maxLength: 70 }),
  fc.constantFrom(0, -1, 0.5, 1, 1.5, 999, 1000, 1e300, 2e300, -0, Number.NaN, Number.POSITIVE_INFINITY, 1_700_000_000_000),
  fc.double(),
  fc.integer(),
  fc.constantFrom(null, true, undefined, [], ['a'], [''], {}, Array.from({ length: 65 }, () => 'c')),
  fc.array(fc.string({ maxLength: 3 }), { maxLength: 3 }),
);

const valid = fc.record(
  {
    target: fc.constantFrom('orders-db', 'a', 'x.y_z-1'),
    op: fc.constantFrom('read', 'write'),
    table: fc.string({ minLength: 1, maxLength: 20 }),
    columns: fc.array(fc.string({ minLength: 1, maxLength: 10 }), { maxLength: 5 }),
    route: fc.string({ minLength: 1, maxLength: 20 }),
    bytes: fc.double({ min: 0, max: 1e300, noNaN: true }),
    rows: fc.integer({ min: 0, max: 1e9 }),
    latencyMs: fc.double({ min: 0, max: 1e6, noNaN: true }),
    status: fc.integer({ min: 0, max: 999 }),
    error: fc.string({ minLength: 1, maxLength: 64 }),
    user: fc.string({ minLength: 1, maxLength: 30 }),
    requestId: fc.string({ minLength: 1, maxLength: 128 }),
    samplingRate: fc.double({ min: 0.001, max: 1, noNaN: true }),
    at: fc.oneof(fc.integer({ min: 0, max: 2e12 }), fc.constant('2026-12-03T10:00:00Z')),
  },
  { requiredKeys: ['target', 'op', 'bytes', 'latencyMs', 'at'] },
);

test('the fast event check accepts only events the schema accepts', () => {
  const fields = ['target', 'op', 'table', 'columns', 'route', 'bytes', 'rows', 'latencyMs', 'status', 'error', 'user', 'requestId', 'samplingRate', 'at', 'extra'];
  const mutated = fc.tuple(valid, fc.array(fc.tuple(fc.constantFrom(...fields), anyValue), { maxLength: 3 })).map(([event, changes]) => {
    const e: Record<string, unknown> = { ...event };
    for (const [field, value] of changes) e[field] = value;
    return e;
  });
  fc.assert(
    fc.property(fc.oneof(mutated, anyValue), (item) => {
      if (isPlainEvent(item)) assert.ok(matches(EventSchema, item), JSON.stringify(item));
    }),
    { numRuns: 5000 },
  );
});

test('the fast event check accepts every event the schema accepts, from a JSON line', () => {
  fc.assert(
    fc.property(valid, (event) => {
      const item = JSON.parse(JSON.stringify(event)) as unknown;
      assert.equal(isPlainEvent(item), matches(EventSchema, item), JSON.stringify(item));
    }),
    { numRuns: 2000 },
  );
});
