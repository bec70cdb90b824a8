/**
 * The rollup engine: open windows in memory, per target, granularity and window start. Events and
 * samples land in the finest granularity; when a window closes (its end plus the allowed lateness
 * has passed) it is cut to the top K keys per dimension, marked final, and merged into its parent
 * window one granularity up. A flush takes every closed window and every open window that changed,
 * so the store always holds the full state of open windows and a restart can carry on from them.
 */
import type { Clock } from '../core/clock.js';
import { WindowPacker, type PackedWindows } from './row-pack.js';
import { sketchIndex } from './sketch.js';
import { DIMENSIONS, OTHER_KEY, TOTAL_KEY, Window, WindowValues, type Dimension, type WindowRow } from './window.js';

/** How the engine bounds time and cardinality. */
export interface RollupOptions {
  /** Window lengths in seconds, ascending, each dividing the next (e.g. [60, 300, 3600]). */
  granularities: number[];
  /** Keys kept per dimension in a closed window; the rest merge into `__other__`. */
  topK: number;
  /** Keys tracked per dimension in an open window before new keys go straight to `__other__`. */
  openKeysPerDimension: number;
  /** How long after its end a window still accepts late events, in seconds. */
  latenessSeconds: number;
}

/** A request event as the engine takes it: validated, sampled and pseudonymised already. */
export interface RollupEvent {
  op: string;
  table?: string;
  columns?: string[];
  route?: string;
  user?: string;
  bytes: number;
  rows?: number;
  latencyMs: number;
  error?: string;
  status?: number;
  at: number;
}

/**
 * Windows to persist, and the calls that settle the batch. The packed windows are read only until
 * the batch is settled: the engine then packs the next flush into the same memory.
 */
export interface FlushBatch {
  /** The windows, packed as the engine built them: closed ones (final) and open ones that changed. */
  readonly windows: PackedWindows;
  /** The same windows as rows, decoded when first read (before the batch is settled). */
  readonly rows: WindowRow[];
  /** Confirms the rows are durable: closed windows are forgotten, open ones marked clean. */
  done(): void;
  /** Reports the write failed: closed windows are kept for the next flush to retry. */
  failed(): void;
}

/**
 * The keyed dimensions in a fixed order, so a set finds a dimension's windows by array index
 * instead of a Map lookup (one of the seven window updates of every event).
 */
const KEYED_DIMENSIONS = DIMENSIONS.filter((d): d is KeyedDimension => d !== 'total');
type KeyedDimension = Exclude<Dimension, 'total'>;
const DIM_INDEX = Object.fromEntries(KEYED_DIMENSIONS.map((d, i) => [d, i])) as Record<KeyedDimension, number>;
const OP = DIM_INDEX.op;
const TABLE = DIM_INDEX.table;
const COLUMN = DIM_INDEX.column;
const USER = DIM_INDEX.user;
const ROUTE = DIM_INDEX.route;
const METRIC = DIM_INDEX.metric;

/** All windows of one target for one granularity and start. */
class WindowSet {
  readonly total: Window;
  /** Windows by key, one map per keyed dimension (indexed as KEYED_DIMENSIONS). */
  private readonly byDim: Map<string, Window>[] = KEYED_DIMENSIONS.map(() => new Map());
  /**
   * Column windows by table, then column: the column key is `table.column`, and building that
   * string for every column of every event (then hashing the new string) costs more than two
   * lookups of strings whose hashes are already known.
   */
  private readonly columnWindows = new Map<string, Map<string, Window>>();
  version = 1;
  flushedVersion = 0;

  constructor(
    readonly start: number,
    readonly granularity: number,
    private readonly keyLimit: number,
    private readonly values: WindowValues,
  ) {
    this.total = new Window(start, granularity, values);
  }

  /** The window for `dim`/`key`; beyond the open key limit a new key is folded into `__other__`. */
  window(dim: KeyedDimension, key: string): Window {
    return this.windowAt(DIM_INDEX[dim], key);
  }

  /** window() by dimension index (see KEYED_DIMENSIONS). */
  windowAt(dimIndex: number, key: string): Window {
    const byKey = this.byDim[dimIndex];
    let w = byKey.get(key);
    if (w) return w;
    if (byKey.size >= this.keyLimit) key = OTHER_KEY;
    w = byKey.get(key);
    if (!w) {
      w = new Window(this.start, this.granularity, this.values);
      byKey.set(key, w);
    }
    return w;
  }

