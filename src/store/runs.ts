/**
 * Runs of float64s of varying length, carved out of shared chunks. An open window keeps its sketch
 * buckets and its per-second estimates in runs: as JavaScript arrays, each with an object and a
 * backing store of its own, they were more than half the heap of a fleet's half a million open
 * windows, all of it for the garbage collector to mark again and again.
 */

/** log2 of the doubles a chunk index counts for in a handle: no run is longer than this. */
const SPAN_BITS = 18;
const SPAN = 2 ** SPAN_BITS;
/** The longest run, in doubles. */
export const MAX_RUN = SPAN;

/**
 * The lengths a run can have: 2, 3, 4, 6, 8, 12, ... (each a third or a half longer than the one
 * before) up to MAX_RUN, so a run is never more than half again as long as asked for.
 */
const RUN_LENGTHS: readonly number[] = (() => {
  const lengths: number[] = [];
  for (let p = 2; p <= MAX_RUN; p *= 2) lengths.push(p, (3 * p) / 2);
  return lengths.filter((n) => n <= MAX_RUN);
})();

/**
 * Runs of float64s, carved out of chunks: each chunk into runs of one length (RUN_LENGTHS), a
 * freed run kept for the next run of its length. A run is known by its handle, a small integer
 * (chunk x 2^18 + offset), so whatever points at a run stores one number instead of a reference.
 * A run can also be read as float32s (f32(), at twice the offset). Its contents are undefined
 * until written.
 */
export class RunArena {
  private readonly chunks: Float64Array[] = [];
  /** The same chunks as float32s, made when first asked for. */
  private readonly chunks32: (Float32Array | undefined)[] = [];
  /** The RUN_LENGTHS index of each chunk's runs. */
  private readonly chunkClass: number[] = [];
  /** Freed handles, by RUN_LENGTHS index. */
  private readonly freed: number[][] = [];
  /** The chunk being carved, and the offset of its next run, by RUN_LENGTHS index. */
  private readonly carving: number[] = [];
  private readonly next: number[] = [];

  /** An arena whose chunks hold about `chunkLength` doubles (at least one run). */
  constructor(private readonly chunkLength = 65536) {}

  /** Doubles held in chunks, whether in runs or not. */
  get capacity(): number {
    let n = 0;
    for (const chunk of this.chunks) n += chunk.length;
    return n;
  }

  /** A run of at least `length` doubles (at most MAX_RUN); returns its handle. */
  alloc(length: number): number {
    if (!(length <= MAX_RUN)) throw new RangeError(`a run holds at most ${MAX_RUN} doubles, not ${length}`);
    let cls = 0;
    while (RUN_LENGTHS[cls] < length) cls++;
    const reused = this.freed[cls]?.pop();
    if (reused !== undefined) return reused;
    const runLength = RUN_LENGTHS[cls];
    let chunk = this.carving[cls];
    if (chunk === undefined || this.next[cls] + runLength > this.chunks[chunk].length) {
      chunk = this.chunks.length;
      if (chunk >= 2 ** (31 - SPAN_BITS)) throw new RangeError('the run arena is full');
      this.chunks.push(new Float64Array(Math.max(1, Math.floor(this.chunkLength / runLength)) * runLength));
      this.chunks32.push(undefined);
      this.chunkClass.push(cls);
      this.carving[cls] = chunk;
      this.next[cls] = 0;
    }
    const handle = chunk * SPAN + this.next[cls];
    this.next[cls] += runLength;
    return handle;
  }

  /** The chunk holding run `handle`; the run starts at offset(handle). */
  array(handle: number): Float64Array {
    return this.chunks[handle >>> SPAN_BITS];
  }

  /** The chunk holding run `handle` as float32s; the run starts at 2 x offset(handle). */
  f32(handle: number): Float32Array {
    const chunk = handle >>> SPAN_BITS;
    return (this.chunks32[chunk] ??= new Float32Array(this.chunks[chunk].buffer));
  }

  /** Where run `handle` starts in its chunk, in doubles. */
  offset(handle: number): number {
    return handle & (SPAN - 1);
  }

  /** The length of run `handle`, in doubles. */
  length(handle: number): number {
    return RUN_LENGTHS[this.chunkClass[handle >>> SPAN_BITS]];
  }

  /** Gives run `handle` back: it must not be used again. */
  free(handle: number): void {
    (this.freed[this.chunkClass[handle >>> SPAN_BITS]] ??= []).push(handle);
  }

  /** A run of at least `length` doubles holding the first `used` doubles of run `handle`, which is freed. */
  resize(handle: number, used: number, length: number): number {
    const grown = this.alloc(length);
    const at = this.offset(handle);
    this.array(grown).set(this.array(handle).subarray(at, at + used), this.offset(grown));
    this.free(handle);
    return grown;
  }
}
