/** Reads the M4 wide CSV files (`"V1","V2",...` header, one series per row, ids quoted). */
import { readFileSync } from 'node:fs';
import { dataFromEnv } from '../util.js';

/** One M4 series: id and values. */
export interface M4Series {
  readonly id: string;
  readonly values: number[];
}

/** Reads an M4 wide CSV; empty and NA cells at the row end are dropped. */
export function readM4(file: string): M4Series[] {
  const lines = readFileSync(file, 'utf8').trim().split('\n').slice(1);
  return lines.map((line) => {
    const cells = line.split(',').map((c) => c.replace(/"/g, '').trim());
    return { id: cells[0], values: cells.slice(1).filter((c) => c !== '' && c !== 'NA').map(Number) };
  });
}

/** Where the M4 Hourly data lies: $M4_DIR (not shipped). */
export const M4_DIR = dataFromEnv('M4_DIR', 'the directory holding the M4 Hourly-train.csv and Hourly-test.csv');
