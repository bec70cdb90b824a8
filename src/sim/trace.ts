/**
 * Trace loading for the autoscaling replay (docs/replay-model.md): a `timestamp,value` CSV
 * (seconds) is put on a 1-minute grid by linear interpolation and scaled to demand in
 * replica-equivalents so that the trace's 99th-percentile minute needs `peak` busy replicas.
 */
import { readCsv } from '../core/csv.js';
import { ShadowplaneError } from '../core/errors.js';
import type { FieldProblem } from '../core/errors.js';
import { quantile } from '../core/quantile.js';

/** The replay model's demand scale: the trace's p99 minute needs this many busy replicas. */
export const DEFAULT_PEAK = 20;

/** A raw trace: observation times in whole seconds (strictly increasing) and their values. */
export interface RawTrace {
  readonly timestamps: number[];
  readonly values: number[];
}

/**
 * Reads a `timestamp,value` CSV (header line required). Rows whose value is empty are skipped,
 * as the referee does. Fails with SHADOWPLANE_ERR_INPUT_FILE naming every bad line (a
 * non-numeric field, a timestamp not after the previous one) or when fewer than one row remains.
 */
export async function loadTrace(path: string): Promise<RawTrace> {
  const timestamps: number[] = [];
  const values: number[] = [];
  const problems: FieldProblem[] = [];
  let header = true;
  try {
    for await (const { line, fields } of readCsv(path)) {
      if (header) {
        header = false;
        if (fields[0]?.trim() !== 'timestamp' || fields[1]?.trim() !== 'value') {
          problems.push({ path: `line ${line}`, message: 'the header must be "timestamp,value"' });
          break;
        }
        continue;
      }
      if (fields.length < 2 || fields[1].trim() === '') continue;
      const ts = Number(fields[0]);
      const v = Number(fields[1]);
      if (fields[0].trim() === '' || !Number.isFinite(ts)) {
        problems.push({ path: `line ${line}`, message: `timestamp "${fields[0]}" must be a number of seconds` });
      } else if (!Number.isFinite(v)) {
        problems.push({ path: `line ${line}`, message: `value "${fields[1]}" must be a finite number` });
      } else if (timestamps.length > 0 && Math.trunc(ts) <= timestamps[timestamps.length - 1]) {
        problems.push({ path: `line ${line}`, message: 'timestamps must be strictly increasing (whole seconds)' });
      } else {
        timestamps.push(Math.trunc(ts));
        values.push(v);
      }
      if (problems.length >= 20) break;
    }
  } catch (err) {
    throw new ShadowplaneError('SHADOWPLANE_ERR_INPUT_FILE', `cannot read trace ${path}: ${(err as Error).message}`);
  }
  if (problems.length > 0) throw new ShadowplaneError('SHADOWPLANE_ERR_INPUT_FILE', `trace ${path} has bad lines`, problems);
  if (values.length === 0) {
    throw new ShadowplaneError('SHADOWPLANE_ERR_INPUT_FILE', `trace ${path} has no data rows`, [
      { path: 'file', message: 'needs a "timestamp,value" header and at least one data row' },
    ]);
  }
  return { timestamps, values };
}

/**
 * Puts a trace on a 1-minute grid from its first timestamp to its last, interpolating linearly
 * between observed points (per-minute traces come back unchanged). Exactly the referee's rule.
 */
export function toMinuteGrid(trace: RawTrace): number[] {
  const { timestamps: ts, values: vs } = trace;
  const t0 = ts[0];
  const n = Math.floor((ts[ts.length - 1] - t0) / 60) + 1;
  const out = new Array<number>(n);
  let j = 0;
  for (let i = 0; i < n; i++) {
    const t = t0 + 60 * i;
    while (j + 1 < ts.length && ts[j + 1] <= t) j++;
    if (ts[j] === t || j + 1 >= ts.length) {
      out[i] = vs[j];
    } else {
      const w = (t - ts[j]) / (ts[j + 1] - ts[j]);
      out[i] = vs[j] * (1 - w) + vs[j + 1] * w;
    }
  }
  return out;
}

/**
 * Demand in replica-equivalents: `max(0, v) / p99(grid) * peak`. Fails with
 * SHADOWPLANE_ERR_INPUT_FILE when the p99 is not positive (the scale would be undefined).
 */
export function demandFromGrid(grid: readonly number[], peak = DEFAULT_PEAK): number[] {
  const p99 = quantile(grid, 0.99);
  if (!(p99 > 0)) {
    throw new ShadowplaneError('SHADOWPLANE_ERR_INPUT_FILE', 'the trace cannot be scaled to demand', [
      { path: 'value', message: `the 99th percentile of the values must be positive (is ${p99})` },
    ]);
  }
  return grid.map((v) => (Math.max(0, v) / p99) * peak);
}

/** Loads a trace file and returns its per-minute demand (see loadTrace for failures). */
export async function loadDemand(path: string, peak = DEFAULT_PEAK): Promise<number[]> {
  return demandFromGrid(toMinuteGrid(await loadTrace(path)), peak);
}
