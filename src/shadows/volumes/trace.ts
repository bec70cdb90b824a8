/**
 * Block-trace readers for the tier-replay harness. A trace is a list of I/Os (first block, block
 * count, time); `blockRequests` turns it into the per-block request stream published figures use.
 * - `arc` (the ARC paper's `.lis` files): `start nblocks ignore reqno`; one line is one I/O of
 *   blocks start..start+nblocks-1. The format has no clock: an I/O's time is its line index.
 * - `cloudphysics` (CSV `version,time,op,size,lbn` with a header): one row is one I/O of
 *   ceil(size/512) sectors from `lbn`, at `time` (seconds).
 * Files ending in `.zst` are streamed through the `zstd` command (never decompressed to disk).
 */
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { access } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { ShadowplaneError, type FieldProblem } from '../../core/errors.js';

/** The trace formats the harness understands. */
export type TraceFormat = 'arc' | 'cloudphysics';

/** The list of formats, for argument validation. */
export const TRACE_FORMATS: readonly TraceFormat[] = ['arc', 'cloudphysics'];

/** Sector size of the cloudphysics format's `size` and `lbn` fields. */
const SECTOR_BYTES = 512;

/** A decoded trace: one entry per I/O, in arrival order. */
export interface IoTrace {
  /** First block of each I/O; blocks are opaque ids (up to 2^53). */
  readonly start: Float64Array;
  /** Blocks covered by each I/O (at least 1). */
  readonly count: Uint32Array;
  /** Arrival time of each I/O in seconds; the I/O index when the format has no clock. */
  readonly time: Float64Array;
  /** True when `time` comes from the trace's own clock. */
  readonly timed: boolean;
  /** Lines read from the file. */
  readonly lines: number;
}

/** One parsed line: an I/O of `count` blocks from `start` at `time` (undefined: no clock). */
export interface TraceIo {
  readonly start: number;
  readonly count: number;
  readonly time: number | undefined;
}

/** Most bad lines reported before giving up on a file. */
const MAX_PROBLEMS = 20;

