/**
 * `shadowplane forecast`: forecasts every series of a long CSV (`series_id,t,value`) and writes
 * `series_id,step,mean,lo80,hi80,lo95,hi95` (one lo/hi pair per level). Series are spread over
 * worker threads (all cores by default), a pool whose task is src/forecast/batch.ts.
 */
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { createWriteStream } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import { workerExecArgv } from '../core/worker.js';
import { ShadowplaneError } from '../core/errors.js';
import type { FieldProblem } from '../core/errors.js';
import { parseCsv } from '../core/csv.js';
import { readFile } from 'node:fs/promises';
import { forecastSeries, type ForecastBatch, type SeriesIn, type SeriesResult } from '../forecast/batch.js';
import type { ForecastMethod } from '../forecast/index.js';
import { checkWritable, oneOf, positiveInt, positiveIntList } from './common.js';

/** Options of one forecast run over a CSV file. */
export interface ForecastCsvOptions {
  readonly input: string;
  readonly output: string;
  readonly horizon: number;
  /** Season lengths; omitted: detected per series. */
  readonly seasons?: number[];
  /** Interval levels in percent (default 80, 95). */
  readonly levels?: number[];
  readonly method?: ForecastMethod;
  /** Worker threads (default: all cores). */
  readonly workers?: number;
  /** Called with (done, total) as series finish. */
  readonly onProgress?: (done: number, total: number) => void;
}

/** What a run did: series written, and series skipped as too short (with the reason). */
export interface ForecastCsvResult {
  readonly written: number;
  readonly skipped: { id: string; reason: string }[];
}

const MAX_GAP_STEPS = 1_000_000;
const MAX_PROBLEMS = 20;

function parseTime(text: string): number {
  const s = text.trim();
  if (/^[+-]?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(s)) return Number(s);
  // Anything else must be a timestamp Date understands (ISO 8601 is the documented form).
  return /\d{4}-\d{2}-\d{2}/.test(s) ? Date.parse(s) : NaN;
}

function parseValue(text: string): number | undefined {
  const s = text.trim();
  if (s === '' || s === 'NA' || s === 'NaN' || s === 'nan' || s === 'null') return NaN;
  const v = Number(s);
  return Number.isFinite(v) ? v : undefined;
}

/**
 * Reads the long CSV into series in first-appearance order. A header is recognised by a first
 * line whose value field is not a number; it must name series_id, t and value, and every row has
 * as many fields as it (3 without a header). Times must rise
 * within a series; missing times on the series' regular step become gaps. Throws
 * SHADOWPLANE_ERR_INPUT_FILE listing the bad lines (up to 20) and the rule each breaks.
 */
