/**
 * `shadowplane detect`: scores a CSV of `timestamp,value[,...]` rows online and causally (row t's
 * score depends only on rows up to t) and writes the same rows with an added `anomaly_score`.
 */
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { createWriteStream, renameSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import { readCsv } from '../core/csv.js';
import { ShadowplaneError } from '../core/errors.js';
import type { FieldProblem } from '../core/errors.js';
import { ComponentDetector } from '../detect/component.js';
import type { UnivariateConfig } from '../detect/univariate.js';
import { checkWritable, reportCliError, positiveInt, unitFraction } from './common.js';

/** Options of one `detect` run. */
export interface DetectOptions {
  readonly input: string;
  readonly output: string;
  /** Value columns (header names or 1-based indices); default: `value`, else the second column. */
  readonly columns?: string[];
  readonly threshold: number;
  readonly explain: boolean;
  readonly univariate: Partial<UnivariateConfig>;
}

/** What a run did, for the summary line. */
export interface DetectSummary {
  readonly rows: number;
  readonly warmupRows: number;
  readonly alerts: number;
  readonly columns: string[];
}

const MAX_PROBLEMS = 20;

/** Parses a timestamp field: epoch seconds (< 1e11), epoch ms, or an ISO-8601 date. NaN when bad. */
export function parseTimestamp(text: string): number {
  const s = text.trim();
  if (s === '') return NaN;
  const n = Number(s);
  if (Number.isFinite(n)) return Math.abs(n) < 1e11 ? n * 1000 : n;
  return /^\d{4}-\d{2}-\d{2}/.test(s) ? Date.parse(s) : NaN;
}

/**
 * Runs the detector over the input file and writes the scored copy (atomically: a temporary file
 * renamed on success). Throws ShadowplaneError SHADOWPLANE_ERR_INPUT_FILE naming every bad line
 * (up to 20): an unparsable timestamp, a non-numeric value, a timestamp not after the previous
 * one, a missing column; nothing is written then. An output that cannot be written fails first
 * (SHADOWPLANE_ERR_OUTPUT_FILE).
 */
export async function runDetect(opts: DetectOptions): Promise<DetectSummary> {
  checkWritable(opts.output, '--output');
  const tmp = `${opts.output}.tmp-${process.pid}`;
  const out = createWriteStream(tmp, { encoding: 'utf8' });
  // Write errors surface at 'finish'/'drain'; after a failed run the stream is torn down quietly.
  let writeError: Error | null = null;
  out.on('error', (err) => {
    writeError = err;
  });
  const problems: FieldProblem[] = [];
  let header: string[] | null = null;
  let valueIdx: number[] = [];
  let names: string[] = [];
  let det: ComponentDetector | null = null;
  let lastT = -Infinity;
  let rows = 0, warmupRows = 0, alerts = 0;
  const write = async (text: string): Promise<void> => {
    if (!out.write(text)) await once(out, 'drain');
  };
  try {
    for await (const { line, fields } of readCsv(opts.input)) {
      if (!det) {
        const looksLikeHeader = Number.isNaN(parseTimestamp(fields[0]));
        header = looksLikeHeader ? fields.map((f) => f.trim()) : null;
        valueIdx = resolveColumns(opts.columns, header, fields.length, line);
        names = valueIdx.map((i) => (header ? header[i] : `column${i + 1}`));
        det = new ComponentDetector('input', names, { univariate: opts.univariate, smoothingHalfLife: 0 });
        const extra = opts.explain ? ',anomaly_kind,anomaly_drivers' : '';
        if (header) {
          await write(`${fields.join(',')},anomaly_score${extra}\n`);
          continue;
        }
      }
      const t = parseTimestamp(fields[0]);
      const values: number[] = [];
      let bad = false;
      if (!Number.isFinite(t)) {
        problems.push({ path: `line ${line}`, message: `timestamp "${fields[0]}" must be epoch seconds, epoch ms or an ISO-8601 date` });
        bad = true;
      } else if (t <= lastT) {
        problems.push({ path: `line ${line}`, message: `timestamp ${fields[0]} must be later than the previous row's` });
        bad = true;
      }
      for (let k = 0; k < valueIdx.length; k++) {
        const raw = fields[valueIdx[k]];
        if (raw === undefined) {
          problems.push({ path: `line ${line}`, message: `column ${names[k]} is missing (the row has ${fields.length} fields)` });
          bad = true;
          continue;
        }
        const s = raw.trim();
        // An empty cell is a missing sample, common in exports; text is an error.
        const v = s === '' ? NaN : Number(s);
        if (s !== '' && !Number.isFinite(v)) {
          problems.push({ path: `line ${line}`, message: `column "${names[k]}": "${raw}" must be a number (or empty for missing)` });
          bad = true;
        }
        values.push(v);
      }
      if (problems.length >= MAX_PROBLEMS) break;
      if (bad) continue;
      lastT = t;
      rows++;
      const score = det.step(t, values);
      if (!det.ready) warmupRows++;
      else if (score >= opts.threshold) alerts++;
      let extra = '';
      if (opts.explain) {
        const drivers = det.ready ? det.drivers() : [];
        const kind = !det.ready ? 'warm-up' : drivers.length > 1 ? 'multivariate' : (drivers[0]?.kind ?? 'none');
        extra = `,${kind},${drivers.map((d) => `${d.signal}:${d.score.toFixed(3)}`).join(' ')}`;
      }
      await write(`${fields.join(',')},${score.toFixed(6)}${extra}\n`);
    }
    if (!det && problems.length === 0) {
      throw new ShadowplaneError('SHADOWPLANE_ERR_INPUT_FILE', `${opts.input}: the file has no rows`, [{ path: 'line 1', message: 'the file has no rows' }]);
    }
    if (problems.length) {
      throw new ShadowplaneError('SHADOWPLANE_ERR_INPUT_FILE', `${opts.input}: ${problems.length}${problems.length >= MAX_PROBLEMS ? '+' : ''} bad line(s); nothing written`, problems);
    }
    out.end();
    if (!out.writableFinished) await once(out, 'finish');
    if (writeError) throw writeError;
    renameSync(tmp, opts.output);
    return { rows, warmupRows, alerts, columns: names };
  } catch (err) {
    out.destroy();
    rmSync(tmp, { force: true });
    throw err;
  }
}

function resolveColumns(columns: string[] | undefined, header: string[] | null, width: number, line: number): number[] {
  const fail = (message: string): never => {
    throw new ShadowplaneError('SHADOWPLANE_ERR_INPUT_FILE', message, [{ path: `line ${line}`, message }]);
  };
  if (width < 2) fail('the file needs at least two columns: timestamp,value');
  if (!columns || columns.length === 0) {
    const named = header ? header.indexOf('value') : -1;
    return [named > 0 ? named : 1];
  }
  return columns.map((c) => {
    const byName = header ? header.indexOf(c) : -1;
    if (byName > 0) return byName;
    const n = Number(c);
    if (Number.isInteger(n) && n >= 2 && n <= width) return n - 1;
    return fail(`column "${c}" is neither a header name nor a 1-based index 2..${width}`);
  });
}

function columnList(value: string): string[] {
  const list = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (list.length === 0) throw new InvalidArgumentError('must name at least one column');
  if (new Set(list).size !== list.length) throw new InvalidArgumentError('must not repeat a column');
  return list;
}

function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('must be a non-negative integer');
  return n;
}

