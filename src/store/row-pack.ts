/**
 * Window rows packed for the SQLite writer thread. Posting a flush's rows as objects makes the
 * main thread structured-clone every one of them (hundreds of thousands at fleet scale), field by
 * field; packed, they are one ArrayBuffer, which postMessage transfers without copying, plus a
 * table of the distinct strings (targets, dimensions and keys repeat across rows). The writer
 * thread unpacks them into the same rows before writing.
 *
 * Layout of the buffer, for n rows: n x NUMBERS float64s, then n x INTS uint32s (string indexes,
 * the final flag, and where the row's sketch lies in the bytes that follow), then every sketch.
 */
import type { Dimension, WindowRow } from './window.js';

/** Rows packed by packRows(). */
export interface PackedRows {
  readonly count: number;
  readonly buffer: ArrayBuffer;
  /** The strings the rows name, by index. */
  readonly strings: readonly string[];
}

/** The numeric fields of a row, in their packed order. */
const NUMBER_FIELDS = [
  'granularity', 'start', 'count', 'estCount', 'bytes', 'estBytes', 'rows', 'errors', 'estErrors',
  'sum', 'min', 'max', 'peak', 'rate', 'last', 'lastAt',
] as const satisfies readonly (keyof WindowRow)[];
const NUMBERS = NUMBER_FIELDS.length;
/** target, dim, key (string indexes), final (0 / 1), sketch offset, sketch length. */
const INTS = 6;

/** Packs `rows` (unchanged) into one buffer and a string table. */
export function packRows(rows: readonly WindowRow[]): PackedRows {
  const packer = rowPacker(rows);
  packer.packUntil(Number.POSITIVE_INFINITY);
  return packer.packed;
}

/**
 * packRows() in time slices of at most `sliceMs`, letting the event loop run between them: a
 * fleet's flush packs hundreds of thousands of rows. `rows` must not change until it resolves.
 */
export async function packRowsSliced(rows: readonly WindowRow[], sliceMs: number): Promise<PackedRows> {
  const packer = rowPacker(rows);
  while (!packer.packUntil(performance.now() + sliceMs)) await new Promise((resolve) => setImmediate(resolve));
  return packer.packed;
}

/** Packs rows into a buffer sized for all of them, as many as time allows per call. */
function rowPacker(rows: readonly WindowRow[]): { packed: PackedRows; packUntil(deadline: number): boolean } {
  const n = rows.length;
  let sketchBytes = 0;
  for (let i = 0; i < n; i++) sketchBytes += rows[i].sketch.length;
  const intsAt = n * NUMBERS * 8;
  const bytesAt = intsAt + n * INTS * 4;
  const buffer = new ArrayBuffer(bytesAt + sketchBytes);
  const numbers = new Float64Array(buffer, 0, n * NUMBERS);
  const ints = new Uint32Array(buffer, intsAt, n * INTS);
  const bytes = new Uint8Array(buffer, bytesAt);
  const strings: string[] = [];
  const indexOf = new Map<string, number>();
  const intern = (s: string): number => {
    let i = indexOf.get(s);
    if (i === undefined) {
      i = strings.push(s) - 1;
      indexOf.set(s, i);
    }
    return i;
  };
  let sketchAt = 0;
  let r = 0;
  return {
    packed: { count: n, buffer, strings },
    packUntil(deadline) {
      for (let packed = 1; r < n; packed++, r++) {
        const row = rows[r];
        const nb = r * NUMBERS;
        for (let f = 0; f < NUMBERS; f++) numbers[nb + f] = row[NUMBER_FIELDS[f]];
        const ib = r * INTS;
        ints[ib] = intern(row.target);
        ints[ib + 1] = intern(row.dim);
        ints[ib + 2] = intern(row.key);
        ints[ib + 3] = row.final ? 1 : 0;
        ints[ib + 4] = sketchAt;
        ints[ib + 5] = row.sketch.length;
        bytes.set(row.sketch, sketchAt);
        sketchAt += row.sketch.length;
        // the clock is read every 1,024 rows: reading it per row would cost more than the row
        if (packed % 1024 === 0 && r + 1 < n && performance.now() >= deadline) {
          r++;
          return false;
        }
      }
      return true;
    },
  };
}

/** The rows packRows() packed (those from `from` to before `to`); each sketch is a Buffer viewing the packed buffer. */
export function unpackRows(packed: PackedRows, from = 0, to = packed.count): WindowRow[] {
  const { count: n, buffer, strings } = packed;
  const intsAt = n * NUMBERS * 8;
  const bytesAt = intsAt + n * INTS * 4;
  const numbers = new Float64Array(buffer, 0, n * NUMBERS);
  const ints = new Uint32Array(buffer, intsAt, n * INTS);
  const rows = new Array<WindowRow>(to - from);
  for (let r = from; r < to; r++) {
    const ib = r * INTS;
    const row = {
      target: strings[ints[ib]],
      dim: strings[ints[ib + 1]] as Dimension,
      key: strings[ints[ib + 2]],
      final: ints[ib + 3] === 1,
      sketch: Buffer.from(buffer, bytesAt + ints[ib + 4], ints[ib + 5]),
    } as WindowRow;
    const nb = r * NUMBERS;
    for (let f = 0; f < NUMBERS; f++) row[NUMBER_FIELDS[f]] = numbers[nb + f];
    rows[r - from] = row;
  }
  return rows;
}
