import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { QuantileSketch, SKETCH_RELATIVE_ACCURACY } from '../../src/store/sketch.js';

function exactQuantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(q * (sorted.length - 1))];
}

test('quantiles are within the relative accuracy of the true rank value', () => {
  fc.assert(
    fc.property(fc.array(fc.double({ min: 0.01, max: 1e5, noNaN: true }), { minLength: 1, maxLength: 300 }), fc.constantFrom(0, 0.5, 0.9, 0.95, 0.99, 1), (values, q) => {
      const sketch = new QuantileSketch();
      for (const v of values) sketch.add(v);
      const truth = exactQuantile(values, q);
      assert.ok(Math.abs(sketch.quantile(q) - truth) <= truth * SKETCH_RELATIVE_ACCURACY * 1.0001, `q${q}: ${sketch.quantile(q)} vs ${truth}`);
    }),
  );
});

test('merging two sketches equals one sketch of all values, and survives the buffer form', () => {
  fc.assert(
    fc.property(fc.array(fc.double({ min: 0, max: 1e6, noNaN: true })), fc.array(fc.double({ min: 0, max: 1e6, noNaN: true })), (a, b) => {
      const sa = new QuantileSketch();
      const sb = new QuantileSketch();
      const all = new QuantileSketch();
      for (const v of a) { sa.add(v); all.add(v); }
      for (const v of b) { sb.add(v); all.add(v); }
      sa.merge(sb);
      assert.ok(sa.equals(all));
      assert.equal(sa.count, a.length + b.length);
      const copy = QuantileSketch.fromBuffer(sa.toBuffer());
      assert.ok(copy.equals(all));
      assert.equal(copy.count, all.count);
    }),
  );
});

test('zero and an empty sketch are handled', () => {
  const s = new QuantileSketch();
  assert.ok(Number.isNaN(s.quantile(0.5)));
  s.add(0);
  s.add(0);
  s.add(10);
  assert.equal(s.quantile(0.5), 0);
  assert.ok(Math.abs(s.quantile(1) - 10) <= 10 * SKETCH_RELATIVE_ACCURACY);
  assert.throws(() => QuantileSketch.fromBuffer(Buffer.from(s.toBuffer().subarray(0, 17))), RangeError);
});