/** Registers `detect` on the program. */
export function register(program: Command): void {
  program
    .command('detect')
    .description('Score each row of a timestamp,value CSV for anomalies (online, causal) and write it with an anomaly_score column')
    .requiredOption('--input <file>', 'CSV with timestamp (epoch s/ms or ISO-8601) and value columns; a header row is optional')
    .requiredOption('--output <file>', 'where to write the rows with the added anomaly_score column')
    .option('--columns <list>', 'value columns scored together as one component (header names or 1-based indices)', columnList)
    .option('--threshold <x>', 'alert threshold on the score, for the summary line', unitFraction, 0.5)
    .option('--warmup <n>', 'points before scores are ready (score 0 until then)', positiveInt)
    .option('--season-ms <ms>', 'seasonal period in ms (0 = no seasonality; default one day)', nonNegativeInt)
    .option('--explain', 'also write anomaly_kind and anomaly_drivers columns', false)
    .action(async (o: { input: string; output: string; columns?: string[]; threshold: number; warmup?: number; seasonMs?: number; explain: boolean }) => {
      const univariate: Partial<UnivariateConfig> = {};
      if (o.warmup !== undefined) Object.assign(univariate, { warmup: Math.max(2, o.warmup) });
      if (o.seasonMs !== undefined) Object.assign(univariate, { season: o.seasonMs === 0 ? null : { periodMs: o.seasonMs, buckets: 24, halfLifePeriods: 3 } });
      try {
        const s = await runDetect({ input: o.input, output: o.output, columns: o.columns, threshold: o.threshold, explain: o.explain, univariate });
        process.stderr.write(
          `detect: ${s.rows} rows (${s.warmupRows} warm-up), ${s.alerts} at or above threshold ${o.threshold}; columns ${s.columns.join(',')}; wrote ${o.output}\n`,
        );
      } catch (err) {
        reportCliError(err);
        process.exitCode = 1;
      }
    });
}
