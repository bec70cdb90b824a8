/**
 * One-dimensional PostgreSQL arrays in the binary wire format (what `array_send` writes and
 * `array_recv` reads), for array parameters of many rows. node-postgres sends a Buffer parameter
 * in binary, so a `$1::float8[]` given as binaryArray('float8', ...) reaches the server without
 * being written out as an array literal (digits, quotes and escapes for every element) on the
 * main thread and parsed back on the server: a fleet's flush sends millions of elements.
 */
import { ShadowplaneError } from '../core/errors.js';
import type { ByteWriter } from './bytes.js';

/** The element types written here, with their type oids and fixed sizes (0: variable length). */
const TYPES = {
  bool: { oid: 16, size: 1 },
  int4: { oid: 23, size: 4 },
  int8: { oid: 20, size: 8 },
  float8: { oid: 701, size: 8 },
  text: { oid: 25, size: 0 },
  bytea: { oid: 17, size: 0 },
} as const;

/** An element type binaryArray() writes. */
export type ArrayType = keyof typeof TYPES;

/** What each element type takes. */
export interface ArrayValue {
  bool: boolean;
  int4: number;
  int8: number;
  float8: number;
  text: string;
  bytea: Uint8Array;
}

/** Bytes of the header of a one-dimensional array: ndim, has-nulls flag, element oid, length, lower bound. */
const HEADER = 20;
const TWO_32 = 4294967296;

/**
 * `values` as a binary PostgreSQL array of `type` without NULLs (`name` names the values in
 * errors), taken from `into` when one is given (a writer reused statement after statement: a
 * fleet's flush sends hundreds of statements of a dozen arrays each, and a new buffer for every
 * array is external memory growing by megabytes a second, which V8 answers with garbage
 * collection on the main thread). Rejects with SHADOWPLANE_ERR_STORE_REJECTED an integer
 * type given a number that is not an integer in its range: as text, the server would refuse it.
 */
export function binaryArray<T extends ArrayType>(type: T, values: readonly ArrayValue[T][], name: string, into?: ByteWriter): Buffer {
  const { oid, size } = TYPES[type];
  const n = values.length;
  if (n === 0) return emptyArray(oid);
  const texts = type === 'text' ? (values as readonly string[]) : undefined;
  const bytes = type === 'bytea' ? (values as readonly Uint8Array[]) : undefined;
  const lengths = texts?.map((t) => Buffer.byteLength(t, 'utf8'));
  let length = HEADER + 4 * n;
  if (lengths) for (let i = 0; i < n; i++) length += lengths[i];
  else if (bytes) for (let i = 0; i < n; i++) length += bytes[i].length;
  else length += size * n;
  const out = into ? into.take(length) : Buffer.allocUnsafe(length);
  out.writeInt32BE(1, 0);
  out.writeInt32BE(0, 4);
  out.writeInt32BE(oid, 8);
  out.writeInt32BE(n, 12);
  out.writeInt32BE(1, 16);
  let at = HEADER;
  if (texts && lengths) {
    for (let i = 0; i < n; i++) {
      out.writeInt32BE(lengths[i], at);
      out.write(texts[i], at + 4, 'utf8');
      at += 4 + lengths[i];
    }
    return out;
  }
  if (bytes) {
    for (let i = 0; i < n; i++) {
      const item = bytes[i];
      out.writeInt32BE(item.length, at);
      out.set(item, at + 4);
      at += 4 + item.length;
    }
    return out;
  }
  for (let i = 0; i < n; i++) {
    out.writeInt32BE(size, at);
    at += 4;
    const v = values[i];
    switch (type) {
      case 'bool':
        out[at] = v ? 1 : 0;
        break;
      case 'float8':
        out.writeDoubleBE(v as number, at);
        break;
      case 'int4':
        if (!Number.isInteger(v) || (v as number) < -TWO_32 / 2 || (v as number) >= TWO_32 / 2) throw refused(name, v, 'a 32-bit integer');
        out.writeInt32BE(v as number, at);
        break;
      default: {
        const x = v as number;
        if (!Number.isSafeInteger(x)) throw refused(name, v, 'a safe integer');
        // high and low halves: two's complement for negative values too
        out.writeInt32BE(Math.floor(x / TWO_32), at);
        out.writeUInt32BE(x >>> 0, at + 4);
      }
    }
    at += size;
  }
  return out;
}

/** An empty array: no dimensions. */
function emptyArray(oid: number): Buffer {
  const out = Buffer.alloc(12);
  out.writeInt32BE(oid, 8);
  return out;
}

function refused(name: string, value: unknown, rule: string): ShadowplaneError {
  return new ShadowplaneError('SHADOWPLANE_ERR_STORE_REJECTED', `PostgreSQL: ${name} must be ${rule}, not ${String(value)}`);
}
