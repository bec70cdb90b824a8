import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { decisionsCsv, hpaPolicy, replay, runPolicy, shadowplanePolicy } from '../../src/sim/replay.js';
import { demandFromGrid, loadTrace, toMinuteGrid } from '../../src/sim/trace.js';
import { register } from '../../src/cli/replay.js';
import { NASA, referee, REFEREE_SKIP } from './referee.js';

/** Reorders (reverses) the trace's values after minute k: the set of values, hence the scaling, is unchanged. */
function reorderedAfter(values: readonly number[], k: number): number[] {
  return [...values.slice(0, k + 1), ...values.slice(k + 1).reverse()];
}

test('decisions are causal: reordering the trace after minute k changes no decision up to k', async () => {
  const raw = await loadTrace(NASA);
  const grid = toMinuteGrid(raw).slice(0, 4000);
  const k = 2500;
  const a = demandFromGrid(grid);
  const b = demandFromGrid(reorderedAfter(grid, k));
  assert.deepEqual([...a].sort(), [...b].sort());
  for (const make of [() => shadowplanePolicy({ delay: 5 }), () => hpaPolicy(0.7)]) {
    const da = runPolicy(a, make(), { delay: 5, target: 0.7 }).desired;
    const db = runPolicy(b, make(), { delay: 5, target: 0.7 }).desired;
    assert.deepEqual(da.slice(0, k + 1), db.slice(0, k + 1));
    assert.notDeepEqual(da.slice(k + 1), db.slice(k + 1)); // the check can fail: later decisions do see the change
  }
});

test('the referee scores our decisions file exactly as our metrics do', { skip: process.env.SHADOWPLANE_REPLAY_REFEREE ? false : REFEREE_SKIP }, async () => {
  const py = referee()!;
  const dir = mkdtempSync(join(tmpdir(), 'sp-replay-'));
  const out = join(dir, 'decisions.csv');
  const program = new Command('shadowplane').exitOverride();
  register(program);
  const lines: string[] = [];
  const write = process.stdout.write;
  // only our JSON line is kept; the test runner's own output passes through
  process.stdout.write = ((s: string | Uint8Array, ...rest: unknown[]) =>
    typeof s === 'string' && s.startsWith('{"policy"') ? lines.push(s) > 0 : (write as (...a: unknown[]) => boolean).call(process.stdout, s, ...rest)) as typeof process.stdout.write;
  try {
    await program.parseAsync(['replay', '--trace', NASA, '--out', out, '--cold-start', '3', '--json'], { from: 'user' });
  } finally {
    process.stdout.write = write;
  }
  const mine = JSON.parse(lines.join(''));
  assert.equal(readFileSync(out, 'utf8').split('\n')[0], 'minute,demand,desired');
  const ref = py.scoreDecisions(NASA, out, 3);
  assert.equal(ref.project.actions, mine.actions);
  assert.equal(ref.project.cost, mine.cost);
  assert.ok(Math.abs(ref.project.underprov_time_pct - mine.underprov_time_pct) < 1e-9);
  assert.ok(Math.abs(ref.project.unserved_pct - mine.unserved_pct) < 1e-9);
  assert.ok(Math.abs(ref.project.cost_x_oracle - mine.cost_x_oracle) < 1e-12);
});

test('the oracle decisions file replays to the oracle cost and is never under-provisioned', async () => {
  const raw = await loadTrace(NASA);
  const D = demandFromGrid(toMinuteGrid(raw).slice(0, 3000));
  const r = replay(D, 'oracle', { delay: 5, target: 0.7 });
  assert.equal(r.metrics.underprov_time_pct, 0);
  assert.equal(r.metrics.cost_x_oracle, 1);
  const csv = decisionsCsv(D, r.run.desired).trim().split('\n');
  assert.equal(csv.length, D.length + 1);
});

test('the replay command rejects bad options and bad traces with a clear error', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sp-replay-'));
  const program = () => {
    const p = new Command('shadowplane').exitOverride().configureOutput({ writeErr: () => {} });
    register(p);
    return p;
  };
  await assert.rejects(program().parseAsync(['replay', '--trace', NASA, '--out', join(dir, 'x.csv'), '--policy', 'magic'], { from: 'user' }), /must be one of/);
  await assert.rejects(program().parseAsync(['replay', '--trace', NASA, '--out', join(dir, 'x.csv'), '--target', '1.5'], { from: 'user' }), /\(0, 1\]/);
  await assert.rejects(program().parseAsync(['replay', '--trace', NASA, '--out', join(dir, 'none', 'x.csv')], { from: 'user' }), /SHADOWPLANE_ERR_OUTPUT_FILE|directory .* does not exist/);
  const bad = join(dir, 'bad.csv');
  writeFileSync(bad, 'timestamp,value\n0,1\nx,2\n');
  await assert.rejects(program().parseAsync(['replay', '--trace', bad, '--out', join(dir, 'x.csv')], { from: 'user' }), /bad lines/);
});
