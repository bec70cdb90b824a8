import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Fleet, HpaReference, runOracle, scoreRun, scoreStart } from '../../src/sim/world.js';
import { demandFromGrid, loadDemand, loadTrace, toMinuteGrid } from '../../src/sim/trace.js';
import { isCoded } from '../../src/core/errors.js';
import { NASA, referee, REFEREE_SKIP } from './referee.js';

test('a replica launched at the end of minute t is ready at t + 1 + delay; scale-down cancels booting first', () => {
  const f = new Fleet(2, 5);
  f.setSpec(0, 4);
  assert.equal(f.spec, 4);
  assert.equal(f.booting, 2);
  f.activate(5);
  assert.equal(f.ready, 2);
  f.activate(6);
  assert.equal(f.ready, 4);
  f.setSpec(6, 6);
  f.setSpec(6, 3);
  assert.equal(f.booting, 0);
  assert.equal(f.ready, 3);
});

test('grid interpolation and demand scaling follow the model', () => {
  assert.deepEqual(toMinuteGrid({ timestamps: [0, 300], values: [0, 5] }), [0, 1, 2, 3, 4, 5]);
  const d = demandFromGrid([-1, 0, 10, 10]);
  assert.equal(d[0], 0);
  assert.equal(d[3], 20);
});

test('scoring counts under-provisioned minutes, actions and cost over the window', () => {
  const m = scoreRun([1, 2, 3], [1, 1, 3], [1, 3, 3], 0);
  assert.equal(m.minutes, 3);
  assert.ok(Math.abs(m.underprov_time_pct - 100 / 3) < 1e-9);
  assert.ok(Math.abs(m.unserved_pct - (100 * 1) / 6) < 1e-9);
  assert.equal(m.actions, 1);
  assert.equal(m.cost, 7);
  assert.equal(scoreStart(2880), 1440);
  assert.equal(scoreStart(2879), 0);
});

test('the oracle is never under-provisioned and boots each replica delay minutes ahead', () => {
  const D = [1, 1, 1, 1, 1, 1, 1, 1, 5, 5, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1];
  const o = runOracle(D, 3);
  for (let t = 0; t < D.length; t++) assert.ok(o.ready[t] >= Math.ceil(D[t]));
  assert.equal(o.billed[5], 5);
  assert.equal(o.ready[5], 1);
  assert.equal(o.billed[10], 1);
});

test('hpa keeps the count within tolerance and scales down only after the 5-minute window', () => {
  const hpa = new HpaReference(0.7);
  assert.equal(hpa.decide(0, 7.3, 10, 10), 10); // r = 1.043
  assert.equal(hpa.decide(1, 14, 10, 10), 20);
  for (let t = 2; t <= 6; t++) assert.equal(hpa.decide(t, 3.5, 20, 20), 20);
  assert.equal(hpa.decide(7, 3.5, 20, 20), 5);
  // rate limit: max(+4, +100%) four times from 1 replica: 5, 10, 20, 40
  assert.equal(new HpaReference(0.7).decide(0, 100, 1, 1), 40);
});

test('bad trace files fail with SHADOWPLANE_ERR_INPUT_FILE naming the line', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sp-trace-'));
  const bad = join(dir, 'bad.csv');
  writeFileSync(bad, 'timestamp,value\n0,1\n60,abc\n120,1\n90,2\n');
  await assert.rejects(loadTrace(bad), (e: unknown) => isCoded(e, 'SHADOWPLANE_ERR_INPUT_FILE') && e.problems.some((p) => p.path === 'line 3') && e.problems.some((p) => p.path === 'line 5'));
  const header = join(dir, 'header.csv');
  writeFileSync(header, 'time,v\n0,1\n');
  await assert.rejects(loadTrace(header), (e: unknown) => isCoded(e, 'SHADOWPLANE_ERR_INPUT_FILE'));
  const zero = join(dir, 'zero.csv');
  writeFileSync(zero, 'timestamp,value\n0,0\n60,0\n');
  await assert.rejects(loadDemand(zero), (e: unknown) => isCoded(e, 'SHADOWPLANE_ERR_INPUT_FILE'));
  await assert.rejects(loadTrace(join(dir, 'missing.csv')), (e: unknown) => isCoded(e, 'SHADOWPLANE_ERR_INPUT_FILE'));
});

test('hpa and the oracle agree exactly with the referee (sim.py) on a real trace', { skip: process.env.SHADOWPLANE_REPLAY_REFEREE ? false : REFEREE_SKIP }, async () => {
  const py = referee()!;
  const path = NASA;
  const D = await loadDemand(path);
  const ref = py.simulate(path, 5);
  const { runPolicy, hpaPolicy } = await import('../../src/sim/replay.js');
  const hpa = runPolicy(D, hpaPolicy(0.7), { delay: 5, target: 0.7 });
  const mine = scoreRun(D, hpa.ready, hpa.billed);
  assert.equal(mine.actions, ref.hpa.actions);
  assert.equal(mine.cost, ref.hpa.cost);
  assert.ok(Math.abs(mine.underprov_time_pct - ref.hpa.underprov_time_pct) < 1e-9);
  const o = runOracle(D, 5);
  const om = scoreRun(D, o.ready, o.billed);
  assert.equal(om.cost, ref.oracle.cost);
  assert.equal(om.actions, ref.oracle.actions);
});
