import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { HashRing } from '../../../src/shadows/partitions/ring.js';

describe('hash ring', () => {
  it('adding a partition moves keys only to it, and about 1/(n+1) of them', () => {
    const keyLists = fc.array(fc.string({ minLength: 1, maxLength: 12 }), { minLength: 300, maxLength: 600 });
    fc.assert(fc.property(fc.integer({ min: 1, max: 12 }), keyLists, (n, keys) => {
      const before = new HashRing(Array.from({ length: n }, (_, i) => i), 64);
      const after = before.withPartition(n);
      let moved = 0;
      for (const k of keys) {
        const a = before.partitionOf(k);
        const b = after.partitionOf(k);
        if (a !== b) {
          assert.equal(b, n, `key ${k} moved from ${a} to ${b}, not to the new partition`);
          moved++;
        }
      }
      const distinct = new Set(keys).size;
      // Generous bound: the expected share is 1/(n+1); virtual nodes keep it near that.
      assert.ok(moved <= Math.ceil(distinct * (2.5 / (n + 1))) + 5, `${moved} of ${distinct} keys moved for ${n}→${n + 1}`);
    }), { numRuns: 30 });
  });

  it('removing a partition moves only its keys', () => {
    const ring = new HashRing([0, 1, 2, 3, 4], 64);
    const smaller = ring.withoutPartition(2);
    for (let i = 0; i < 2000; i++) {
      const k = `key-${i}`;
      if (ring.partitionOf(k) !== 2) assert.equal(smaller.partitionOf(k), ring.partitionOf(k));
    }
  });

  it('spreads keys roughly evenly and is stable across instances', () => {
    const a = new HashRing([0, 1, 2, 3], 128);
    const b = new HashRing([3, 2, 1, 0], 128);
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 8000; i++) {
      counts[a.partitionOf(`k${i}`)]++;
      assert.equal(a.partitionOf(`k${i}`), b.partitionOf(`k${i}`));
    }
    for (const c of counts) assert.ok(c > 1400 && c < 2600, counts.join(','));
  });

  it('rejects bad construction', () => {
    assert.throws(() => new HashRing([]), RangeError);
    assert.throws(() => new HashRing([1, 1]), RangeError);
    assert.throws(() => new HashRing([0], 0), RangeError);
  });
});
