/**
 * `shadowplane detect`: scores a CSV of `timestamp,value[,...]` rows online and causally (row t's
 * score depends only on rows up to t) and writes the same rows with an added `anomaly_score`.
 */
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { createWriteStream, openSync, renameSync, rmSync } from 'node:fs';
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
  /** Refuse the whole file on any bad row (the rules of `Irregularity`), as before 2026-12. */
  readonly strict?: boolean;
}

/**
 * The kinds of irregular input rows `detect` scores around instead of refusing the file:
 * `badTimestamp` (not epoch s/ms or ISO-8601; row not scored), `repeatedTimestamp` and
 * `outOfOrder` (at or before the previous scored row's time; not scored), `missingValue` (empty or
 * `NaN` cell: a missing sample), `nonNumeric` (text in a value cell: scored as missing),
 * `missingColumn` (a row too short: scored as missing), `gap` (an interval longer than the
 * detector's gap rule: scored, the detector restarts its level-shift state).
 */
export type Irregularity = 'badTimestamp' | 'repeatedTimestamp' | 'outOfOrder' | 'missingValue' | 'nonNumeric' | 'missingColumn' | 'gap';

/** How often one kind of irregularity occurred, and its first line. */
export interface IrregularityCount {
  readonly count: number;
  readonly firstLine: number;
}

/** What a run did, for the summary line. */
export interface DetectSummary {
  /** Data rows read (each has one output row). */
  readonly rows: number;
  /** Rows fed to the detector (the rest: bad, repeated or out-of-order timestamps). */
  readonly scoredRows: number;
  readonly warmupRows: number;
  readonly alerts: number;
  readonly columns: string[];
  readonly irregular: Partial<Record<Irregularity, IrregularityCount>>;
}

const MAX_PROBLEMS = 20;

const IRREGULARITY_TEXT: Record<Irregularity, string> = {
  badTimestamp: 'unparsable timestamp (row not scored)',
  repeatedTimestamp: 'repeated timestamp (row not scored)',
  outOfOrder: 'timestamp before the previous row\'s (row not scored)',
  missingValue: 'empty or NaN value (missing sample)',
  nonNumeric: 'non-numeric value (scored as missing)',
  missingColumn: 'row without the value column (scored as missing)',
  gap: 'gap in time (scored; level-shift state restarted)',
};

/** One line per kind of irregularity, for stderr. */
export function describeIrregularities(irregular: DetectSummary['irregular']): string[] {
  return (Object.keys(IRREGULARITY_TEXT) as Irregularity[])
    .filter((k) => irregular[k])
    .map((k) => `${irregular[k]!.count} x ${IRREGULARITY_TEXT[k]}, first at line ${irregular[k]!.firstLine}`);
}

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
 * renamed on success): one output row per input data row, in order. Irregular rows (see
 * `Irregularity`) are scored around and counted in the summary; rows that cannot be scored get
 * score 0 (kind `unscored` with `explain`). Throws ShadowplaneError SHADOWPLANE_ERR_INPUT_FILE for
 * a file without rows or an unknown column, and with `strict` naming every bad line (up to 20):
 * an unparsable timestamp, a non-numeric value, a timestamp not after the previous one, a missing
 * column; nothing is written then. Throws SHADOWPLANE_ERR_OUTPUT_FILE when the output cannot be
 * written (its folder missing, no permission), before reading anything.
 */
