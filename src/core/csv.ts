/**
 * Line-oriented CSV reading for the command-line tools (forecast, detect, replay, tier-replay).
 * Plain comma-separated fields with an optional header; quoted fields with commas inside are
 * supported, embedded newlines are not (monitoring exports do not use them).
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';

/** One parsed line: its 1-based line number in the file and its fields. */
export interface CsvLine {
  readonly line: number;
  readonly fields: string[];
}

/** Splits one CSV line into fields, honouring double quotes ("" is a literal quote). */
export function splitCsvLine(text: string): string[] {
  if (!text.includes('"')) return text.split(',');
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') {
        quoted = false;
      } else {
        field += ch;
      }
    } else if (ch === '"') {
      quoted = true;
    } else if (ch === ',') {
      fields.push(field);
      field = '';
    } else {
      field += ch;
    }
  }
  fields.push(field);
  return fields;
}

/** Reads a CSV file line by line (blank lines skipped, `\r\n` accepted). */
export async function* readCsv(path: string): AsyncGenerator<CsvLine> {
  const input = createReadStream(path, { encoding: 'utf8' });
  const lines = createInterface({ input, crlfDelay: Infinity });
  let line = 0;
  for await (const raw of lines) {
    line++;
    const text = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (text.trim() === '') continue;
    yield { line, fields: splitCsvLine(text) };
  }
}
