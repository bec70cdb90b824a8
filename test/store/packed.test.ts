/** The packed form of the window values PostgreSQL keeps in one byte string. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { packWindowValues, unpackWindowValues } from '../../src/store/sql.js';
import { Window } from '../../src/store/window.js';

const base = () => {
  const w = new Window(60_000, 60);
  w.addSample(61_000, 3);
  return w.toRow('t', 'metric', 'cpu', true);
};

test('every kind of number comes back exactly: whole, fractional, negative, -0, NaN, huge', () => {
  const edges = [0, 1, 63, 64, 2 ** 53 - 1, 0.25, -3, -0, Number.NaN, 1e300, -1e300, 2 ** 53 + 2];
  for (const v of edges) {
    const row = { ...base(), rows: v, estErrors: v, sum: v, min: v, max: v, peak: v, rate: v, last: v, lastAt: v };
    const back = unpackWindowValues(packWindowValues(row));
    for (const field of ['rows', 'estErrors', 'sum', 'min', 'max', 'peak', 'rate', 'last', 'lastAt'] as const) assert.ok(Object.is(back[field], v), `${field}: ${back[field]} for ${v}`);
    assert.ok(back.sketch.equals(row.sketch));
  }
});

test('small whole numbers take a byte each', () => {
  const row = { ...base(), rows: 5, estErrors: 0, sum: 40, min: 1, max: 30, peak: 2, rate: 1, last: Number.NaN, lastAt: 0 };
  assert.equal(packWindowValues(row).length, 1 + 9 + row.sketch.length);
});

test('a truncated or unknown form is refused', () => {
  const packed = packWindowValues({ ...base(), sum: 0.5 });
  assert.throws(() => unpackWindowValues(packed.subarray(0, 5)), RangeError);
  assert.throws(() => unpackWindowValues(Buffer.from([9, 0])), /unknown version 9/);
});