export async function runDetect(opts: DetectOptions): Promise<DetectSummary> {
  checkWritable(opts.output, '--output');
  const tmp = `${opts.output}.tmp-${process.pid}`;
  let fd: number;
  try {
    fd = openSync(tmp, 'w');
  } catch (err) {
    const message = `cannot write ${opts.output}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
    throw new ShadowplaneError('SHADOWPLANE_ERR_OUTPUT_FILE', message, [{ path: '--output', message }]);
  }
  const out = createWriteStream(tmp, { fd, encoding: 'utf8' });
  // Write errors surface at 'finish'/'drain'; after a failed run the stream is torn down quietly.
  let writeError: Error | null = null;
  out.on('error', (err) => {
    writeError = err;
  });
  const problems: FieldProblem[] = [];
  const irregular: Partial<Record<Irregularity, IrregularityCount>> = {};
  const note = (kind: Irregularity, line: number): void => {
    const c = irregular[kind];
    irregular[kind] = { count: (c?.count ?? 0) + 1, firstLine: c?.firstLine ?? line };
  };
  let header: string[] | null = null;
  let valueIdx: number[] = [];
  let names: string[] = [];
  let det: ComponentDetector | null = null;
  let lastT = -Infinity;
  let rows = 0, scoredRows = 0, warmupRows = 0, alerts = 0;
  const write = async (text: string): Promise<void> => {
    if (writeError) throw writeError;
    if (!out.write(text)) await Promise.race([once(out, 'drain'), once(out, 'close')]);
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
      rows++;
      const t = parseTimestamp(fields[0]);
      let scorable = true;
      if (!Number.isFinite(t)) {
        note('badTimestamp', line);
        problems.push({ path: `line ${line}`, message: `timestamp "${fields[0]}" must be epoch seconds, epoch ms or an ISO-8601 date` });
        scorable = false;
      } else if (t <= lastT) {
        note(t === lastT ? 'repeatedTimestamp' : 'outOfOrder', line);
        problems.push({ path: `line ${line}`, message: `timestamp ${fields[0]} must be later than the previous row's` });
        scorable = false;
      }
      const values: number[] = [];
      for (let k = 0; k < valueIdx.length; k++) {
        const raw = fields[valueIdx[k]];
        if (raw === undefined) {
          if (scorable) note('missingColumn', line);
          problems.push({ path: `line ${line}`, message: `column ${names[k]} is missing (the row has ${fields.length} fields)` });
          values.push(NaN);
          continue;
        }
        const s = raw.trim();
        // An empty cell (or NaN) is a missing sample, common in exports; other text is an error.
        const v = s === '' ? NaN : Number(s);
        if (s === '' || s.toLowerCase() === 'nan') {
          if (scorable) note('missingValue', line);
        } else if (!Number.isFinite(v)) {
          if (scorable) note('nonNumeric', line);
          problems.push({ path: `line ${line}`, message: `column "${names[k]}": "${raw}" must be a number (or empty for missing)` });
        }
        values.push(Number.isFinite(v) ? v : NaN);
      }
      if (opts.strict && problems.length >= MAX_PROBLEMS) break;
      let score = 0;
      let kind = 'unscored';
      let drivers = '';
      if (scorable) {
        lastT = t;
        scoredRows++;
        score = det.step(t, values);
        if (det.gapped) note('gap', line);
        if (!det.ready) warmupRows++;
        else if (score >= opts.threshold) alerts++;
        if (opts.explain) {
          const ds = det.ready ? det.drivers() : [];
          kind = !det.ready ? (values.every(Number.isNaN) ? 'gap' : 'warm-up') : ds.length > 1 ? 'multivariate' : (ds[0]?.kind ?? 'none');
          drivers = ds.map((d) => `${d.signal}:${d.score.toFixed(3)}`).join(' ');
        }
      }
      if (opts.strict && problems.length) continue;
      await write(`${fields.join(',')},${score.toFixed(6)}${opts.explain ? `,${kind},${drivers}` : ''}\n`);
    }
    if (!det && problems.length === 0) {
      throw new ShadowplaneError('SHADOWPLANE_ERR_INPUT_FILE', `${opts.input}: the file has no rows`, [{ path: 'line 1', message: 'the file has no rows' }]);
    }
    if (opts.strict && problems.length) {
      throw new ShadowplaneError('SHADOWPLANE_ERR_INPUT_FILE', `${opts.input}: ${problems.length}${problems.length >= MAX_PROBLEMS ? '+' : ''} bad line(s); nothing written (--strict)`, problems.slice(0, MAX_PROBLEMS));
    }
    out.end();
    if (!out.writableFinished) await Promise.race([once(out, 'finish'), once(out, 'close')]);
    if (writeError) throw writeError;
    renameSync(tmp, opts.output);
    return { rows, scoredRows, warmupRows, alerts, columns: names, irregular };
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
    .option('--strict', 'refuse the whole file on any bad row (bad, repeated or out-of-order timestamp, text value, missing column)', false)
    .action(async (o: {
      input: string; output: string; columns?: string[]; threshold: number; warmup?: number; seasonMs?: number; explain: boolean; strict: boolean;
    }) => {
      const univariate: Partial<UnivariateConfig> = {};
      if (o.warmup !== undefined) Object.assign(univariate, { warmup: Math.max(2, o.warmup) });
      if (o.seasonMs !== undefined) Object.assign(univariate, { season: o.seasonMs === 0 ? null : { periodMs: o.seasonMs, buckets: 288, halfLifePeriods: 3 } });
      try {
        const { input, output, columns, threshold, explain, strict } = o;
        const s = await runDetect({ input, output, columns, threshold, explain, strict, univariate });
        for (const text of describeIrregularities(s.irregular)) process.stderr.write(`detect: ${text}\n`);
        process.stderr.write(
          `detect: ${s.rows} rows (${s.scoredRows} scored, ${s.warmupRows} warm-up), ${s.alerts} at or above threshold ${o.threshold}; columns ${s.columns.join(',')}; wrote ${o.output}\n`,
        );
      } catch (err) {
        reportCliError(err);
        process.exitCode = 1;
      }
    });
}