export async function readLongCsv(path: string): Promise<SeriesIn[]> {
  const problems: FieldProblem[] = [];
  const raw = new Map<string, { t: number[]; v: number[]; line: number[] }>();
  let cols = [0, 1, 2];
  let columns = 'series_id,t,value';
  let first = true;
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ShadowplaneError('SHADOWPLANE_ERR_INPUT_FILE', `${path}: cannot be read (${(err as Error).message})`);
  }
  // One read and one parse beat a row-by-row async iterator by an order of magnitude here.
  {
    for (const { line, fields } of parseCsv(text, path)) {
      if (first) {
        first = false;
        const names = fields.map((f) => f.trim().toLowerCase());
        if (fields.length >= 3 && parseValue(fields[2]) === undefined && !/^\d/.test(fields[1] ?? '')) {
          cols = ['series_id', 't', 'value'].map((k) => names.indexOf(k));
          columns = fields.map((f) => f.trim()).join(',');
          if (cols.some((c) => c < 0)) {
            throw new ShadowplaneError('SHADOWPLANE_ERR_INPUT_FILE', `${path}: the header must name series_id, t and value`, [{ path: `line ${line}`, message: 'header must name series_id, t and value' }]);
          }
          continue;
        }
      }
      const bad = (message: string): void => {
        if (problems.length < MAX_PROBLEMS) problems.push({ path: `line ${line}`, message });
      };
      // Every row has the header's fields: an extra one (a decimal comma, a stray column) is never dropped silently.
      const width = columns.split(',').length;
      if (fields.length !== width) {
        bad(`expected ${width} fields (${columns}), found ${fields.length}`);
        continue;
      }
      const id = fields[cols[0]].trim();
      const t = parseTime(fields[cols[1]]);
      const v = parseValue(fields[cols[2]]);
      if (id === '') bad('series_id is empty');
      else if (!Number.isFinite(t)) bad(`t "${fields[cols[1]]}" is neither a number nor an ISO timestamp`);
      else if (v === undefined) bad(`value "${fields[cols[2]]}" is not a number (leave it empty or NA for a gap)`);
      else {
        let s = raw.get(id);
        if (!s) raw.set(id, (s = { t: [], v: [], line: [] }));
        if (s.t.length && t <= s.t[s.t.length - 1]) bad(`t ${fields[cols[1]]} of series ${id} does not come after line ${s.line[s.line.length - 1]}; rows of a series must be in time order`);
        else {
          s.t.push(t);
          s.v.push(v);
          s.line.push(line);
        }
      }
    }
  }
  if (problems.length) throw new ShadowplaneError('SHADOWPLANE_ERR_INPUT_FILE', `${path}: ${problems.length >= MAX_PROBLEMS ? 'at least ' : ''}${problems.length} bad line(s)`, problems);
  const out: SeriesIn[] = [];
  for (const [id, s] of raw) {
    let step = Infinity;
    for (let i = 1; i < s.t.length; i++) step = Math.min(step, s.t[i] - s.t[i - 1]);
    if (!Number.isFinite(step)) {
      out.push({ id, values: s.v });
      continue;
    }
    const values: number[] = [];
    for (let i = 0; i < s.t.length; i++) {
      const pos = (s.t[i] - s.t[0]) / step;
      const k = Math.round(pos);
      if (Math.abs(pos - k) > 1e-6 * Math.max(1, k) || k - values.length > MAX_GAP_STEPS) {
        problems.push({ path: `line ${s.line[i]}`, message: `t is off the series' regular step of ${step} (or leaves a gap over ${MAX_GAP_STEPS} steps)` });
        break;
      }
      while (values.length < k) values.push(NaN);
      values.push(s.v[i]);
    }
    out.push({ id, values });
  }
  if (problems.length) throw new ShadowplaneError('SHADOWPLANE_ERR_INPUT_FILE', `${path}: irregular time steps`, problems);
  return out;
}

/** The pool's task: the built batch.js, or batch.ts from source (tests, benchmarks under tsx). */
const workerFile = new URL(`../forecast/batch.${import.meta.url.endsWith('.ts') ? 'ts' : 'js'}`, import.meta.url);

/**
 * Forecasts every series of `input` into `output` using worker threads. Throws
 * SHADOWPLANE_ERR_INPUT_FILE for bad input lines; series too short to forecast are skipped and
 * returned in `skipped` (the output holds all others, in input order). An output that cannot be
 * written fails before any work (SHADOWPLANE_ERR_OUTPUT_FILE), and so does a write that fails later.
 */
