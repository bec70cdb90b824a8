import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { readCsv } from '../../../src/core/csv.js';
import { PACKAGE_ROOT } from '../../../src/core/version.js';
import { isCoded } from '../../../src/core/errors.js';
import { DEFAULT_STREAM_TRACE, runScenario } from '../../../src/shadows/partitions/scenario.js';

test('the default base-load trace is a file shipped inside the repository', async () => {
  const rel = relative(PACKAGE_ROOT, DEFAULT_STREAM_TRACE);
  assert.ok(!rel.startsWith('..'), `${DEFAULT_STREAM_TRACE} lies outside ${PACKAGE_ROOT}`);
  let rows = 0;
  for await (const { fields } of readCsv(DEFAULT_STREAM_TRACE)) if (Number.isFinite(Number(fields[1]))) rows++;
  assert.ok(rows >= 1000, `${rows} rows`);
});

test('a missing or too short trace fails at once with SHADOWPLANE_ERR_INPUT_FILE naming --trace', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sp-scenario-'));
  const short = join(dir, 'short.csv');
  await writeFile(short, 'timestamp,value\n0,1\n60,2\n');
  for (const trace of [join(dir, 'missing.csv'), short]) {
    await assert.rejects(runScenario({ scenario: 'crash', policy: 'shadow', trace }), (e: unknown) => {
      assert.ok(isCoded(e, 'SHADOWPLANE_ERR_INPUT_FILE'), String(e));
      assert.equal(e.problems[0].path, '--trace');
      return true;
    });
  }
});
