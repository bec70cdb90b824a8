/**
 * Sequential readahead in the style of Linux's on-demand readahead (mm/readahead.c), applied to
 * the fast tier: a stream's window starts at 2-4x the request size (`get_init_ra_size`), grows 4x
 * then 2x up to the maximum each time the stream reaches the window's async marker
 * (`get_next_ra_size`), and an I/O that continues no stream is read as is and starts a fresh,
 * empty stream (a random access resets it). Linux keeps one such state per open file; a volume is
 * shared by many streams, so a small table of streams is kept, least recently continued dropped
 * first (as storage controllers do).
 */
import type { ArcPolicy, Predictor } from './arc.js';
import type { IoRequest } from './policy.js';

/** Readahead tuning. */
export interface ReadaheadOptions {
  /** Largest window in blocks (Linux's default read_ahead_kb is 128 KiB). */
  readonly maxBlocks: number;
  /** Streams tracked at once. */
  readonly streams: number;
}

/** Linux's default window (128 KiB) in blocks of `blockBytes`, and 32 streams. */
export function readaheadDefaults(blockBytes: number): ReadaheadOptions {
  return { maxBlocks: Math.max(1, Math.floor((128 * 1024) / blockBytes)), streams: 32 };
}

interface Stream {
  /** Current window [start, start+size); size 0: no window yet (only the last I/O is known). */
  start: number;
  size: number;
  /** The last `async` blocks of the window: reaching them starts the next window. */
  async: number;
  /** Block after the stream's last I/O. */
  next: number;
}

function roundUpPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/** Linux's get_init_ra_size. */
export function initialWindow(requestBlocks: number, max: number): number {
  const size = roundUpPow2(requestBlocks);
  if (size <= max / 32) return size * 4;
  if (size <= max / 4) return size * 2;
  return max;
}

/** Linux's get_next_ra_size. */
export function nextWindow(current: number, max: number): number {
  if (current < max / 16) return current * 4;
  if (current <= max / 2) return current * 2;
  return max;
}

/** The readahead predictor; copies counted as `readahead`. */
export class Readahead implements Predictor {
  private readonly streams: Stream[] = [];
  /** Windows opened or advanced (for tests and reports). */
  windows = 0;

  constructor(private readonly opts: ReadaheadOptions) {
    if (!Number.isInteger(opts.maxBlocks) || opts.maxBlocks < 1) throw new RangeError('maxBlocks must be an integer >= 1');
    if (!Number.isInteger(opts.streams) || opts.streams < 1) throw new RangeError('streams must be an integer >= 1');
  }

  /** The stream this I/O continues: it starts where the last one ended, or inside the window. */
  private find(start: number): number {
    for (let i = 0; i < this.streams.length; i++) {
      const s = this.streams[i];
      if (start === s.next || (s.size > 0 && start >= s.start && start < s.start + s.size)) return i;
    }
    return -1;
  }

  /** Current windows, most recently continued last (for tests). */
  state(): readonly Readonly<Stream>[] {
    return this.streams;
  }

  after(io: IoRequest, arc: ArcPolicy): void {
    const end = io.start + io.count;
    const max = this.opts.maxBlocks;
    const i = this.find(io.start);
    if (i < 0) {
      // Random access: read as is; remember where it ended, with no window.
      if (this.streams.length >= this.opts.streams) this.streams.shift();
      this.streams.push({ start: io.start, size: 0, async: 0, next: end });
      return;
    }
    const s = this.streams[i];
    this.streams.splice(i, 1);
    this.streams.push(s);
    s.next = Math.max(s.next, end);
    if (s.size === 0 || io.start >= s.start + s.size) {
      // Sequential miss: the initial window starts at the request.
      s.start = io.start;
      s.size = initialWindow(io.count, max);
      s.async = s.size > io.count ? s.size - io.count : s.size;
      this.fill(arc, s.start, s.size);
      return;
    }
    if (end > s.start + s.size - s.async) {
      // The stream reached the async marker: push the window forward and grow it.
      s.start += s.size;
      s.size = nextWindow(s.size, max);
      s.async = s.size;
      this.fill(arc, s.start, s.size);
    }
  }

  private fill(arc: ArcPolicy, start: number, size: number): void {
    this.windows++;
    for (let b = start; b < start + size; b++) arc.prefetch(b, 'readahead');
  }
}
