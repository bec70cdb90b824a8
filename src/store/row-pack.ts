/**
 * Windows packed for writing: a flush's windows as columns of numbers, string indexes and sketch
 * bytes rather than one object per window. A fleet's flush writes hundreds of thousands of
 * windows; as WindowRow objects (each with a sketch Buffer of its own) they were most of the
 * flush's garbage on the main thread, then again on the SQLite writer thread that unpacked them.
 * The rollup engine packs its windows straight into this form (WindowPacker), the packed arrays
 * live in shared memory (SharedArrayBuffer), so posting them to the writer thread copies nothing,
 * and the writer binds each window's values from them without building a row. A WindowRow is made only
 * when one is asked for (row(), rows(), iteration): quarantining a refused window, a spill file,
 * PostgreSQL's writes.
 *
 * Three arrays, for n windows: n x NUMBERS float64s (NUMBER_FIELDS), n x INTS uint32s (target, dim
 * and key as indexes into `strings`, the final flag, where the window's sketch lies in `bytes` and
 * its length), and every sketch's bytes.
 */
import { ByteWriter, growableShared, growShared } from './bytes.js';
import type { Dimension, Window, WindowRow } from './window.js';

/** The numeric fields of a window, in their packed order. */
export const NUMBER_FIELDS = [
  'granularity', 'start', 'count', 'estCount', 'bytes', 'estBytes', 'rows', 'errors', 'estErrors',
  'sum', 'min', 'max', 'peak', 'rate', 'last', 'lastAt',
] as const satisfies readonly (keyof WindowRow)[];
/** Float64s per window. */
export const NUMBERS = NUMBER_FIELDS.length;
/** Uint32s per window: target, dim, key (string indexes), final (0 / 1), sketch offset, sketch length. */
export const INTS = 6;

/** What a PackedWindows holds: plain data, as structured clone carries it to another thread. */
export interface PackedWindowsData {
  readonly count: number;
  /** count x NUMBERS, in NUMBER_FIELDS order. */
  readonly numbers: Float64Array;
  /** count x INTS. */
  readonly ints: Uint32Array;
  /** The sketches; a window's offset (ints) counts from the start of this array. */
  readonly bytes: Uint8Array;
  /** The strings the windows name, by index. */
  readonly strings: readonly string[];
}

/** Windows to write, packed (see the module's comment); iterating yields them as WindowRows. */
export class PackedWindows implements PackedWindowsData, Iterable<WindowRow> {
  readonly count: number;
  readonly numbers: Float64Array;
  readonly ints: Uint32Array;
  readonly bytes: Uint8Array;
  readonly strings: readonly string[];

  /** Wraps packed data (a PackedWindows itself, or its data received from another thread). */
  constructor(data: PackedWindowsData) {
    this.count = data.count;
    this.numbers = data.numbers;
    this.ints = data.ints;
    this.bytes = data.bytes;
    this.strings = data.strings;
  }

  /** No windows. */
  static readonly EMPTY = new PackedWindows({ count: 0, numbers: new Float64Array(0), ints: new Uint32Array(0), bytes: new Uint8Array(0), strings: [] });

  /** `rows` packed. */
  static of(rows: readonly WindowRow[]): PackedWindows {
    const packer = new WindowPacker(rows.length);
    for (const row of rows) packer.addRow(row);
    return packer.finish();
  }

  /** `parts` one after the other, as one PackedWindows (a part alone is returned as it is). */
  static concat(parts: readonly PackedWindows[]): PackedWindows {
    const nonEmpty = parts.filter((p) => p.count > 0);
    if (nonEmpty.length <= 1) return nonEmpty[0] ?? PackedWindows.EMPTY;
    const packer = new WindowPacker(nonEmpty.reduce((n, p) => n + p.count, 0));
    for (const part of nonEmpty) packer.addPacked(part);
    return packer.finish();
  }

  /** Windows in the batch (as an array's length, so rows and packed windows read alike). */
  get length(): number {
    return this.count;
  }

  /** The target of window `i`. */
  target(i: number): string {
    return this.strings[this.ints[i * INTS]];
  }

  /** The dimension of window `i`. */
  dim(i: number): Dimension {
    return this.strings[this.ints[i * INTS + 1]] as Dimension;
  }

  /** The key of window `i`. */
  key(i: number): string {
    return this.strings[this.ints[i * INTS + 2]];
  }

  /** Whether window `i` is final. */
  final(i: number): boolean {
    return this.ints[i * INTS + 3] === 1;
  }

