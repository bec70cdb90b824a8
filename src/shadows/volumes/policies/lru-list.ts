/**
 * An ordered set of blocks, least recently set first, with O(1) set (to most recent), delete and
 * peek at the least recent. A Map in insertion order would do the same, but V8 leaves deleted
 * entries in place until it rehashes, so peeking at the first key after many deletions from the
 * front costs time proportional to the list size: with ARC's ghost lists on a tier of tens of
 * thousands of blocks that made replays ten times slower.
 */
interface Node {
  readonly key: number;
  prev: Node | null;
  next: Node | null;
}

/** See the module comment. */
export class LruList {
  private readonly nodes = new Map<number, Node>();
  private head: Node | null = null;
  private tail: Node | null = null;

  /** Number of blocks in the list. */
  get size(): number {
    return this.nodes.size;
  }

  /** True when the block is in the list. */
  has(key: number): boolean {
    return this.nodes.has(key);
  }

  private unlink(n: Node): void {
    if (n.prev) n.prev.next = n.next;
    else this.head = n.next;
    if (n.next) n.next.prev = n.prev;
    else this.tail = n.prev;
    n.prev = n.next = null;
  }

  /** Removes the block; false when it was not in the list. */
  delete(key: number): boolean {
    const n = this.nodes.get(key);
    if (n === undefined) return false;
    this.unlink(n);
    this.nodes.delete(key);
    return true;
  }

  /** Adds the block as the most recent (moving it there if present). */
  set(key: number): void {
    let n = this.nodes.get(key);
    if (n === undefined) {
      n = { key, prev: null, next: null };
      this.nodes.set(key, n);
    } else {
      if (n === this.tail) return;
      this.unlink(n);
    }
    n.prev = this.tail;
    if (this.tail) this.tail.next = n;
    else this.head = n;
    this.tail = n;
  }

  /** The least recent block (undefined when empty). */
  lru(): number | undefined {
    return this.head?.key;
  }
}
