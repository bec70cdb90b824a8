/**
 * The blocks whose shadow copy is stale: their last write was acknowledged durable on live while
 * the shadow write failed. Kept durably in a small file beside the shadow, so a restart does not
 * forget them; such blocks are never read from the shadow until the repair rewrites them.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';

/** The stale-on-shadow block list and its file. */
export class StaleList {
  private readonly blocks = new Set<number>();

  private constructor(private readonly path: string) {}

  /** Loads the list kept at `path` (empty when there is no file). */
  static async load(path: string): Promise<StaleList> {
    const list = new StaleList(path);
    const stale = await readFile(path, 'utf8').then((text) => JSON.parse(text) as number[], () => []);
    for (const b of stale) list.blocks.add(b);
    return list;
  }

  /** Number of stale blocks. */
  get size(): number {
    return this.blocks.size;
  }

  /** True when the shadow's copy of `block` is stale. */
  has(block: number): boolean {
    return this.blocks.has(block);
  }

  /** The stale blocks, in the order they became stale. */
  list(): number[] {
    return [...this.blocks];
  }

  /** Marks blocks `first`..`first+count-1` stale or current on the shadow, saving the list when it changed. */
  async mark(first: number, count: number, stale: boolean): Promise<void> {
    const before = this.blocks.size;
    for (let i = 0; i < count; i++) {
      if (stale) this.blocks.add(first + i);
      else this.blocks.delete(first + i);
    }
    if (this.blocks.size !== before) await this.save();
  }

  /** Marks one block current again (repaired); `save()` persists it. */
  repaired(block: number): void {
    this.blocks.delete(block);
  }

  /** Writes the list durably (write to a temporary file, then rename). */
  async save(): Promise<void> {
    const tmp = `${this.path}.tmp`;
    await writeFile(tmp, JSON.stringify([...this.blocks]), { flush: true });
    await rename(tmp, this.path);
  }
}