  /**
   * The column window of `column` in `table` (key `table.column`, or just `column` without a
   * table). Caching the resolved window is exact: a key's window only changes in cutToTopK(),
   * which runs on a closed set, and that clears the cache.
   */
  columnWindow(table: string | undefined, column: string): Window {
    if (table === undefined) return this.windowAt(COLUMN, column);
    let byColumn = this.columnWindows.get(table);
    if (!byColumn) {
      byColumn = new Map();
      this.columnWindows.set(table, byColumn);
    }
    let w = byColumn.get(column);
    if (!w) {
      w = this.windowAt(COLUMN, table + '.' + column);
      byColumn.set(column, w);
    }
    return w;
  }

  /** Every keyed dimension with its windows, in KEYED_DIMENSIONS order. */
  *dims(): IterableIterator<[KeyedDimension, Map<string, Window>]> {
    for (let i = 0; i < KEYED_DIMENSIONS.length; i++) yield [KEYED_DIMENSIONS[i], this.byDim[i]];
  }

  /** Count of keyed windows, all dimensions. */
  keyCount(): number {
    let n = 0;
    for (const byKey of this.byDim) n += byKey.size;
    return n;
  }

  /** Keeps the top `k` keys per dimension by estimated count, folding the rest into `__other__`. */
  cutToTopK(k: number): void {
    this.columnWindows.clear();
    for (const byKey of this.byDim) {
      if (byKey.size <= k) continue;
      const ranked = [...byKey.entries()].filter(([key]) => key !== OTHER_KEY).sort((a, b) => b[1].estCount - a[1].estCount);
      const other = byKey.get(OTHER_KEY) ?? new Window(this.start, this.granularity, this.values);
      // Keep k - 1 named keys so that, with `__other__`, the window holds at most k keys.
      for (const [key, w] of ranked.slice(k - 1)) {
        other.merge(w);
        byKey.delete(key);
        w.release();
      }
      byKey.set(OTHER_KEY, other);
    }
  }

  /** Adds every window of `child` (a finer, closed set inside this one) into this set. */
  absorb(child: WindowSet): void {
    this.total.merge(child.total);
    for (let i = 0; i < KEYED_DIMENSIONS.length; i++) {
      for (const [key, w] of child.byDim[i]) this.windowAt(i, key).merge(w);
    }
    this.version++;
  }

  /** Releases every window's numbers (see Window.release): the set must not be used again. */
  release(): void {
    this.total.release();
    for (const byKey of this.byDim) for (const w of byKey.values()) w.release();
  }

  /** The windows of this set as rows (the live view reads them). */
  rows(target: string, final: boolean): WindowRow[] {
    const rows = [this.total.toRow(target, 'total', TOTAL_KEY, final)];
    for (const [dim, byKey] of this.dims()) {
      for (const [key, w] of byKey) rows.push(w.toRow(target, dim, key, final));
    }
    return rows;
  }

  /** Packs the windows of this set (no row objects: a flush packs hundreds of thousands). */
  packInto(packer: WindowPacker, target: string, final: boolean): void {
    packer.add(target, 'total', TOTAL_KEY, final, this.total);
    for (let i = 0; i < KEYED_DIMENSIONS.length; i++) {
      const dim = KEYED_DIMENSIONS[i];
      for (const [key, w] of this.byDim[i]) packer.add(target, dim, key, final, w);
    }
  }
}

/** Open windows of one target: one map of sets per granularity, finest first. */
class TargetWindows {
  readonly levels: Map<number, WindowSet>[];
  /** The finest set touched last: most events fall into the current window. */
  current: WindowSet | undefined;

  constructor(levelCount: number) {
    this.levels = Array.from({ length: levelCount }, () => new Map());
  }
}

/** Multi-granularity rollups of request events and metric samples, per target and dimension. */
export class RollupEngine {
  private readonly targets = new Map<string, TargetWindows>();
  /** The numbers of every open window (see WindowValues). */
  private readonly values = new WindowValues();
  /**
   * The packer of the last flush that settled, for the next flush to fill again (see WindowPacker:
   * a packer is reused only once its batch is settled); undefined while a flush holds it.
   */
  private packer: WindowPacker | undefined = new WindowPacker(1024, true);
  /** Closed windows of flushes that failed, for the next flush to write again. */
  private retry: PackedWindows[] = [];
  private readonly baseMs: number;

