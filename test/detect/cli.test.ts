import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runDetect, parseTimestamp } from '../../src/cli/detect.js';
import { isCoded, ShadowplaneError } from '../../src/core/errors.js';
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

test('bad rows are named by line, nothing is written', async () => {
  const input = csv('bad.csv', 'timestamp,value\n1,2\n2,abc\nxyz,3\n3,4\n3,5\n4\n');
  const output = join(dir, 'bad-out.csv');
  await assert.rejects(runDetect({ ...base, input, output }), (err) => {
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
