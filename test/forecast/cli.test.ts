import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { forecastCsv, readLongCsv } from '../../src/cli/forecast.js';
import { isCoded, type ShadowplaneError } from '../../src/core/errors.js';
import { cli } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'sp-forecast-'));
const file = (name: string, text: string): string => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

function seasonalCsv(): string {
  let text = 'series_id,t,value\n';
  for (let t = 0; t < 24 * 12; t++) text += `a,${t},${100 + 20 * Math.sin((2 * Math.PI * t) / 24)}\n`;
  // Series b skips t = 50..54 (a gap on its regular step of 1) and has an empty value at t = 60.
  for (let t = 0; t < 24 * 12; t++) if (t < 50 || t > 54) text += `b,${t},${t === 60 ? '' : 5 + (t % 24)}\n`;
  for (let t = 0; t < 24 * 10; t++) text += `c,${new Date(Date.UTC(2024, 0, 1, t)).toISOString()},${t % 24 < 12 ? 1 : 3}\n`;
  return text;
}

test('forecasts every series into the documented layout', async () => {
  const out = join(dir, 'out.csv');
  const result = await forecastCsv({ input: file('in.csv', seasonalCsv()), output: out, horizon: 24, seasons: [24], workers: 2 });
  assert.equal(result.written, 3);
  assert.deepEqual(result.skipped, []);
  const lines = readFileSync(out, 'utf8').trim().split('\n');
  assert.equal(lines[0], 'series_id,step,mean,lo80,hi80,lo95,hi95');
  assert.equal(lines.length, 1 + 3 * 24);
  for (const line of lines.slice(1)) {
    const [id, step, mean, lo80, hi80, lo95, hi95] = line.split(',');
    assert.ok(['a', 'b', 'c'].includes(id));
    assert.ok(Number(step) >= 1 && Number(step) <= 24);
    const [m, l8, h8, l9, h9] = [mean, lo80, hi80, lo95, hi95].map(Number);
    assert.ok(l9 <= l8 && l8 <= m && m <= h8 && h8 <= h9, line);
  }
  const a1 = lines.find((l) => l.startsWith('a,1,'))!.split(',');
  assert.ok(Math.abs(Number(a1[2]) - (100 + 20 * Math.sin((2 * Math.PI * 288) / 24))) < 1);
});

test('gaps in t become missing points; ISO timestamps are accepted', async () => {
  const series = await readLongCsv(file('gaps.csv', seasonalCsv()));
  const b = series.find((s) => s.id === 'b')!;
  assert.equal(b.values.length, 24 * 12);
  assert.ok(Number.isNaN(b.values[52]) && Number.isNaN(b.values[60]));
  assert.equal(series.find((s) => s.id === 'c')!.values.length, 240);
});

test('bad rows are reported by line with the rule they break', async () => {
  const text = 'series_id,t,value\na,0,1\na,1,abc\na,2\nb,5,1\nb,4,2\n,6,1\nc,x,1\n';
  await assert.rejects(readLongCsv(file('bad.csv', text)), (err: unknown) => {
    assert.ok(isCoded(err, 'SHADOWPLANE_ERR_INPUT_FILE'));
    const problems = (err as ShadowplaneError).problems.map((p) => `${p.path}: ${p.message}`);
    assert.match(problems[0], /^line 3: value "abc" is not a number/);
    assert.match(problems[1], /^line 4: expected 3 fields/);
    assert.match(problems[2], /^line 6: t 4 of series b does not come after line 5/);
    assert.match(problems[3], /^line 7: series_id is empty/);
    assert.match(problems[4], /^line 8: t "x" is neither a number nor an ISO timestamp/);
    return true;
  });
  await assert.rejects(readLongCsv(file('hdr.csv', 'id,time,val\na,0,1\n')), (err: unknown) => isCoded(err, 'SHADOWPLANE_ERR_INPUT_FILE'));
  await assert.rejects(readLongCsv(file('off.csv', 'a,0,1\na,2,1\na,3,1\na,4.5,1\n')), (err: unknown) => isCoded(err, 'SHADOWPLANE_ERR_INPUT_FILE'));
  await assert.rejects(readLongCsv(join(dir, 'missing.csv')), (err: unknown) => isCoded(err, 'SHADOWPLANE_ERR_INPUT_FILE'));
});

