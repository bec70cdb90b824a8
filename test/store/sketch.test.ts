import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { QuantileSketch, SKETCH_RELATIVE_ACCURACY } from '../../src/store/sketch.js';

function exactQuantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(q * (sorted.length - 1))];
}

test('quantiles are within the relative accuracy of the true rank value', () => {
  const valueLists = fc.array(fc.double({ min: 0.01, max: 1e5, noNaN: true }), { minLength: 1, maxLength: 300 });
  fc.assert(
    fc.property(valueLists, fc.constantFrom(0, 0.5, 0.9, 0.95, 0.99, 1), (values, q) => {
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
  const buf = s.toBuffer();
  assert.throws(() => QuantileSketch.fromBuffer(buf.subarray(0, buf.length - 1)), RangeError);
  assert.throws(() => QuantileSketch.fromBuffer(Buffer.concat([buf, Buffer.from([1])])), RangeError);
});

test('the stored form is sparse: a one-value sketch takes a few bytes, however far its bucket lies', () => {
  for (const v of [0.001, 1, 12.5, 1e9]) {
    const s = new QuantileSketch();
    s.add(v);
    assert.ok(s.toBuffer().length <= 6, `${v}: ${s.toBuffer().length} bytes`);
  }
  const wide = new QuantileSketch();
  wide.add(0.25);
  wide.add(100);
  assert.ok(wide.toBuffer().length <= 10);
});

test('weighted counts round-trip as float64s', () => {
  const s = new QuantileSketch();
  s.add(3, 0.5);
  s.add(300, 2);
  const back = QuantileSketch.fromBuffer(s.toBuffer());
  assert.ok(back.equals(s));
  assert.equal(back.count, 2.5);
});

test('counts stay exact past what a packed bucket holds (2^33) and when weights are not whole, merged either way', () => {
  const big = 2 ** 33;
  for (const weights of [[big - 1, 1, 5], [0.5, 0.25, 3], [1, 1, 1]]) {
    const direct = new QuantileSketch();
    const first = new QuantileSketch();
    const second = new QuantileSketch();
    weights.forEach((w, i) => {
      direct.add(10 + i, w);
      direct.add(10, w);
      (i % 2 === 0 ? first : second).add(10 + i, w);
      (i % 2 === 0 ? second : first).add(10, w);
    });
    const sum = weights.reduce((a, b) => a + b, 0);
    assert.equal(direct.count, 2 * sum);
    for (const [into, from] of [[first, second], [second, first]]) {
      const merged = QuantileSketch.fromBuffer(into.toBuffer());
      merged.merge(from);
      assert.ok(merged.equals(direct), `merged ${weights}`);
    }
    const back = QuantileSketch.fromBuffer(direct.toBuffer());
    assert.ok(back.equals(direct));
    // half of the weight sits at 10, so the median is 10 within the accuracy
    assert.ok(Math.abs(back.quantile(0.25) - 10) <= 10 * SKETCH_RELATIVE_ACCURACY, `${weights}: ${back.quantile(0.25)}`);
  }
  // A stored bucket index no value can have is a malformed buffer; a value the ingest path would
  // refuse is still counted rather than thrown.
  const farIndex = [0xd1, 0, 1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40, 1]; // zigzag(2^40) as a varint
  assert.throws(() => QuantileSketch.fromBuffer(Uint8Array.from(farIndex)), RangeError);
  const odd = new QuantileSketch();
  for (const v of [Number.NaN, Number.POSITIVE_INFINITY, 5]) odd.add(v);
  assert.equal(odd.count, 3);
  assert.ok(QuantileSketch.fromBuffer(odd.toBuffer()).equals(odd));
});

test('the dense form of earlier releases (spill files, quarantined rows) still reads', () => {
  // [zeroCount f64][offset i32][n i32][counts f64 x n]: one zero, buckets 250 (x2) and 252 (x1)
  const dense = Buffer.alloc(16 + 3 * 8);
  dense.writeDoubleLE(1, 0);
  dense.writeInt32LE(250, 8);
  dense.writeInt32LE(3, 12);
  dense.writeDoubleLE(2, 16);
  dense.writeDoubleLE(1, 32);
  const expected = QuantileSketch.fromBuckets(1, [250, 252], [2, 1]);
  const back = QuantileSketch.fromBuffer(dense);
  assert.ok(back.equals(expected));
  assert.equal(back.count, 4);
  assert.equal(back.quantile(1), expected.quantile(1));
});
