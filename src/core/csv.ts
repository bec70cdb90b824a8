/**
 * CSV reading for the command-line tools (forecast, detect, import, replay, tier-replay), on
 * csv-parse: RFC 4180 quoting (commas, quotes and newlines inside quoted fields), a UTF-8 byte-order
 * mark, `\r\n` or `\n`, blank lines skipped, rows of any width (the callers name what a row lacks).
 * A quote the file never closes is SHADOWPLANE_ERR_INPUT_FILE naming its line.
 */
import { createReadStream } from 'node:fs';
import { CsvError, parse, type Options } from 'csv-parse';
import { parse as parseSync } from 'csv-parse/sync';
import { ShadowplaneError } from './errors.js';

/** One parsed row: the 1-based line of the file it starts on, and its fields. */
export interface CsvLine {
  readonly line: number;
  readonly fields: string[];
}

const OPTIONS: Options = { bom: true, info: true, record_delimiter: ['\r\n', '\n'], relax_column_count: true, relax_quotes: true, skip_empty_lines: true };

type Parsed = { record: string[]; info: { lines: number } };

/** Turns csv-parse's refusal into our error, naming the file and line. */
function inputError(source: string, err: unknown): unknown {
  if (!(err instanceof CsvError)) return err;
  const line = (err as CsvError & { lines?: number }).lines;
  return new ShadowplaneError('SHADOWPLANE_ERR_INPUT_FILE', `${source}: ${err.message}`, [{ path: line ? `line ${line}` : source, message: err.message }]);
}

/** The row's first line: csv-parse counts lines up to the row's end, so take back those inside its quoted fields. */
function startLine(p: Parsed): number {
  let inside = 0;
  for (const f of p.record) for (let i = f.indexOf('\n'); i >= 0; i = f.indexOf('\n', i + 1)) inside++;
  return p.info.lines - inside;
}

/** Reads a CSV file row by row, streaming. */
export async function* readCsv(path: string): AsyncGenerator<CsvLine> {
  const input = createReadStream(path);
  const parser = input.pipe(parse(OPTIONS));
  input.once('error', (err) => parser.destroy(err)); // a file that cannot be read fails the loop below
  try {
    for await (const p of parser as AsyncIterable<Parsed>) yield { line: startLine(p), fields: p.record };
  } catch (err) {
    throw inputError(path, err);
  }
}

/** Parses CSV text held in memory (`source` names it in errors). */
export function parseCsv(text: string, source: string): CsvLine[] {
  try {
    return (parseSync(text, OPTIONS) as unknown as Parsed[]).map((p) => ({ line: startLine(p), fields: p.record }));
  } catch (err) {
    throw inputError(source, err);
  }
}