  /** The sketch of window `i`, viewing the packed bytes (no copy). */
  sketch(i: number): Buffer {
    const ib = i * INTS;
    return Buffer.from(this.bytes.buffer, this.bytes.byteOffset + this.ints[ib + 4], this.ints[ib + 5]);
  }

  /** Window `i` as a WindowRow (its sketch views the packed bytes). */
  row(i: number): WindowRow {
    // One literal with every field (in NUMBER_FIELDS order): fields added one by one would make each
    // row a slow dictionary object, and a PostgreSQL flush decodes hundreds of thousands.
    const n = this.numbers;
    const b = i * NUMBERS;
    return {
      target: this.target(i), dim: this.dim(i), key: this.key(i), final: this.final(i),
      granularity: n[b], start: n[b + 1], count: n[b + 2], estCount: n[b + 3], bytes: n[b + 4], estBytes: n[b + 5], rows: n[b + 6],
      errors: n[b + 7], estErrors: n[b + 8], sum: n[b + 9], min: n[b + 10], max: n[b + 11], peak: n[b + 12], rate: n[b + 13],
      last: n[b + 14], lastAt: n[b + 15], sketch: this.sketch(i),
    };
  }

  /** Every window as a WindowRow. */
  rows(): WindowRow[] {
    const rows = new Array<WindowRow>(this.count);
    for (let i = 0; i < this.count; i++) rows[i] = this.row(i);
    return rows;
  }

  *[Symbol.iterator](): Iterator<WindowRow> {
    for (let i = 0; i < this.count; i++) yield this.row(i);
  }

  /** Windows `from` to `to` (exclusive), viewing the same arrays (no copy). */
  slice(from = 0, to = this.count): PackedWindows {
    from = Math.max(0, Math.min(from, this.count));
    to = Math.max(from, Math.min(to, this.count));
    return new PackedWindows({
      count: to - from,
      numbers: this.numbers.subarray(from * NUMBERS, to * NUMBERS),
      ints: this.ints.subarray(from * INTS, to * INTS),
      bytes: this.bytes,
      strings: this.strings,
    });
  }

  /** The plain data, to post to another thread (shared memory is shared, not copied). */
  data(): PackedWindowsData {
    return { count: this.count, numbers: this.numbers, ints: this.ints, bytes: this.bytes, strings: this.strings };
  }
}

/** Windows to write: rows, or windows packed (what a flush gives). */
export type WindowWrite = readonly WindowRow[] | PackedWindows;

/** `windows` packed (rows are packed; packed windows are returned as they are). */
export function packedWindows(windows: WindowWrite): PackedWindows {
  return windows instanceof PackedWindows ? windows : PackedWindows.of(windows);
}

/**
 * Builds a PackedWindows window by window, in shared memory from the start: finish() hands out
 * views of the arrays filled so far, so a flush's windows are written once and never copied.
 * The packer then starts over in the same arrays: the views stay valid until the next add, so a
 * packer is added to again only once what it finished is no longer read (the rollup engine
 * reuses its packer once the flush is settled). Fresh arrays for every flush would be a fleet's
 * hundred megabytes of shared memory a flush, resident until the garbage collector frees them.
 */
export class WindowPacker {
  private count = 0;
  private numbers!: Float64Array;
  private ints!: Uint32Array;
  private readonly sketches: ByteWriter;
  private strings: string[] = [];
  private readonly indexOf = new Map<string, number>();

  /**
   * A packer with room for `capacity` windows before it grows. A `growable` packer, for one filled
   * again and again as the open windows grow (the rollup engine's), grows its buffers in place
   * (see growableShared()); the others are sized once and copied when they grow.
   */
  constructor(
    capacity = 1024,
    private readonly growable = false,
  ) {
    capacity = Math.max(capacity, 16);
    this.sketches = new ByteWriter(capacity * 32, growable ? 'growable' : true);
    this.allocate(capacity);
  }

  /** Windows added so far. */
  get size(): number {
    return this.count;
  }

