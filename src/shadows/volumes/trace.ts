/**
 * Block-trace readers for the tier-replay harness. Two formats, with the semantics published
 * figures use:
 * - `arc` (the ARC paper's `.lis` files): `start nblocks ignore reqno`; every block of the range
 *   start..start+nblocks-1 is one request, in order.
 * - `cloudphysics` (CSV `version,time,op,size,lbn` with a header): each row is one request for
 *   block `lbn`.
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

/** A decoded trace: one block number per request, in request order. */
export interface BlockTrace {
  /** Block numbers; blocks are opaque ids (up to 2^53). */
  readonly blocks: Float64Array;
  /** Lines read from the file (a multi-block `arc` line yields several requests). */
  readonly lines: number;
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

/**
 * Parses one trace line into the requests it stands for and appends them with `push`.
 * Returns a problem message when the line breaks the format's rule, undefined when it is good or blank.
 */
export function parseTraceLine(format: TraceFormat, text: string, push: (block: number) => void): string | undefined {
  const trimmed = text.trim();
  if (trimmed === '') return undefined;
  if (format === 'arc') {
    const f = trimmed.split(/\s+/);
    if (f.length < 2) return 'expected "start nblocks ignore reqno"';
    if (!NON_NEGATIVE_INT.test(f[0]) || !NON_NEGATIVE_INT.test(f[1])) return 'start and nblocks must be non-negative integers';
    const start = Number(f[0]);
    const n = Number(f[1]);
    if (n < 1 || !Number.isSafeInteger(start + n)) return 'nblocks must be at least 1 and start+nblocks a safe integer';
    for (let i = 0; i < n; i++) push(start + i);
    return undefined;
  }
  const f = trimmed.split(',');
  if (f.length !== 5) return 'expected 5 fields "version,time,op,size,lbn"';
  if (!NON_NEGATIVE_INT.test(f[4].trim())) return 'lbn must be a non-negative integer';
  const lbn = Number(f[4].trim());
  if (!Number.isSafeInteger(lbn)) return 'lbn must be a safe integer';
  push(lbn);
  return undefined;
}

/**
 * Reads a whole trace into memory (8 bytes per request). Fails with SHADOWPLANE_ERR_INPUT_FILE when
 * the file is missing, zstd fails, or any line breaks the format (each bad line is named).
 */
export async function readBlockTrace(path: string, format: TraceFormat): Promise<BlockTrace> {
  try {
    await access(path);
  } catch {
    throw new ShadowplaneError('SHADOWPLANE_ERR_INPUT_FILE', `trace file ${path} cannot be read`);
  }
  let blocks = new Float64Array(1 << 20);
  let n = 0;
  const push = (b: number): void => {
    if (n === blocks.length) {
      const grown = new Float64Array(blocks.length * 2);
      grown.set(blocks);
      blocks = grown;
    }
    blocks[n++] = b;
  };
  const { input, done } = openLines(path);
  const problems: FieldProblem[] = [];
  let line = 0;
  for await (const text of createInterface({ input, crlfDelay: Infinity })) {
    line++;
    if (format === 'cloudphysics' && line === 1 && text.startsWith('version')) continue;
    const problem = parseTraceLine(format, text, push);
    if (problem !== undefined && problems.length < MAX_PROBLEMS) problems.push({ path: `line ${line}`, message: problem });
  }
  await done;
  if (problems.length > 0) {
    throw new ShadowplaneError('SHADOWPLANE_ERR_INPUT_FILE', `trace ${path} has bad lines for format ${format}`, problems);
  }
  return { blocks: blocks.subarray(0, n), lines: line };
}