function openLines(path: string): { input: Readable; done: Promise<void> } {
  if (!path.endsWith('.zst')) {
    const input = createReadStream(path);
    return { input, done: Promise.resolve() };
  }
  const child = spawn('zstd', ['-dc', '--', path], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<void>((resolve, reject) => {
    child.on('error', (err) =>
      reject(new ShadowplaneError('SHADOWPLANE_ERR_INPUT_FILE', `cannot run zstd to decompress ${path}: ${err.message}`)),
    );
    child.on('close', (code) =>
      code === 0
        ? resolve()
        : reject(new ShadowplaneError('SHADOWPLANE_ERR_INPUT_FILE', `zstd failed on ${path} (exit ${code}): ${stderr.trim()}`)),
    );
  });
  return { input: child.stdout, done };
}

const NON_NEGATIVE_INT = /^\d+$/;
const NON_NEGATIVE_NUMBER = /^\d+(\.\d+)?$/;

/**
 * Parses one trace line into the I/O it stands for. Returns the I/O, undefined for a blank line,
 * or a problem message (a string) when the line breaks the format's rule.
 */
export function parseTraceLine(format: TraceFormat, text: string): TraceIo | string | undefined {
  const trimmed = text.trim();
  if (trimmed === '') return undefined;
  if (format === 'arc') {
    const f = trimmed.split(/\s+/);
    if (f.length < 2) return 'expected "start nblocks ignore reqno"';
    if (!NON_NEGATIVE_INT.test(f[0]) || !NON_NEGATIVE_INT.test(f[1])) return 'start and nblocks must be non-negative integers';
    const start = Number(f[0]);
    const count = Number(f[1]);
    if (count < 1 || !Number.isSafeInteger(start + count)) return 'nblocks must be at least 1 and start+nblocks a safe integer';
    return { start, count, time: undefined };
  }
  const f = trimmed.split(',').map((s) => s.trim());
  if (f.length !== 5) return 'expected 5 fields "version,time,op,size,lbn"';
  if (!NON_NEGATIVE_NUMBER.test(f[1])) return 'time must be a non-negative number';
  if (!NON_NEGATIVE_INT.test(f[3]) || Number(f[3]) < 1) return 'size must be a positive integer (bytes)';
  if (!NON_NEGATIVE_INT.test(f[4])) return 'lbn must be a non-negative integer';
  const start = Number(f[4]);
  const count = Math.ceil(Number(f[3]) / SECTOR_BYTES);
  if (!Number.isSafeInteger(start + count)) return 'lbn+size/512 must be a safe integer';
  return { start, count, time: Number(f[1]) };
}

/** A growable column of numbers. */
class Column<A extends Float64Array | Uint32Array> {
  n = 0;
  constructor(
    private data: A,
    private readonly make: (n: number) => A,
  ) {}
  push(v: number): void {
    if (this.n === this.data.length) {
      const grown = this.make(this.data.length * 2);
      grown.set(this.data);
      this.data = grown;
    }
    this.data[this.n++] = v;
  }
  done(): A {
    return this.data.subarray(0, this.n) as A;
  }
}

/**
 * Reads a whole trace into memory (20 bytes per I/O). Fails with SHADOWPLANE_ERR_INPUT_FILE when
 * the file is missing, zstd fails, or any line breaks the format (each bad line is named).
 */
export async function readBlockTrace(path: string, format: TraceFormat): Promise<IoTrace> {
  try {
    await access(path);
  } catch {
    throw new ShadowplaneError('SHADOWPLANE_ERR_INPUT_FILE', `trace file ${path} cannot be read`);
  }
  const size = 1 << 16;
  const start = new Column(new Float64Array(size), (n) => new Float64Array(n));
  const count = new Column(new Uint32Array(size), (n) => new Uint32Array(n));
  const time = new Column(new Float64Array(size), (n) => new Float64Array(n));
  const { input, done } = openLines(path);
  const problems: FieldProblem[] = [];
  let line = 0;
  for await (const text of createInterface({ input, crlfDelay: Infinity })) {
    line++;
    if (format === 'cloudphysics' && line === 1 && text.startsWith('version')) continue;
    const io = parseTraceLine(format, text);
    if (io === undefined) continue;
    if (typeof io === 'string') {
      if (problems.length < MAX_PROBLEMS) problems.push({ path: `line ${line}`, message: io });
      continue;
    }
    time.push(io.time ?? start.n);
    start.push(io.start);
    count.push(io.count);
  }
  await done;
  if (problems.length > 0) {
    throw new ShadowplaneError('SHADOWPLANE_ERR_INPUT_FILE', `trace ${path} has bad lines for format ${format}`, problems);
  }
  return { start: start.done(), count: count.done(), time: time.done(), timed: format !== 'arc', lines: line };
}

/** Builds an I/O trace from [start, count, time?] triples (tests, hand-made traces). */
export function ioTrace(ios: readonly (readonly [number, number, number?])[]): IoTrace {
  return {
    start: Float64Array.from(ios, (io) => io[0]),
    count: Uint32Array.from(ios, (io) => io[1]),
    time: Float64Array.from(ios, (io, i) => io[2] ?? i),
    timed: ios.some((io) => io[2] !== undefined),
    lines: ios.length,
  };
}

/**
 * The per-block request stream of the literature, as a trace of one-block I/Os: for `arc` every
 * block of a line is one request, in order; for `cloudphysics` each row is one request for its
 * `lbn` (the size is ignored), as published cache simulators read this sample.
 */
export function blockRequests(trace: IoTrace, format: TraceFormat): IoTrace {
  if (format === 'cloudphysics') return { ...trace, count: new Uint32Array(trace.start.length).fill(1) };
  let total = 0;
  for (const c of trace.count) total += c;
  const start = new Float64Array(total);
  const time = new Float64Array(total);
  let k = 0;
  for (let i = 0; i < trace.start.length; i++) {
    for (let j = 0; j < trace.count[i]; j++) {
      start[k] = trace.start[i] + j;
      time[k++] = trace.timed ? trace.time[i] : k - 1;
    }
  }
  return { start, count: new Uint32Array(total).fill(1), time, timed: trace.timed, lines: trace.lines };
}
