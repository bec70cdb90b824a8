/**
 * Key → partition by consistent hashing with virtual nodes. Each partition owns `vnodes` points on
 * a 32-bit ring; a key belongs to the first point at or after its hash. Adding a partition moves
 * only the keys that land on its new points (about 1/(n+1) of them), and only to it.
 */
import { createHash } from 'node:crypto';

/** 32-bit hash of a string: the first four bytes of its MD5 (well spread, stable across processes). */
export function hash32(text: string): number {
  return createHash('md5').update(text).digest().readUInt32BE(0);
}

/** An immutable consistent-hash ring over partition numbers. */
export class HashRing {
  private readonly points: Uint32Array;
  private readonly owners: Int32Array;
  /** The partitions on the ring, ascending. */
  readonly partitions: readonly number[];

  /**
   * Builds the ring. Fails with RangeError when `partitions` is empty, has duplicates or
   * non-integers, or `vnodes` is not a positive integer.
   */
  constructor(partitions: readonly number[], readonly vnodes = 128) {
    if (partitions.length === 0) throw new RangeError('a hash ring needs at least one partition');
    if (!Number.isInteger(vnodes) || vnodes < 1) throw new RangeError('vnodes must be a positive integer');
    if (new Set(partitions).size !== partitions.length || partitions.some((p) => !Number.isInteger(p) || p < 0)) {
      throw new RangeError('partitions must be distinct non-negative integers');
    }
    this.partitions = [...partitions].sort((a, b) => a - b);
    const entries: [number, number][] = [];
    for (const p of this.partitions) for (let v = 0; v < vnodes; v++) entries.push([hash32(`partition-${p}#${v}`), p]);
    // Ties (rare) are broken by partition so every process builds the same ring.
    entries.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    this.points = Uint32Array.from(entries, (e) => e[0]);
    this.owners = Int32Array.from(entries, (e) => e[1]);
  }

  /** The partition that owns `key`. Never fails. */
  partitionOf(key: string): number {
    const h = hash32(key);
    let lo = 0;
    let hi = this.points.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.points[mid] < h) lo = mid + 1;
      else hi = mid;
    }
    return this.owners[lo === this.points.length ? 0 : lo];
  }

  /** A new ring with `partition` added (the receiver is unchanged). Fails like the constructor. */
  withPartition(partition: number): HashRing {
    return new HashRing([...this.partitions, partition], this.vnodes);
  }

  /** A new ring without `partition`. Fails when it would leave the ring empty. */
  withoutPartition(partition: number): HashRing {
    return new HashRing(this.partitions.filter((p) => p !== partition), this.vnodes);
  }
}