  constructor(
    private readonly options: RollupOptions,
    private readonly clock: Clock,
  ) {
    this.baseMs = options.granularities[0] * 1000;
  }

  /**
   * Whether an event at `at` can still be added: its finest window has not closed. The caller
   * rejects anything else with a reason rather than letting it vanish.
   */
  accepts(at: number): boolean {
    const end = Math.floor(at / this.baseMs) * this.baseMs + this.baseMs;
    return end + this.options.latenessSeconds * 1000 > this.clock.now();
  }

  /**
   * Adds one request event of `target`, sampled at `rate` (in (0, 1]). Reads the event's fields
   * and keeps no reference to it or its columns array, so a caller may reuse one object.
   */
  addEvent(target: string, event: RollupEvent, rate: number): void {
    const set = this.baseSet(target, event.at);
    const weight = 1 / rate;
    const index = sketchIndex(event.latencyMs);
    const failed = event.error !== undefined || (event.status !== undefined && event.status >= 500);
    const rows = event.rows ?? 0;
    const { at, latencyMs, bytes, table, columns, user, route } = event;
    set.version++;
    set.total.addRequest(at, latencyMs, index, bytes, rows, failed, weight, rate);
    set.windowAt(OP, event.op).addRequest(at, latencyMs, index, bytes, rows, failed, weight, rate);
    if (table !== undefined) set.windowAt(TABLE, table).addRequest(at, latencyMs, index, bytes, rows, failed, weight, rate);
    if (columns !== undefined) {
      for (let i = 0; i < columns.length; i++) set.columnWindow(table, columns[i]).addRequest(at, latencyMs, index, bytes, rows, failed, weight, rate);
    }
    if (user !== undefined) set.windowAt(USER, user).addRequest(at, latencyMs, index, bytes, rows, failed, weight, rate);
    if (route !== undefined) set.windowAt(ROUTE, route).addRequest(at, latencyMs, index, bytes, rows, failed, weight, rate);
  }

  /** Adds one resource-metric point to the series `seriesKey` of `target`. */
  addSample(target: string, seriesKey: string, at: number, value: number): void {
    const set = this.baseSet(target, at);
    set.version++;
    set.windowAt(METRIC, seriesKey).addSample(at, value);
  }

  /** Closes what is due and returns every window that needs writing; call done() once written. */
  takeFlush(): FlushBatch {
    const flush = this.flushSteps();
    while (!flush.next().done);
    return flush.batch();
  }

