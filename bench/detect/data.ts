/**
 * Loader for the labelled SMD/ASD subset in $SMD_DIR (not shipped; examples/data/README.md): train and test
 * matrices (rows x metrics, values in [0, 1]), point labels of the test part and interpretation
 * labels (row range -> causal metric ids). Throws on a missing or malformed file.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { join } from 'node:path';
import { dataFromEnv } from '../util.js';

/** Root of the data set: $SMD_DIR (holding SMD/ and ASD/). */
export const SMD_ROOT = dataFromEnv('SMD_DIR', 'the directory holding the SMD/ and ASD/ folders of the labelled server-metrics data');

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
