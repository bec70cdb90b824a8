import assert from 'node:assert/strict';
import test from 'node:test';
import { quantile, quantileSorted } from '../../src/core/quantile.js';

test('quantile interpolates linearly between order statistics (numpy default)', () => {
  assert.equal(quantile([5, 1, 4, 2, 3], 0.5), 3);
  assert.equal(quantile([10, 0], 0.99), 9.9);
  assert.equal(quantile([1, 2, 3, 4], 0.25), 1.75);
  assert.equal(quantile([7], 0.99), 7);
  assert.equal(quantile([3, 1, 2], 0), 1);
  assert.equal(quantile([3, 1, 2], 1), 3);
});

test('quantile leaves its input alone, clamps q and answers `empty` for no values', () => {
  const xs = [3, 1, 2];
  quantile(xs, 0.5);
  assert.deepEqual(xs, [3, 1, 2]);
  assert.equal(quantile(xs, 2), 3);
  assert.equal(quantile(xs, -1), 1);
  assert.ok(Number.isNaN(quantile([], 0.5)));
  assert.equal(quantile([], 0.99, 0), 0);
  assert.ok(Number.isNaN(quantileSorted([], 0.5)));
});

test('a p99 of 1..100 is 99.01, between the 99th and 100th values', () => {
  const xs = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.ok(Math.abs(quantile(xs, 0.99) - 99.01) < 1e-9);
});