  /** Adds an in-memory window with its series and final flag (as Window.toRow() would give it). */
  add(target: string, dim: Dimension, key: string, final: boolean, w: Window): void {
    const r = this.next();
    const n = this.numbers;
    const nb = r * NUMBERS;
    const empty = w.count === 0;
    n[nb] = w.granularity;
    n[nb + 1] = w.start;
    n[nb + 2] = w.count;
    n[nb + 3] = w.estCount;
    n[nb + 4] = w.bytes;
    n[nb + 5] = w.estBytes;
    n[nb + 6] = w.rows;
    n[nb + 7] = w.errors;
    n[nb + 8] = w.estErrors;
    n[nb + 9] = w.sum;
    n[nb + 10] = empty ? Number.NaN : w.min;
    n[nb + 11] = empty ? Number.NaN : w.max;
    n[nb + 12] = w.peak;
    n[nb + 13] = w.rate;
    n[nb + 14] = w.last;
    n[nb + 15] = w.lastAt;
    const at = this.sketches.size;
    w.writeSketch(this.sketches);
    this.setInts(r, target, dim, key, final, at, this.sketches.size - at);
  }

  /** Adds a window given as a row. */
  addRow(row: WindowRow): void {
    const r = this.next();
    const nb = r * NUMBERS;
    for (let f = 0; f < NUMBERS; f++) this.numbers[nb + f] = row[NUMBER_FIELDS[f]];
    const at = this.sketches.size;
    this.sketches.bytes(row.sketch);
    this.setInts(r, row.target, row.dim, row.key, row.final, at, row.sketch.length);
  }

  /** Adds every window of `packed`. */
  addPacked(packed: PackedWindows): void {
    for (let i = 0; i < packed.count; i++) {
      const r = this.next();
      this.numbers.set(packed.numbers.subarray(i * NUMBERS, (i + 1) * NUMBERS), r * NUMBERS);
      const at = this.sketches.size;
      const sketch = packed.sketch(i);
      this.sketches.bytes(sketch);
      this.setInts(r, packed.target(i), packed.dim(i), packed.key(i), packed.final(i), at, sketch.length);
    }
  }

  /** Makes room for `more` windows beyond those added, in one allocation. */
  reserve(more: number): void {
    const need = this.count + more;
    if (need * NUMBERS <= this.numbers.length) return;
    this.grow(need);
    this.sketches.reserve(more * 32);
  }

  /**
   * The windows added (views of the packer's shared arrays); the packer starts over empty in the
   * same arrays, so the views are valid until the next add.
   */
  finish(): PackedWindows {
    const n = this.count;
    if (n === 0) return PackedWindows.EMPTY;
    const packed = new PackedWindows({
      count: n,
      numbers: this.numbers.subarray(0, n * NUMBERS),
      ints: this.ints.subarray(0, n * INTS),
      bytes: this.sketches.view(),
      strings: this.strings,
    });
    this.count = 0;
    this.sketches.rewind();
    this.strings = [];
    this.indexOf.clear();
    return packed;
  }

  private allocate(capacity: number): void {
    const shared = (bytes: number) => (this.growable ? growableShared(bytes) : new SharedArrayBuffer(bytes));
    this.numbers = new Float64Array(shared(capacity * NUMBERS * 8));
    this.ints = new Uint32Array(shared(capacity * INTS * 4));
  }

  /** The index of the next window, growing the arrays when full. */
  private next(): number {
    if (this.count * NUMBERS === this.numbers.length) this.grow(2 * this.count);
    return this.count++;
  }

  /** Grows the arrays to room for `capacity` windows: in place, or else by moving the windows added into new ones. */
  private grow(capacity: number): void {
    const numbersBuffer = this.numbers.buffer as SharedArrayBuffer;
    const intsBuffer = this.ints.buffer as SharedArrayBuffer;
    if (growShared(numbersBuffer, capacity * NUMBERS * 8) && growShared(intsBuffer, capacity * INTS * 4)) {
      this.numbers = new Float64Array(numbersBuffer);
      this.ints = new Uint32Array(intsBuffer);
      return;
    }
    const numbers = this.numbers.subarray(0, this.count * NUMBERS);
    const ints = this.ints.subarray(0, this.count * INTS);
    this.allocate(capacity);
    this.numbers.set(numbers);
    this.ints.set(ints);
  }

  private setInts(r: number, target: string, dim: string, key: string, final: boolean, sketchAt: number, sketchLength: number): void {
    const ib = r * INTS;
    const ints = this.ints;
    ints[ib] = this.intern(target);
    ints[ib + 1] = this.intern(dim);
    ints[ib + 2] = this.intern(key);
    ints[ib + 3] = final ? 1 : 0;
    ints[ib + 4] = sketchAt;
    ints[ib + 5] = sketchLength;
  }

  private intern(s: string): number {
    let i = this.indexOf.get(s);
    if (i === undefined) {
      i = this.strings.push(s) - 1;
      this.indexOf.set(s, i);
    }
    return i;
  }
}