export async function forecastCsv(opts: ForecastCsvOptions): Promise<ForecastCsvResult> {
  checkWritable(opts.output, '--output');
  const series = await readLongCsv(opts.input);
  const levels = opts.levels ?? [80, 95];
  const batch: Omit<ForecastBatch, 'series'> = { horizon: opts.horizon, seasons: opts.seasons, levels, method: opts.method ?? 'auto' };
  const results = new Map<string, SeriesResult>();
  const workers = Math.max(1, Math.min(opts.workers ?? availableParallelism(), series.length));
  const report = (): void => opts.onProgress?.(results.size, series.length);
  if (workers === 1) {
    for (const s of series) {
      results.set(s.id, forecastSeries(s, batch));
      report();
    }
  } else {
    // Small batches keep every thread busy to the end; each is a task of the pool.
    const chunk = Math.max(1, Math.min(16, Math.ceil(series.length / (workers * 8))));
    const pool = new Piscina({ filename: workerFile.href, minThreads: workers, maxThreads: workers, execArgv: workerExecArgv(workerFile.href) });
    try {
      const tasks: Promise<void>[] = [];
      for (let next = 0; next < series.length; next += chunk) {
        tasks.push((pool.run({ ...batch, series: series.slice(next, next + chunk) } satisfies ForecastBatch) as Promise<SeriesResult[]>).then((out) => {
          for (const r of out) results.set(r.id, r);
          report();
        }));
      }
      await Promise.all(tasks);
    } finally {
      await pool.destroy();
    }
  }
  const file = createWriteStream(opts.output);
  let writeError: Error | undefined;
  file.on('error', (err) => (writeError ??= err));
  const header = ['series_id', 'step', 'mean', ...levels.flatMap((l) => [`lo${l}`, `hi${l}`])].join(',');
  file.write(`${header}\n`);
  const skipped: { id: string; reason: string }[] = [];
  let written = 0;
  for (const s of series) {
    const r = results.get(s.id)!;
    if (r.rows !== undefined) {
      if (!file.write(r.rows) && !writeError) await new Promise<void>((res) => file.once('drain', res).once('error', () => res()));
      written++;
    } else skipped.push({ id: s.id, reason: r.error ?? 'unknown' });
  }
  if (!writeError) await new Promise<void>((res) => file.end(() => res()).once('error', () => res()));
  if (writeError) throw new ShadowplaneError('SHADOWPLANE_ERR_OUTPUT_FILE', `cannot write ${opts.output}: ${writeError.message}`, [{ path: '--output', message: 'must be a writable file path' }]);
  return { written, skipped };
}

function levelList(value: string): number[] {
  return value.split(',').map((part) => {
    const n = Number(part.trim());
    if (!(n > 0 && n < 100)) throw new InvalidArgumentError(`"${part}" must be a percentage strictly between 0 and 100`);
    return n;
  });
}

const methodName = oneOf<ForecastMethod>(['auto', 'naive', 'snaive', 'ets', 'theta', 'arima', 'mstl']);

/** Registers `shadowplane forecast`. Exit code 0: all series written; 2: some skipped as too short. */
export function register(program: Command): void {
  program
    .command('forecast')
    .description('forecast every series of a long CSV (series_id,t,value) with intervals')
    .requiredOption('--input <file>', 'long CSV: series_id,t,value (t an integer index or an ISO timestamp)')
    .requiredOption('--horizon <steps>', 'steps to forecast', positiveInt)
    .requiredOption('--output <file>', 'output CSV: series_id,step,mean,lo<L>,hi<L> per level')
    .option('--season <lengths>', 'season lengths, e.g. 24,168 (default: detected per series)', positiveIntList)
    .option('--level <percents>', 'interval levels', levelList, [80, 95])
    .option('--method <name>', 'auto (combination), naive, snaive, ets, theta, arima or mstl', methodName, 'auto')
    .option('--workers <n>', 'worker threads (default: all cores)', positiveInt)
    .action(async (o: { input: string; horizon: number; output: string; season?: number[]; level: number[]; method: ForecastMethod; workers?: number }) => {
      const started = performance.now();
      let lastShown = 0;
      const tty = process.stderr.isTTY;
      const result = await forecastCsv({
        input: o.input,
        output: o.output,
        horizon: o.horizon,
        seasons: o.season,
        levels: o.level,
        method: o.method,
        workers: o.workers,
        onProgress(done, total) {
          const now = performance.now();
          if (done === total || now - lastShown > (tty ? 250 : 5000)) {
            lastShown = now;
            process.stderr.write(`${tty ? '\r' : ''}forecast: ${done}/${total} series, ${((now - started) / 1000).toFixed(1)} s${tty && done < total ? '' : '\n'}`);
          }
        },
      });
      for (const s of result.skipped) process.stderr.write(`series ${s.id}: not forecast: ${s.reason}\n`);
      process.stderr.write(`forecast: wrote ${result.written} series to ${o.output}${result.skipped.length ? `, skipped ${result.skipped.length}` : ''}\n`);
      if (result.skipped.length) process.exitCode = 2;
    });
}