test('a series too short to forecast is reported by id and the others are written', async () => {
  const out = join(dir, 'short-out.csv');
  const text = seasonalCsv() + 'tiny,0,1\ntiny,1,\ntiny,2,3\n';
  const result = await forecastCsv({ input: file('short.csv', text), output: out, horizon: 6, workers: 1 });
  assert.equal(result.written, 3);
  assert.equal(result.skipped.length, 1);
  assert.equal(result.skipped[0].id, 'tiny');
  assert.match(result.skipped[0].reason, /only 2 finite value/);
  assert.ok(!readFileSync(out, 'utf8').includes('tiny'));
});

test('the shadowplane forecast command runs end to end and fails clearly on bad input', () => {
  const out = join(dir, 'cli-out.csv');
  const ok = spawnSync(process.execPath, [...cli('forecast'), '--input', file('cli.csv', seasonalCsv()), '--horizon', '12', '--season', '24', '--level', '50,90', '--output', out], { encoding: 'utf8' });
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stderr, /forecast: 3\/3 series/);
  assert.equal(readFileSync(out, 'utf8').split('\n')[0], 'series_id,step,mean,lo50,hi50,lo90,hi90');
  const bad = spawnSync(process.execPath, [...cli('forecast'), '--input', file('cli-bad.csv', 'a,0,1\na,1,zz\n'), '--horizon', '3', '--output', out], { encoding: 'utf8' });
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /SHADOWPLANE_ERR_INPUT_FILE/);
  assert.match(bad.stderr, /line 2: value "zz" is not a number/);
  const badOpt = spawnSync(process.execPath, [...cli('forecast'), '--input', 'x', '--horizon', '0', '--output', out], { encoding: 'utf8' });
  assert.notEqual(badOpt.status, 0);
  assert.match(badOpt.stderr, /horizon/);
});

test('a row with more fields than the header is a bad line, never silently cut', async () => {
  await assert.rejects(readLongCsv(file('four.csv', 'series_id,t,value\na,0,1\na,1,2,5\n')), (err: unknown) => {
    assert.ok(isCoded(err, 'SHADOWPLANE_ERR_INPUT_FILE'));
    assert.deepEqual(err.problems.map((p) => `${p.path}: ${p.message}`), ['line 3: expected 3 fields (series_id,t,value), found 4']);
    return true;
  });
  await assert.rejects(readLongCsv(file('four-bare.csv', 'a,0,1\na,1,2,5\n')), /bad line/);
  // a header may carry more columns; rows then have that many
  const wide = await readLongCsv(file('wide.csv', 'series_id,t,value,host\na,0,1,x\na,1,2,y\n'));
  assert.deepEqual(wide[0].values, [1, 2]);
});

test('forecast: an output that cannot be written fails before any work with one clear error and exit 1', async () => {
  await assert.rejects(forecastCsv({ input: file('w.csv', seasonalCsv()), output: join(dir, 'missing-dir', 'out.csv'), horizon: 3, workers: 1 }), (err: unknown) => {
    assert.ok(isCoded(err, 'SHADOWPLANE_ERR_OUTPUT_FILE'), String(err));
    assert.match(err.message, /missing-dir/);
    return true;
  });
  const run = spawnSync(process.execPath, [...cli('forecast'), '--input', file('w2.csv', seasonalCsv()), '--horizon', '3', '--output', dir], { encoding: 'utf8' });
  assert.equal(run.status, 1);
  assert.match(run.stderr, /^error SHADOWPLANE_ERR_OUTPUT_FILE: cannot write .*: it is a directory\n {2}--output: /);
  assert.doesNotMatch(run.stderr, /forecast: \d+\/\d+ series|at .*\.js:\d+/);
});
