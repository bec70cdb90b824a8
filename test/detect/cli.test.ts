import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { runDetect, parseTimestamp } from '../../src/cli/detect.js';
import { isCoded, type ShadowplaneError } from '../../src/core/errors.js';
import { gauss } from './synth.js';

const dir = mkdtempSync(join(tmpdir(), 'sp-detect-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

function csv(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

function series(n: number, spikeAt: number): string {
  const g = gauss(1);
  const lines = ['timestamp,value,host'];
  for (let i = 0; i < n; i++) lines.push(`${1_767_225_600 + 60 * i},${(100 + g() + (i === spikeAt ? 20 : 0)).toFixed(3)},h${i % 3}`);
  return lines.join('\n') + '\n';
}

const base = { threshold: 0.5, explain: false, univariate: {} };

test('writes every row with its extra columns and an anomaly_score in [0, 1]; the spike stands out', async () => {
  const input = csv('in.csv', series(600, 500));
  const output = join(dir, 'out.csv');
  const s = await runDetect({ ...base, input, output });
  const lines = readFileSync(output, 'utf8').trim().split('\n');
  assert.equal(lines[0], 'timestamp,value,host,anomaly_score');
  assert.equal(lines.length, 601);
  const inLines = readFileSync(input, 'utf8').trim().split('\n');
  const scores = lines.slice(1).map((l, i) => {
    const f = l.split(',');
    assert.equal(f.slice(0, 3).join(','), inLines[i + 1], 'row passed through unchanged');
    return Number(f[3]);
  });
  for (const x of scores) assert.ok(x >= 0 && x <= 1);
  assert.ok(scores[500] >= 0.5);
  assert.equal(s.rows, 600);
  assert.equal(s.warmupRows, 30);
  assert.ok(s.alerts >= 1 && s.alerts <= 3, `alerts ${s.alerts}`);
});

test('causal: scoring a prefix gives the same scores for those rows', async () => {
  const full = series(400, 350).split('\n');
  const a = csv('full.csv', full.join('\n'));
  const b = csv('prefix.csv', full.slice(0, 361).join('\n') + '\n');
  await runDetect({ ...base, input: a, output: join(dir, 'fa.csv') });
  await runDetect({ ...base, input: b, output: join(dir, 'fb.csv') });
  const fa = readFileSync(join(dir, 'fa.csv'), 'utf8').trim().split('\n');
  const fb = readFileSync(join(dir, 'fb.csv'), 'utf8').trim().split('\n');
  assert.deepEqual(fb, fa.slice(0, fb.length));
});

test('several columns scored together, by name or index; header-less input; explain columns', async () => {
  const g = gauss(2);
  const rows = ['ts,cpu,mem,zone'];
  for (let i = 0; i < 300; i++) rows.push(`2026-01-01T00:${String(Math.floor(i / 60)).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}Z,${50 + g()},${30 + g() + (i === 250 ? 15 : 0)},eu`);
  const input = csv('multi.csv', rows.join('\n'));
  const output = join(dir, 'multi-out.csv');
  const s = await runDetect({ ...base, explain: true, input, output, columns: ['cpu', '3'] });
  assert.deepEqual(s.columns, ['cpu', 'mem']);
  const out = readFileSync(output, 'utf8').trim().split('\n');
  assert.equal(out[0], 'ts,cpu,mem,zone,anomaly_score,anomaly_kind,anomaly_drivers');
  assert.match(out[251], /,spike,mem:/);

  const bare = csv('bare.csv', '1,5\n2,5\n3,6\n');
  await runDetect({ ...base, input: bare, output: join(dir, 'bare-out.csv'), univariate: { warmup: 2 } });
  assert.equal(readFileSync(join(dir, 'bare-out.csv'), 'utf8').split('\n')[0], '1,5,0.000000');
});

test('--strict: bad rows are named by line, nothing is written', async () => {
  const input = csv('bad.csv', 'timestamp,value\n1,2\n2,abc\nxyz,3\n3,4\n3,5\n4\n');
  const output = join(dir, 'bad-out.csv');
  await assert.rejects(runDetect({ ...base, strict: true, input, output }), (err) => {
    assert.ok(isCoded(err, 'SHADOWPLANE_ERR_INPUT_FILE'));
    const p = (err as ShadowplaneError).problems;
    assert.deepEqual(p.map((x) => x.path), ['line 3', 'line 4', 'line 6', 'line 7']);
    assert.equal(p[0].message, 'column "value": "abc" must be a number (or empty for missing)');
    assert.match(p[1].message, /timestamp "xyz"/);
    assert.match(p[2].message, /later than the previous/);
    assert.match(p[3].message, /missing/);
    return true;
  });
  assert.equal(existsSync(output), false);
  assert.equal(existsSync(`${output}.tmp-${process.pid}`), false);
});

/** A clean minute series of n rows (value, no extra columns) as lines without the header. */
function cleanRows(n: number): string[] {
  const g = gauss(7);
  return Array.from({ length: n }, (_, i) => `${1_767_225_600 + 60 * i},${(100 + g()).toFixed(3)}`);
}

/** Runs detect (not strict) on rows with a header; returns the summary and the output scores. */
async function scoreRows(name: string, rows: string[]): Promise<{ s: Awaited<ReturnType<typeof runDetect>>; out: string[] }> {
  const input = csv(`${name}.csv`, ['timestamp,value', ...rows].join('\n') + '\n');
  const output = join(dir, `${name}-out.csv`);
  const s = await runDetect({ ...base, explain: true, input, output });
  const out = readFileSync(output, 'utf8').trim().split('\n');
  assert.equal(out.length, rows.length + 1, 'one output row per input row');
  out.slice(1).forEach((l, i) => assert.ok(l.startsWith(rows[i] + ','), `row ${i} passed through in order`));
  return { s, out: out.slice(1) };
}

test('a repeated timestamp is counted, its row kept with score 0, and the rest scored', async () => {
  const rows = cleanRows(200);
  rows.splice(100, 0, rows[99].replace(/,.*/, ',100.5'));
  const { s, out } = await scoreRows('repeat', rows);
  assert.deepEqual(s.irregular, { repeatedTimestamp: { count: 1, firstLine: 102 } });
  assert.equal(s.rows, 201);
  assert.equal(s.scoredRows, 200);
  assert.match(out[100], /,0\.000000,unscored,$/);
  assert.match(out[150], /,(none|spike|drop|level-shift|drift),/);
});

test('rows out of order are counted and kept unscored; the series goes on from the latest time', async () => {
  const rows = cleanRows(200);
  [rows[120], rows[121]] = [rows[121], rows[120]];
  const { s, out } = await scoreRows('order', rows);
  assert.deepEqual(s.irregular, { outOfOrder: { count: 1, firstLine: 123 } });
  assert.equal(s.scoredRows, 199);
  assert.match(out[121], /,unscored,/);
});

test('a gap in time is counted and scored', async () => {
  const rows = cleanRows(200).map((r, i) => (i >= 150 ? r.replace(/^\d+/, (t) => String(Number(t) + 86_400)) : r));
  const { s, out } = await scoreRows('gap', rows);
  assert.deepEqual(s.irregular, { gap: { count: 1, firstLine: 152 } });
  assert.equal(s.scoredRows, 200);
  assert.doesNotMatch(out[150], /unscored/);
});

test('empty and NaN values are missing samples: counted, score 0, the next rows scored', async () => {
  const rows = cleanRows(200);
  rows[80] = rows[80].replace(/,.*/, ',');
  rows[90] = rows[90].replace(/,.*/, ',NaN');
  const { s, out } = await scoreRows('missing', rows);
  assert.deepEqual(s.irregular, { missingValue: { count: 2, firstLine: 82 } });
  assert.equal(s.scoredRows, 200);
  assert.match(out[80], /,0\.000000,gap,$/);
  assert.match(out[91], /,(none|spike|drop),/);
});

test('a stray non-numeric row (a repeated header, text) is scored as missing and counted', async () => {
  const rows = cleanRows(200);
  rows.splice(60, 0, 'timestamp,value');
  rows[100] = rows[100].replace(/,.*/, ',n/a');
  const { s, out } = await scoreRows('text', rows);
  assert.deepEqual(s.irregular, { badTimestamp: { count: 1, firstLine: 62 }, nonNumeric: { count: 1, firstLine: 102 } });
  assert.equal(s.scoredRows, 200);
  assert.match(out[60], /^timestamp,value,0\.000000,unscored,$/);
  assert.match(out[100], /,0\.000000,gap,$/);
});

test('a row without the value column is scored as missing and counted', async () => {
  const rows = cleanRows(100);
  rows[70] = rows[70].replace(/,.*/, '');
  const { s } = await scoreRows('short', rows);
  assert.deepEqual(s.irregular, { missingColumn: { count: 1, firstLine: 72 } });
  assert.equal(s.scoredRows, 100);
});

test('an output that cannot be written is an error before anything is read', async () => {
  const input = csv('ok-out.csv', 'timestamp,value\n1,2\n');
  await assert.rejects(runDetect({ ...base, input, output: join(dir, 'no-such-dir', 'x.csv') }), (err) => {
    assert.ok(isCoded(err, 'SHADOWPLANE_ERR_OUTPUT_FILE'));
    assert.match((err as Error).message, /cannot write .*no-such-dir does not exist/);
    assert.equal((err as ShadowplaneError).problems[0].path, '--output');
    return true;
  });
});

test('the detect command: irregularities on stderr; missing or unwritable --output and --strict refusals exit non-zero', () => {
  const root = fileURLToPath(new URL('../../', import.meta.url)).replace(/\/dist\/$/, '/');
  const cli = join(root, 'dist/src/cli/main.js');
  const input = csv('proc.csv', ['timestamp,value', ...cleanRows(60), cleanRows(60)[59]].join('\n') + '\n');
  const run = (...args: string[]) => spawnSync(process.execPath, [cli, 'detect', '--input', input, ...args], { encoding: 'utf8' });
  const ok = run('--output', join(dir, 'proc-out.csv'));
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stderr, /detect: 1 x repeated timestamp \(row not scored\), first at line 62/);
  assert.match(ok.stderr, /detect: 61 rows \(60 scored/);
  const strict = run('--output', join(dir, 'proc-strict.csv'), '--strict');
  assert.equal(strict.status, 1);
  assert.match(strict.stderr, /SHADOWPLANE_ERR_INPUT_FILE.*--strict/);
  const unwritable = run('--output', join(dir, 'missing-dir', 'out.csv'));
  assert.equal(unwritable.status, 1);
  assert.match(unwritable.stderr, /SHADOWPLANE_ERR_OUTPUT_FILE: cannot write/);
  const missing = run();
  assert.notEqual(missing.status, 0);
  assert.match(missing.stderr, /--output/);
});

test('unknown columns, one-column files and empty files are errors', async () => {
  const input = csv('ok.csv', 'timestamp,value\n1,2\n');
  await assert.rejects(runDetect({ ...base, input, output: join(dir, 'x.csv'), columns: ['nope'] }), /neither a header name/);
  await assert.rejects(runDetect({ ...base, input: csv('one.csv', '1\n2\n'), output: join(dir, 'y.csv') }), /at least two columns/);
  await assert.rejects(runDetect({ ...base, input: csv('empty.csv', ''), output: join(dir, 'z.csv') }), /no rows/);
});

test('timestamps: epoch seconds, epoch ms, ISO-8601', () => {
  assert.equal(parseTimestamp('1767225600'), 1_767_225_600_000);
  assert.equal(parseTimestamp('1767225600000'), 1_767_225_600_000);
  assert.equal(parseTimestamp('2026-01-01T00:00:00Z'), 1_767_225_600_000);
  assert.ok(Number.isNaN(parseTimestamp('yesterday')));
});

test('an output that cannot be written fails before any work, naming --output; nothing is written', async () => {
  const input = csv('w.csv', series(50, 10));
  for (const output of [join(dir, 'no-such-dir', 'out.csv'), dir]) {
    await assert.rejects(runDetect({ ...base, input, output }), (err) => {
      assert.ok(isCoded(err, 'SHADOWPLANE_ERR_OUTPUT_FILE'), String(err));
      assert.equal((err as ShadowplaneError).problems[0].path, '--output');
      return true;
    });
  }
  assert.equal(existsSync(join(dir, 'no-such-dir')), false);
});
