/**
 * A flush never stops on one bad row. When the backend refuses a batch of windows as invalid
 * (SHADOWPLANE_ERR_STORE_REJECTED: a constraint or a value it cannot hold), the batch is split until
 * the refused rows are alone; every other row is written, and each refused one is kept in the
 * store's quarantine with the backend's error, where `GET /v1/store/quarantine` lists it. A backend
 * that cannot be reached (SHADOWPLANE_ERR_STORE_UNAVAILABLE) is not a bad row: that error goes to
 * the caller, which keeps the batch for the next flush.
 *
 * Quarantined rows are stored as JSON text: JSON escapes NUL and unpaired surrogates, and numbers
 * that are not finite are written as strings, so a row the backend refused as a row it can keep as text.
 */
import { isCoded } from '../core/errors.js';
import { PackedWindows, type WindowWrite } from './row-pack.js';
import type { ShadowStore } from './store.js';
import type { WindowRow } from './window.js';

/** A window the store refused, as kept in the quarantine. */
export interface QuarantinedWindow {
  /** The window's identity (target, granularity, dim, key, start) as JSON text: one entry per window. */
  id: string;
  /** The refused row in rowToJson() form. */
  row: string;
  /** The backend's error for the last refused write. */
  error: string;
  /** When the window was first and last refused, ms. */
  firstAt: number;
  lastAt: number;
  /** How many writes of the window were refused. */
  attempts: number;
}

/** `text` with NUL written as `\0` and unpaired surrogates as U+FFFD: an error message the store can keep. */
function storableText(text: string): string {
  return (text.replaceAll('\0', '\\0') as string & { toWellFormed(): string }).toWellFormed();
}

/** The quarantine id of a window row. */
export function quarantineId(row: WindowRow): string {
  return JSON.stringify([row.target, row.granularity, row.dim, row.key, row.start]);
}

const NON_FINITE = new Set(['NaN', 'Infinity', '-Infinity']);

/** A window row as JSON text: the sketch in base64, numbers that are not finite as strings. */
export function rowToJson(row: WindowRow): string {
  return JSON.stringify({ ...row, sketch: row.sketch.toString('base64') }, (_key, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v));
}

/** The inverse of rowToJson(). */
export function rowFromJson(text: string): WindowRow {
  const raw = JSON.parse(text, (_key, v: unknown) => (typeof v === 'string' && NON_FINITE.has(v) ? Number(v) : v)) as WindowRow & { sketch: string };
  return { ...raw, sketch: Buffer.from(raw.sketch, 'base64') };
}

/**
 * Writes `windows` (rows or packed); windows the backend refuses are quarantined (at time `now`) and
 * the rest written. Returns the quarantined entries. Rejects with SHADOWPLANE_ERR_STORE_UNAVAILABLE
 * when the backend cannot be reached: windows already written stay written (every write is an
 * upsert of a full state).
 */
export async function writeOrQuarantine(store: ShadowStore, windows: WindowWrite, now: number): Promise<QuarantinedWindow[]> {
  const refused: QuarantinedWindow[] = [];
  const write = async (part: WindowWrite): Promise<void> => {
    try {
      await store.writeWindows(part);
    } catch (err) {
      if (!isCoded(err, 'SHADOWPLANE_ERR_STORE_REJECTED')) throw err;
      if (part.length === 1) {
        const row = part instanceof PackedWindows ? part.row(0) : part[0];
        refused.push({ id: quarantineId(row), row: rowToJson(row), error: storableText(err.message), firstAt: now, lastAt: now, attempts: 1 });
        return;
      }
      const half = part.length >> 1;
      await write(part.slice(0, half));
      await write(part.slice(half));
    }
  };
  await write(windows);
  if (refused.length > 0) await store.quarantineWindows(refused);
  return refused;
}
