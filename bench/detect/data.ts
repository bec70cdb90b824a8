/**
 * Loader for the labelled SMD/ASD subset in shared/data/smd (see its README): train and test
 * matrices (rows x metrics, values in [0, 1]), point labels of the test part and interpretation
 * labels (row range -> causal metric ids). Throws on a missing or malformed file.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Root of the shared data set: SMD_DIR, else the first `shared/data/smd` above this file (source or dist). */
export const SMD_ROOT = process.env.SMD_DIR ?? findUp(dirname(fileURLToPath(import.meta.url)));

function findUp(dir: string): string {
  for (let d = dir; ; d = dirname(d)) {
    const candidate = join(d, 'shared', 'data', 'smd');
    if (existsSync(candidate)) return candidate;
    if (dirname(d) === d) throw new Error('shared/data/smd not found above ' + dir + '; set SMD_DIR');
  }
}

/** One labelled segment of the test part: rows [start, end) (0-based) and 0-based causal metric ids. */
export interface Interpretation {
  readonly start: number;
  readonly end: number;
  readonly metrics: number[];
}

/** One entity (a machine or a service) of a data set. */
export interface Entity {
  readonly dataset: 'SMD' | 'ASD';
  readonly name: string;
  readonly dims: number;
  readonly train: Float64Array[];
  readonly test: Float64Array[];
  readonly labels: Uint8Array;
  readonly interpretation: Interpretation[];
  /** Sampling interval in ms (SMD 1 min, ASD 5 min). */
  readonly stepMs: number;
}

function readMatrix(path: string): Float64Array[] {
  const text = gunzipSync(readFileSync(path)).toString('utf8');
  const rows: Float64Array[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const parts = line.split(',');
    const row = new Float64Array(parts.length);
    for (let i = 0; i < parts.length; i++) row[i] = Number(parts[i]);
    rows.push(row);
  }
  return rows;
}

/** Entity names of a data set, sorted as the reference script sorts them. */
export function entities(dataset: 'SMD' | 'ASD'): string[] {
  return readdirSync(join(SMD_ROOT, dataset, 'test'))
    .filter((f) => f.endsWith('.txt.gz'))
    .map((f) => f.slice(0, -7))
    .sort();
}

/** Loads one entity. */
export function loadEntity(dataset: 'SMD' | 'ASD', name: string): Entity {
  const dir = join(SMD_ROOT, dataset);
  const train = readMatrix(join(dir, 'train', `${name}.txt.gz`));
  const test = readMatrix(join(dir, 'test', `${name}.txt.gz`));
  const labels = Uint8Array.from(readMatrix(join(dir, 'test_label', `${name}.txt.gz`)).map((r) => r[0]));
  if (labels.length !== test.length) throw new Error(`${dataset}/${name}: ${labels.length} labels for ${test.length} rows`);
  const interpretation: Interpretation[] = [];
  for (const line of readFileSync(join(dir, 'interpretation_label', `${name}.txt`), 'utf8').split('\n')) {
    const m = /^(\d+)-(\d+):([\d,]+)/.exec(line.trim());
    if (!m) continue;
    interpretation.push({ start: Number(m[1]) - 1, end: Number(m[2]), metrics: m[3].split(',').map((d) => Number(d) - 1) });
  }
  return { dataset, name, dims: test[0].length, train, test, labels, interpretation, stepMs: dataset === 'SMD' ? 60_000 : 300_000 };
}
