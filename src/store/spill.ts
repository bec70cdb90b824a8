/**
 * Windows a stopping service could not write to the store are kept in files under the data
 * directory (`unflushed/`, one NDJSON row per line, rowToJson form), so SIGTERM never drops
 * acknowledged data: the next start writes them before it restores the open windows.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { rowFromJson, rowToJson } from './quarantine.js';
import type { WindowRow } from './window.js';

/** The directory of spill files under a data directory. */
export function spillDir(dataDir: string): string {
  return join(dataDir, 'unflushed');
}

/** Writes `rows` to a new spill file (complete or absent: written aside, then renamed); returns its path. */
export function spillRows(dataDir: string, rows: readonly WindowRow[], now: number): string {
  const dir = spillDir(dataDir);
  mkdirSync(dir, { recursive: true });
  const name = `${new Date(now).toISOString().replaceAll(':', '-')}-${process.pid}.ndjson`;
  const path = join(dir, name);
  writeFileSync(`${path}.part`, rows.map(rowToJson).join('\n') + '\n', { mode: 0o600 });
  renameSync(`${path}.part`, path);
  return path;
}

/** Spill files waiting to be written, oldest first, with their rows. */
export function readSpills(dataDir: string): { path: string; rows: WindowRow[] }[] {
  const dir = spillDir(dataDir);
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.ndjson')).sort();
  } catch {
    return [];
  }
  return names.map((name) => {
    const path = join(dir, name);
    const rows = readFileSync(path, 'utf8').split('\n').filter((line) => line !== '').map(rowFromJson);
    return { path, rows };
  });
}

/** Removes a spill file once its rows are in the store. */
export function removeSpill(path: string): void {
  rmSync(path, { force: true });
}
