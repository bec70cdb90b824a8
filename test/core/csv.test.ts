/** CSV reading as real exports come: a byte-order mark, mixed line ends, quoted commas, quotes and newlines, blank lines. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseCsv, readCsv, type CsvLine } from '../../src/core/csv.js';
import { ShadowplaneError } from '../../src/core/errors.js';

const TEXT = '\ufeffseries_id,t,value\r\n"a,1",1,2\n\n"b\nsecond line",2,"3"\r\n"say ""hi""",3,4';
const EXPECTED: CsvLine[] = [
  { line: 1, fields: ['series_id', 't', 'value'] },
  { line: 2, fields: ['a,1', '1', '2'] },
  { line: 4, fields: ['b\nsecond line', '2', '3'] },
  { line: 6, fields: ['say "hi"', '3', '4'] },
];

test('rows keep the line they start on; quoting, BOM and line ends are CSV, not split on commas', async () => {
  assert.deepEqual(parseCsv(TEXT, 'text'), EXPECTED);
  const dir = mkdtempSync(join(tmpdir(), 'sp-csv-'));
  try {
    writeFileSync(join(dir, 'x.csv'), TEXT);
    const rows: CsvLine[] = [];
    for await (const row of readCsv(join(dir, 'x.csv'))) rows.push(row);
    assert.deepEqual(rows, EXPECTED, 'streaming reads the same rows');
    await assert.rejects(async () => {
      for await (const _ of readCsv(join(dir, 'missing.csv'))) void _;
    }, /ENOENT/, 'a file that cannot be read fails the read');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a quote the file never closes is an input error naming the file and a line', () => {
  assert.throws(() => parseCsv('a,b\n1,"2\n3,4\n', 'export.csv'), (err: unknown) => {
    assert.ok(err instanceof ShadowplaneError);
    assert.equal(err.code, 'SHADOWPLANE_ERR_INPUT_FILE');
    assert.match(err.message, /^export\.csv: .*quote/i);
    assert.match(err.problems![0].path, /^line \d+$/);
    return true;
  });
});