  /**
   * takeFlush() in time slices: packs windows for at most `sliceMs` at a time, then lets the event
   * loop run (ingest, the API, the loops) before the next slice. A fleet's flush packs hundreds of
   * thousands of windows, which in one go would stall the process for seconds. Windows that change
   * after they were packed stay changed, so the next flush writes them again.
   */
  async takeFlushSliced(sliceMs: number): Promise<FlushBatch> {
    const flush = this.flushSteps();
    for (;;) {
      const sliceEnd = performance.now() + sliceMs;
      let done = false;
      while (!(done = flush.next().done === true) && performance.now() < sliceEnd);
      if (done) return flush.batch();
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /**
   * One flush as steps, one per target: close its due windows, then pack its changed open
   * windows. Steps after the last leave the batch to take.
   */
  private flushSteps(): { next(): { done: boolean }; batch(): FlushBatch } {
    const now = this.clock.now();
    // A flush taken before the last one settled (a stop's) cannot reuse that one's packer.
    const packer = this.packer ?? new WindowPacker(1024, true);
    this.packer = undefined;
    // Room for every open window at once: growing a fleet's packer by doubling would allocate
    // (and copy) about twice its size in shared memory, which V8 counts as external memory, and
    // external memory growing by hundreds of megabytes forces full garbage collections.
    packer.reserve(this.values.size);
    for (const part of this.retry) packer.addPacked(part);
    this.retry = [];
    const flushed: { set: WindowSet; version: number }[] = [];
    const targets = [...this.targets.keys()];
    let i = 0;
    return {
      next: () => {
        if (i >= targets.length) return { done: true };
        const target = targets[i++];
        const tw = this.targets.get(target);
        if (!tw) return { done: false };
        this.closeTarget(target, tw, now, packer);
        for (const sets of tw.levels) {
          for (const set of sets.values()) {
            if (set.version === set.flushedVersion) continue;
            set.packInto(packer, target, false);
            flushed.push({ set, version: set.version });
          }
        }
        return { done: false };
      },
      batch: () => this.batch(packer, flushed),
    };
  }

  /** The batch of what `packer` holds: closed windows and open ones (their sets at `flushed` versions). */
  private batch(packer: WindowPacker, flushed: { set: WindowSet; version: number }[]): FlushBatch {
    const windows = packer.finish();
    let rows: WindowRow[] | undefined;
    let settled = false;
    return {
      windows,
      get rows() {
        return (rows ??= windows.rows());
      },
      done: () => {
        if (settled) return;
        settled = true;
        for (const f of flushed) f.set.flushedVersion = f.version;
        this.packer = packer;
      },
      failed: () => {
        if (settled) return;
        settled = true;
        // The closed windows (the final ones) are kept; the open ones are still unflushed and
        // the next flush packs them again as they are then.
        const closed = new WindowPacker(windows.count);
        for (let r = 0; r < windows.count; r++) if (windows.final(r)) closed.addPacked(windows.slice(r, r + 1));
        this.retry.push(closed.finish());
        this.packer = packer;
      },
    };
  }

  /**
   * Closes the due windows of one target (finest first, each rolled into its parent), packing them
   * into `packer`; forgets a target left with none.
   */
  private closeTarget(target: string, tw: TargetWindows, now: number, packer: WindowPacker): void {
    const lateness = this.options.latenessSeconds * 1000;
    const grans = this.options.granularities;
    tw.levels.forEach((sets, level) => {
      const spanMs = grans[level] * 1000;
      for (const [start, set] of sets) {
        if (start + spanMs + lateness > now) continue;
        set.cutToTopK(this.options.topK);
        set.packInto(packer, target, true);
        sets.delete(start);
        if (tw.current === set) tw.current = undefined;
        const parentLevel = level + 1;
        if (parentLevel < grans.length) this.parentSet(tw, parentLevel, start).absorb(set);
        set.release();
      }
    });
    if (tw.levels.every((sets) => sets.size === 0)) this.targets.delete(target);
  }

  /** Rebuilds open windows from their stored, non-final rows (after a restart). */
  restore(rows: Iterable<WindowRow>): void {
    const grans = this.options.granularities;
    // each row is read into one scratch window, merged, and released
    const scratch = new WindowValues(1);
    for (const row of rows) {
      const level = grans.indexOf(row.granularity);
      if (level < 0 || row.final) continue;
      let tw = this.targets.get(row.target);
      if (!tw) {
        tw = new TargetWindows(grans.length);
        this.targets.set(row.target, tw);
      }
      const set = this.parentSet(tw, level, row.start);
      const w = Window.fromRow(row, scratch);
      if (row.dim === 'total') set.total.merge(w);
      else set.window(row.dim, row.key).merge(w);
      w.release();
      set.flushedVersion = set.version;
    }
  }

  /** The open windows of `target` at the finest granularity, oldest first, as rows. */
  openRows(target: string): WindowRow[] {
    const tw = this.targets.get(target);
    if (!tw) return [];
    return [...tw.levels[0].values()].sort((a, b) => a.start - b.start).flatMap((set) => set.rows(target, false));
  }

  /** Count of open windows (all targets, granularities, dimensions and keys). */
  openWindowCount(): number {
    let n = 0;
    for (const tw of this.targets.values()) {
      for (const sets of tw.levels) {
        for (const set of sets.values()) {
          n += 1 + set.keyCount();
        }
      }
    }
    return n;
  }

  private baseSet(target: string, at: number): WindowSet {
    let tw = this.targets.get(target);
    if (!tw) {
      tw = new TargetWindows(this.options.granularities.length);
      this.targets.set(target, tw);
    }
    const start = at - (at % this.baseMs);
    const current = tw.current;
    if (current && current.start === start) return current;
    const set = this.parentSet(tw, 0, start);
    tw.current = set;
    return set;
  }

  private parentSet(tw: TargetWindows, level: number, at: number): WindowSet {
    const spanMs = this.options.granularities[level] * 1000;
    const start = at - (at % spanMs);
    let set = tw.levels[level].get(start);
    if (!set) {
      set = new WindowSet(start, spanMs / 1000, this.options.openKeysPerDimension, this.values);
      tw.levels[level].set(start, set);
    }
    return set;
  }
}
